"""REINFORCE with a learned baseline (Williams 1992; Sutton & Barto §13.4). Introduced in chapter 3.

The advantage is the Monte-Carlo return minus the baseline, Â_t = G_t − V(s_t): GAE with λ = 1, which
telescopes to exactly that (chapter 4). Each batch is 8 environments × 128 steps; an episode still
running when the batch ends is bootstrapped from V(s_T) as if cut by a time limit, so no step is thrown
away (longer rollouts give purer Monte-Carlo returns and fewer updates per step; 128 learned fastest of
the settings we tried on CartPole-v1). Set `--lam` below 1 to use GAE instead.
"""

from __future__ import annotations

from tf_gae.config import ReinforceConfig
from tf_gae.trainers.base import Trainer

__all__ = ["ReinforceConfig", "ReinforceTrainer"]


class ReinforceTrainer(Trainer):
    config_class = ReinforceConfig
    algo = "reinforce"
