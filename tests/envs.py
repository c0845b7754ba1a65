"""Tiny gymnasium environments with known answers, registered for the tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

__all__ = [
    "ConstantRewardEnv",
    "NaNRewardEnv",
    "NaNObservationEnv",
    "EmptyObservationEnv",
    "DictObservationEnv",
    "register_test_envs",
]


class ConstantRewardEnv(gym.Env):
    """Reward 1 every step, never terminal; only a time limit ends an episode.

    The observation is the constant [0.5] (so V is one number), or the step count / 100 with
    `show_time=True`. With correct bootstrapping at time limits, V → 1 / (1 − γ).
    """

    def __init__(self, show_time: bool = False, num_actions: int = 1) -> None:
        self.show_time = show_time
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(num_actions)
        self._t = 0

    def _observation(self) -> np.ndarray:
        return np.array([self._t / 100.0 if self.show_time else 0.5], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._observation(), {}

    def step(self, action):
        self._t += 1
        return self._observation(), 1.0, False, False, {}


class NaNRewardEnv(ConstantRewardEnv):
    """Like ConstantRewardEnv, but the reward is NaN from step `nan_after` on (to test divergence handling)."""

    def __init__(self, nan_after: int = 50) -> None:
        super().__init__()
        self.nan_after = nan_after
        self._total = 0

    def step(self, action):
        self._total += 1
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, (float("nan") if self._total > self.nan_after else reward), terminated, truncated, info


class NaNObservationEnv(ConstantRewardEnv):
    """Like ConstantRewardEnv, but the observation is NaN from step `nan_after` on; Box actions with `box=True`."""

    def __init__(self, nan_after: int = 50, box: bool = False) -> None:
        super().__init__()
        self.nan_after = nan_after
        self._total = 0
        if box:
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def step(self, action):
        self._total += 1
        observation, reward, terminated, truncated, info = super().step(action)
        if self._total > self.nan_after:
            observation = np.full_like(observation, np.nan)
        return observation, reward, terminated, truncated, info


class EmptyObservationEnv(ConstantRewardEnv):
    """Observations of shape (0,): nothing for a policy to read."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (0,), np.float32)


class DictObservationEnv(ConstantRewardEnv):
    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1.0, 1.0, (1,), np.float32)})


def _needs_a_missing_package(**_):
    raise gym.error.DependencyNotInstalled("the test package 'not_installed' is missing; pip install not_installed")


def register_test_envs() -> None:
    if "ConstantReward-v0" in gym.registry:
        return
    gym.register("ConstantReward-v0", entry_point=ConstantRewardEnv, max_episode_steps=10)
    gym.register("ConstantRewardClock-v0", entry_point=ConstantRewardEnv, max_episode_steps=10, kwargs={"show_time": True})
    gym.register("NaNReward-v0", entry_point=NaNRewardEnv, max_episode_steps=10)
    gym.register("DictObservation-v0", entry_point=DictObservationEnv, max_episode_steps=10)
    gym.register("NaNObservation-v0", entry_point=NaNObservationEnv, max_episode_steps=10)
    gym.register("NaNObservationBox-v0", entry_point=NaNObservationEnv, max_episode_steps=10, kwargs={"box": True})
    gym.register("EmptyObservation-v0", entry_point=EmptyObservationEnv, max_episode_steps=10)
    gym.register("NeedsMissingPackage-v0", entry_point=_needs_a_missing_package)
    gym.register("ConstantRewardEndless-v0", entry_point=ConstantRewardEnv)  # no time limit: never ends


register_test_envs()  # at import, so `--env tests.envs:NaNReward-v0` works from the command line too
