"""Answers to chapter 5's exercises (a TensorFlow project). Check: pytest tests/test_exercises.py -k ch5."""

from __future__ import annotations

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


def exercise_1() -> tuple[float, float]:
    """Compute: inside an 8-step A2C rollout, the weight GAE puts on δ_{t+7} in Â_t at γ = 0.99 with
    λ = 0.95 and with λ = 1: (γλ)^7 and γ^7, 0.65 against 0.93. With 8-step rollouts λ can barely
    matter, because no advantage reaches further than 8 steps anyway."""
    return (0.99 * 0.95) ** 7, 0.99**7


def exercise_2(rewards: np.ndarray, first_value: float, bootstrap: float, gamma: float) -> float:
    """Derive: GAE(γ, λ = 1) at the first step of an n-step rollout cut by the rollout's end (no episode
    end inside): the δ's telescope to the n-step return minus V,
        Â_0 = Σ_{k<n} γ^k r_k + γ^n V(s_n) − V(s_0),
    not the Monte-Carlo return: λ = 1 means 'as far as the rollout reaches'."""
    n = len(rewards)
    return float(np.sum(gamma ** np.arange(n) * rewards) + gamma**n * bootstrap - first_value)


def exercise_3() -> tuple[int, int]:
    """Compute: A2C with its defaults (8 envs × 8 steps) and total_steps = 100,000 — how many updates
    does it make, and how many env steps does it really take? Whole rollouts only: ⌊100,000 / 64⌋ = 1,562
    updates, 1,562 × 64 = 99,968 steps."""
    return 1562, 99_968
