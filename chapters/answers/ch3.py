"""Answers to chapter 3's exercises (the algorithm). Check: pytest tests/test_exercises.py -k ch3."""

from __future__ import annotations

import numpy as np

import tf_gae
from tf_gae import mdp as tabular

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


def exercise_1(batch: tabular.Trajectories, num_states: int, gamma: float) -> np.ndarray:
    """Derive: with λ = 1 the targets R_t = G_t do not depend on V, so step 2's fixed point
    Σ_{t: s_t = s} (G_t − V(s)) = 0 gives V(s) = the mean of G_t over the batch's visits to s, `[S]`
    (0 for states never visited)."""
    returns = tf_gae.discounted_returns(batch.rewards, batch.terminated, batch.truncated, gamma=gamma).numpy()
    visits = np.bincount(batch.states[batch.valid], minlength=num_states)
    totals = np.bincount(batch.states[batch.valid], returns[batch.valid], minlength=num_states)
    return np.where(visits > 0, totals / np.maximum(visits, 1), 0.0)


def exercise_2(states: np.ndarray) -> np.ndarray:
    """Compute: with λ = 1 and V fitted first on a batch of one episode (its steps' states `[T]`), which
    advantages are exactly 0? Those of states visited once: there V(s) = G_t, so Â_t = G_t − V(s_t) = 0.
    Returns a bool mask `[T]`."""
    counts = np.bincount(states)
    return counts[states] == 1


def exercise_3() -> tuple[float, float]:
    """Modify and predict: with batches of five episodes, the share of the true gradient kept when V is
    fitted first, at λ = 0 and at λ = 1 (ordering_experiment, seed 0, 4,000 batches). Prediction: λ = 0
    loses less — its targets r + γV(s') are less specific to the batch's own returns than Monte-Carlo
    returns, so fitting them memorises less. Checked: 0.88 and 0.82."""
    return 0.88, 0.82
