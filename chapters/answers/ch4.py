"""Answers to chapter 4's exercises (the maths). Check: pytest tests/test_exercises.py -k ch4."""

from __future__ import annotations

__all__ = ["exercise_1", "exercise_2", "exercise_2_smallest_lambda", "exercise_3"]


def exercise_1(lambda_: float, steps_left: int) -> float:
    """Derive: on a segment that leaves N = `steps_left` steps, the weight of Â^(N) in eq. 16's average.

    Â^(k) = Â^(N) for every k ≥ N, so its weight is Σ_{k≥N} (1 − λ) λ^{k−1} = λ^{N−1}; with the
    weights of k < N that makes (1 − λ)(1 + λ + … + λ^{N−2}) + λ^{N−1} = (1 − λ^{N−1}) + λ^{N−1} = 1.
    """
    return lambda_ ** (steps_left - 1)


def exercise_2(lambda_: float, delay: int) -> float:
    """Compute: on delayed_reward_mdp(delay), the share of A^π(0, 0) that GAE(γ, λ) keeps with raw rewards
    (V = 0): χ is one spike at l = delay, so Σ_l (γλ)^l χ / Σ_l γ^l χ = λ^delay."""
    return lambda_**delay


def exercise_2_smallest_lambda(share: float, delay: int) -> float:
    """The smallest λ that keeps `share` of that advantage: λ^delay = share, λ = share^(1/delay)
    (0.9 of a reward 20 steps away: λ ≥ 0.9947)."""
    return share ** (1.0 / delay)


def exercise_3() -> float:
    """Modify and predict: shape delayed_reward_mdp's rewards with Φ = 2 V^π instead of V^π. The shaped
    rewards are the raw ones plus 2(γV(s') − V(s)): the credit at lag 0 doubles and a negative copy of the
    raw spike appears at lag 20, so χ̃(l ≥ 1) is not 0 and GAE(γ, 0.95), which shrinks the lag-20 term by
    0.95^20, over-credits the action: the share is 2 − 0.95^20 = 1.64 of A^π(0, 0)."""
    return 2.0 - 0.95**20
