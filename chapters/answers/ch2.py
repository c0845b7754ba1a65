"""Answers to chapter 2's exercises (core concepts). Check: pytest tests/test_exercises.py -k ch2."""

from __future__ import annotations

import numpy as np

from tf_gae import mdp as tabular

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


def exercise_1(offset: float, lambda_: float, steps_left: int) -> float:
    """Derive: with γ = 1 and V̂ = V^π + c on every non-terminal state, Â_t(V̂) − Â_t(V^π) at a step that
    has `steps_left` steps to its episode's end (t included, the episode terminates).

    Inside the episode δ̂_k = r_k + V(s_{k+1}) + c − V(s_k) − c = δ_k; at the terminal step there is no
    next value, so δ̂ = δ − c. Â_t = Σ_l λ^l δ̂_{t+l} keeps only that last difference:
        Â_t(V̂) − Â_t(V^π) = −c λ^{steps_left − 1}.
    It depends on t alone (the time step is part of the state here), so it cancels in Σ_a π ∇log π.
    """
    return -offset * lambda_ ** (steps_left - 1)


def exercise_2(lambda_: float = 0.5, seed: int = 0) -> float:
    """Compute, without listing episodes: ‖E[ĝ] − ∇J‖ on chapter 2's problem with V̂ = V^π + 1 + 0.5 z(s).

    E[Â_t | s, a] by tf_gae.mdp.expected_gae (a linear solve), then the gradient it implies with
    state_visits and gradient_from_advantages, against ∇J = policy_gradient.
    """
    mdp = tabular.time_indexed_mdp(num_states=3, num_actions=2, horizon=6, gamma=1.0, seed=seed)
    policy = tabular.random_policy(mdp, seed=seed + 1)
    live = (~mdp.terminal).astype(float)
    z = np.random.default_rng(seed + 20).normal(size=mdp.num_states)
    values = tabular.policy_evaluation(mdp, policy) + live * (1.0 + 0.5 * z)
    expected = tabular.expected_gae(mdp, policy, values, 1.0, lambda_)
    mean = tabular.gradient_from_advantages(tabular.state_visits(mdp, policy), policy, expected)
    return float(np.linalg.norm(mean - tabular.policy_gradient(mdp, policy)))


def exercise_3() -> float:
    """Modify and predict: the best λ on the grid 0, 0.1, …, 1 for the mean of N = 10,000 episodes, with
    V̂ = V^π + 1 + 0.5 z(s). Prediction: the variance term tr Cov / N shrinks 10× from N = 1,000 (best
    0.7) while the bias stays, so the best λ moves further toward 1 — but not to 1, where the variance
    is largest. Checked: 0.9."""
    return 0.9
