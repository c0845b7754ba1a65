"""Slow, obviously-right float64 references written from the GAE paper's equations.

Nothing here calls tf_gae: these are the independent ground truth the tests compare against.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reference_gae", "reference_discounted_returns"]


def _episode_end(terminated: np.ndarray, truncated: np.ndarray, t: int) -> int:
    """The last step of the episode that contains step t: the first k ≥ t that is cut, or T − 1."""
    num_steps = len(terminated)
    k = t
    while k < num_steps - 1 and not (terminated[k] or truncated[k]):
        k += 1
    return k


def reference_gae(rewards, values, next_values, terminated, truncated=None, *, gamma, lambda_):
    """Â_t = Σ_{l=0}^{L} (γλ)^l δ_{t+l}, an explicit sum over l (paper eq. 16), L = steps to episode end.

    δ_k = r_k + γ (1 − terminated_k) V(s_{k+1}) − V(s_k) (paper eq. 10). Arrays are time-major `[T]` or
    `[T, B]`; each column is one environment. Returns (advantages, returns) in float64.
    """
    rewards = np.asarray(rewards, np.float64)
    squeeze = rewards.ndim == 1
    columns = lambda x: np.asarray(x).reshape(len(rewards), -1)  # noqa: E731
    rewards, values, next_values = columns(rewards), columns(values).astype(np.float64), columns(next_values)
    terminated = columns(terminated).astype(bool)
    truncated = np.zeros_like(terminated) if truncated is None else columns(truncated).astype(bool)
    num_steps, num_envs = rewards.shape
    advantages = np.zeros((num_steps, num_envs))
    for b in range(num_envs):
        for t in range(num_steps):
            end = _episode_end(terminated[:, b], truncated[:, b], t)
            total = 0.0
            for l in range(end - t + 1):
                k = t + l
                bootstrap = 0.0 if terminated[k, b] else gamma * float(next_values[k, b])
                delta = rewards[k, b] + bootstrap - values[k, b]
                total += (gamma * lambda_) ** l * delta
            advantages[t, b] = total
    returns = advantages + values
    if squeeze:
        return advantages[:, 0], returns[:, 0]
    return advantages, returns


def reference_discounted_returns(rewards, terminated, truncated, bootstrap_values, *, gamma):
    """G_t = Σ_{l=0}^{L} γ^l r_{t+l} + γ^{L+1} bootstrap_{t+L} (the bootstrap only if the end is not terminal)."""
    rewards = np.asarray(rewards, np.float64)
    num_steps = len(rewards)
    returns = np.zeros_like(rewards)
    for t in range(num_steps):
        end = _episode_end(terminated, truncated, t)
        total = sum(gamma**l * rewards[t + l] for l in range(end - t + 1))
        if not terminated[end]:
            total += gamma ** (end - t + 1) * bootstrap_values[end]
        returns[t] = total
    return returns
