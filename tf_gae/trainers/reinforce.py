"""REINFORCE with a learned baseline (Williams 1992; Sutton & Barto §13.4). Introduced in chapter 3.

The advantage is the Monte-Carlo return minus the baseline, Â_t = G_t − V(s_t): GAE with λ = 1, which
telescopes to exactly that (chapter 4). Each batch is 8 environments × 128 steps; an episode still
running when the batch ends is bootstrapped from V(s_T) as if cut by a time limit, so no step is thrown
away (longer rollouts give purer Monte-Carlo returns and fewer updates per step; 128 learned fastest of
the settings we tried on CartPole-v1). Set `--lam` below 1 to use GAE instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from tf_gae.trainers.base import Trainer, TrainerConfig, _help

__all__ = ["ReinforceConfig", "ReinforceTrainer"]


@dataclass(frozen=True)
class ReinforceConfig(TrainerConfig):
    """REINFORCE-with-baseline: λ = 1 by default, long rollouts, Adam, normalised advantages."""

    num_envs: int = _help("environments stepped in parallel (B)", default=8)
    n_steps: int = _help("steps per environment in one rollout (T); one update per rollout", default=128)
    lam: float = _help("GAE λ; 1 (default) gives the Monte-Carlo return minus the baseline", default=1.0)
    learning_rate: float = _help("optimizer step size", default=1e-2)
    optimizer: str = _help("'rmsprop' (as A2C's paper and SB3) or 'adam'", default="adam")
    normalize_advantages: bool = _help("standardise advantages over each batch before the policy loss", default=True)
    max_grad_norm: float = _help("clip the global gradient norm to this (0 = no clipping)", default=1.0)


class ReinforceTrainer(Trainer):
    config_class = ReinforceConfig
    algo = "reinforce"
