"""Advantage actor-critic (A2C) with GAE: n-step rollouts from B environments, one gradient step each.

Mnih et al. 2016 ("Asynchronous Methods for Deep Reinforcement Learning", the synchronous variant);
the advantage is GAE(γ, λ) (Schulman et al. 2016) instead of the n-step return minus V. The update is
:meth:`tf_gae.trainers.base.Trainer._losses`. Introduced in chapter 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from tf_gae.trainers.base import Trainer, TrainerConfig, _help

__all__ = ["A2CConfig", "A2CTrainer"]


@dataclass(frozen=True)
class A2CConfig(TrainerConfig):
    """A2C with GAE. Defaults solve CartPole-v1 within 100k steps (see README)."""

    n_steps: int = _help("steps per environment in one rollout (T); one update per rollout", default=8)
    lam: float = _help("GAE λ in [0, 1]: 0 = one-step TD error, 1 = Monte-Carlo return minus V", default=0.95)
    learning_rate: float = _help("optimizer step size", default=1e-3)
    optimizer: str = _help("'rmsprop' (as A2C's paper and SB3) or 'adam'", default="adam")
    entropy_coef: float = _help("weight c_e of the entropy bonus", default=0.0)


class A2CTrainer(Trainer):
    config_class = A2CConfig
    algo = "a2c"
