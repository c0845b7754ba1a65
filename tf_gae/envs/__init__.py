"""Environments written in TensorFlow ops (the protocol: :mod:`tf_gae.envs.core`).

    env = tf_gae.envs.make("CartPole-v1")
    state, observation = env.reset(seed=0, num_envs=8)
    step = env.step(state, action, seed)

Each is gymnasium's task of the same id, step for step (tests/test_envs*.py step both from the same
states with the same actions); being pure TensorFlow functions, they run inside a compiled rollout.
Every other gymnasium environment takes the same protocol through :class:`tf_gae.envs.adapter.GymnasiumEnv`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["make", "registered", "EnvState", "Step", "FunctionalEnv", "as_seed", "uniform"]

_REGISTRY: dict[str, str] = {
    "CartPole-v1": "tf_gae.envs.cartpole:CartPole",
    "Acrobot-v1": "tf_gae.envs.acrobot:Acrobot",
    "Pendulum-v1": "tf_gae.envs.pendulum:Pendulum",
    "MountainCar-v0": "tf_gae.envs.mountain_car:MountainCar",
    "MountainCarContinuous-v0": "tf_gae.envs.mountain_car:MountainCarContinuous",
}
"""Each id with an in-graph version -> "module:class" (imported on first use)."""


def __getattr__(name: str) -> Any:
    """The protocol's types from tf_gae.envs.core, imported on first use: `registered()` needs no TensorFlow."""
    if name in ("EnvState", "Step", "FunctionalEnv", "as_seed", "uniform"):
        return getattr(importlib.import_module("tf_gae.envs.core"), name)
    raise AttributeError(f"module 'tf_gae.envs' has no attribute {name!r}")


def registered() -> list[str]:
    """The ids that have an in-graph version."""
    return sorted(_REGISTRY)


def make(env_id: str) -> Any:
    """The in-graph version of gymnasium's `env_id`; ValueError naming the ids that have one."""
    if env_id not in _REGISTRY:
        raise ValueError(f"{env_id!r} has no in-graph version; those that do: {', '.join(registered())}")
    module, name = _REGISTRY[env_id].split(":")
    return getattr(importlib.import_module(module), name)()
