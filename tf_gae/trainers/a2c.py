"""Advantage actor-critic (A2C) with GAE: n-step rollouts from B environments, one gradient step each.

Mnih et al. 2016 ("Asynchronous Methods for Deep Reinforcement Learning", the synchronous variant);
the advantage is GAE(γ, λ) (Schulman et al. 2016) instead of the n-step return minus V. The update is
:meth:`tf_gae.trainers.base.Trainer._losses`. Introduced in chapter 3.
"""

from __future__ import annotations

from tf_gae.config import A2CConfig
from tf_gae.trainers.base import Trainer

__all__ = ["A2CConfig", "A2CTrainer"]


class A2CTrainer(Trainer):
    config_class = A2CConfig
    algo = "a2c"
