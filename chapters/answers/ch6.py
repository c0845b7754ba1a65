"""Answers to chapter 6's exercises (language models). Check: pytest tests/test_exercises.py -k ch6."""

from __future__ import annotations

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


def exercise_1(lambda_: float = 0.95, length: int = 40) -> float:
    """Compute: γ = 1, a score of 1 on the last of `length` response tokens and a critic that says 0 for
    every token. Â at the first token: δ is 1 at the last token and 0 elsewhere, so Â_0 = λ^{length−1}
    (0.95^39 = 0.135: λ < 1 hides most of a final score from the first tokens unless V carries it)."""
    return lambda_ ** (length - 1)


def exercise_2(rewards: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Derive: token-level GAE with γ = λ = 1 over one response (rewards and values `[T]`): the δ's
    telescope, V_T = 0 after the last token, so Â_t = Σ_{k≥t} r_k − V_t."""
    return np.cumsum(rewards[::-1])[::-1] - values


def exercise_3(scores: np.ndarray) -> np.ndarray:
    """Compute: GRPO's advantage (chapter 6's critic-free run) for the first token of each of a prompt's samples
    with sequence scores `scores` [n] and the KL in the loss (so every token's return is the score):
    Â = (score − mean(scores)) / (s + ε), s the sample standard deviation (n − 1, as verl's and TRL's torch.std),
    ε = 1e-6. For [1, 0, 0, 1]: s = √(1/3) = 0.577, so Â = ±0.866; without the division (the group-mean
    baseline alone) ±0.5, and a group whose scores are all equal gets 0 either way."""
    scores = np.asarray(scores, np.float64)
    return (scores - scores.mean()) / (scores.std(ddof=1) + 1e-6)
