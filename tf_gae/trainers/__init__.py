"""Actor-critic trainers that turn GAE advantages into gradient steps. Introduced in chapters 3 and 5.

- :class:`ReinforceTrainer`: REINFORCE with a learned baseline, Â_t = G_t − V(s_t) (GAE with λ = 1).
- :class:`A2CTrainer`: advantage actor-critic on n-step rollouts with GAE(γ, λ).
- :class:`PPOTrainer`: PPO's clipped surrogate, several epochs of minibatches per rollout.
"""

from tf_gae.trainers.a2c import A2CConfig, A2CTrainer
from tf_gae.config import ConfigError
from tf_gae.trainers.base import TrainingDiverged
from tf_gae.trainers.ppo import PPOConfig, PPOTrainer
from tf_gae.trainers.reinforce import ReinforceConfig, ReinforceTrainer

ALGORITHMS = {
    "a2c": (A2CConfig, A2CTrainer),
    "reinforce": (ReinforceConfig, ReinforceTrainer),
    "ppo": (PPOConfig, PPOTrainer),
}

__all__ = [
    "A2CConfig",
    "A2CTrainer",
    "ReinforceConfig",
    "ReinforceTrainer",
    "PPOConfig",
    "PPOTrainer",
    "ConfigError",
    "TrainingDiverged",
    "ALGORITHMS",
]
