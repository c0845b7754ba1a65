"""Collecting time-major `[T, B]` rollouts from gymnasium vector environments. Introduced in chapter 5.

Gymnasium 1.x vector environments reset a finished sub-environment automatically. By default they do
so on the NEXT call to `step` (that call ignores its action and returns the reset observation with
reward 0) — a transition that must not be trained on. This module asks for the SAME_STEP mode instead:
the step that ends an episode returns the reset observation, and the episode's final observation is in
`info["final_obs"]`. So every collected step is a real transition, and

    next_values[t] = V(s_{t+1})            for a step inside an episode (= values[t+1]),
    next_values[t] = V(final observation)  for a time-limit truncation (bootstrap; GAE paper §2),
    next_values[t] = anything              for a termination (never read by tf_gae.gae),
    next_values[T-1] = V(s_T)              for the last step of the rollout (the rollout is cut there).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from tf_gae._tf import tf

__all__ = ["Rollout", "RolloutCollector", "RewardScaler", "make_vector_env", "check_env_id"]


def check_env_id(env_id: str) -> None:
    """Raise ValueError with the fix if gymnasium does not know `env_id`.

    gymnasium's `module:EnvId` form is accepted: the module is imported first (it registers the env).
    """
    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"cannot import {module!r} for environment {env_id!r}: {error}") from None
    try:
        gym.spec(env_id)
    except gym.error.Error as error:  # NameNotFound, VersionNotFound, DeprecatedEnv, ...
        raise ValueError(
            f"unknown environment id {env_id!r} ({error}); pass a registered id such as CartPole-v1"
        ) from None


def make_vector_env(env_id: str, num_envs: int, *, asynchronous: bool = False) -> gym.vector.VectorEnv:
    """`num_envs` copies of `env_id` in a vector env that resets finished episodes on the same step."""
    check_env_id(env_id)
    if num_envs < 1:
        raise ValueError(f"num_envs must be at least 1, got {num_envs}")
    env_fns = [lambda: gym.make(env_id) for _ in range(num_envs)]
    vector_class = AsyncVectorEnv if asynchronous else SyncVectorEnv
    return vector_class(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)


class RewardScaler:
    """Scale rewards by the running standard deviation of the discounted return (SB3's VecNormalize).

        R_t = γ R_{t−1} + r_t   (per environment, reset to 0 when an episode ends)
        r̃_t = clip(r_t / √(Var[R] + ε), −clip, clip)

    The mean is not subtracted, so the sign of every reward is kept. Var[R] is tracked by a
    :class:`~tf_gae.models.RunningObservationNormalizer` of size 1, whose weights are checkpointed.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        from tf_gae.models import RunningObservationNormalizer

        self.gamma = gamma
        self.clip = clip
        self.epsilon = epsilon
        self.statistics = RunningObservationNormalizer(1, name="return_statistics")
        self.discounted_returns = np.zeros(num_envs)  # R [B]

    def __call__(self, rewards: np.ndarray, episode_ended: np.ndarray) -> np.ndarray:
        self.discounted_returns = self.gamma * self.discounted_returns + rewards
        self.statistics.update(self.discounted_returns[:, None].astype(np.float32))
        std = np.sqrt(float(self.statistics.var.numpy()[0]) + self.epsilon)
        self.discounted_returns[episode_ended] = 0.0
        return np.clip(rewards / std, -self.clip, self.clip).astype(np.float32)

    def reset(self) -> None:
        self.discounted_returns[:] = 0.0


@dataclass
class Rollout:
    """One rollout, time-major. T = steps per environment, B = number of environments."""

    observations: tf.Tensor  # [T, B, obs_dim] float32 (raw; the model normalises them itself)
    actions: tf.Tensor  # [T, B] int64 (discrete) or [T, B, act_dim] float32 (unclipped samples)
    log_probs: tf.Tensor  # [T, B] log π(a_t | s_t) under the policy that acted
    rewards: tf.Tensor  # [T, B] float32 (scaled, if the collector has a RewardScaler)
    values: tf.Tensor  # [T, B] V(s_t)
    next_values: tf.Tensor  # [T, B] V(s_{t+1}) (final observation for truncations)
    terminated: tf.Tensor  # [T, B] bool
    truncated: tf.Tensor  # [T, B] bool
    episode_returns: list[float] = field(default_factory=list)  # episodes finished during this rollout
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return int(self.rewards.shape[0]) * int(self.rewards.shape[1])


class RolloutCollector:
    """Steps a vector env with a model's policy and returns :class:`Rollout`s.

    The policy forward pass (sampling, log-prob, value, observation-statistics update) is one compiled
    `tf.function`. Sampling uses stateless seeds drawn from `self.generator`, a `tf.random.Generator`
    that is checkpointed with the run, so a seeded run is reproducible.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        model: Any,
        *,
        num_steps: int,
        seed: int,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        self.env = env
        self.model = model
        self.num_steps = num_steps
        self.seed = seed
        self.reward_scaler = reward_scaler
        self.generator = tf.random.Generator.from_seed(seed)
        self.discrete = model.action_spec.kind == "discrete"
        if not self.discrete:
            self.action_low = np.asarray(model.action_spec.low, np.float32)
            self.action_high = np.asarray(model.action_spec.high, np.float32)
        self._observations: np.ndarray | None = None
        self._running_returns = np.zeros(env.num_envs)
        self._running_lengths = np.zeros(env.num_envs, np.int64)
        # Concrete functions for [N, obs_dim] float32: calling them skips tf.function's per-call
        # argument dispatch, which cost as much as the policy itself (~0.4 ms a step).
        observation_spec = tf.TensorSpec([None, env.single_observation_space.shape[0]], tf.float32)
        self._act = tf.function(self._act_graph).get_concrete_function(observation_spec)
        self._value = tf.function(self._value_graph).get_concrete_function(observation_spec)

    def _act_graph(self, observations):
        # A stateless seed for TFP from the checkpointed generator, drawn inside the graph (an eager
        # draw per step cost another ~0.9 ms).
        seed = self.generator.uniform_full_int([2], dtype=tf.int32)
        normalizer = getattr(self.model, "observation_normalizer", None)
        if normalizer is not None:
            normalizer.update(observations)
        distribution, values = self.model.policy_and_value(observations)
        actions = distribution.sample(seed=seed)
        return actions, distribution.log_prob(actions), values

    def _value_graph(self, observations):
        return self.model.value(observations)

    def reset(self, seed: int | None = None) -> None:
        """Reset every environment (env i gets seed + i) and the running episode statistics."""
        observations, _ = self.env.reset(seed=self.seed if seed is None else seed)
        self._observations = np.asarray(observations, np.float32)
        self._running_returns[:] = 0.0
        self._running_lengths[:] = 0
        if self.reward_scaler is not None:
            self.reward_scaler.reset()

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            return actions
        return np.clip(actions, self.action_low, self.action_high)  # clip only when stepping the env

    def collect(self) -> Rollout:
        if self._observations is None:
            self.reset()
        num_envs = self.env.num_envs
        observations, actions, log_probs, rewards, values = [], [], [], [], []
        terminated_steps, truncated_steps, final_values = [], [], []
        finished_returns: list[float] = []
        finished_lengths: list[int] = []
        for _ in range(self.num_steps):
            obs = self._observations  # [B, obs_dim]
            action, log_prob, value = self._act(tf.constant(obs))
            action_np = action.numpy()
            next_obs, reward, terminated, truncated, info = self.env.step(self._env_actions(action_np))
            reward = np.asarray(reward, np.float32)
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            truncated = truncated & ~terminated  # a step that is both is a termination: no bootstrap
            bootstrap = np.full(num_envs, np.nan, np.float32)  # V(final obs) where truncated
            if truncated.any():
                final_obs = np.stack([np.asarray(info["final_obs"][i], np.float32) for i in np.flatnonzero(truncated)])
                bootstrap[truncated] = self._value(tf.constant(final_obs)).numpy()
            observations.append(obs)
            actions.append(action_np)
            log_probs.append(log_prob.numpy())
            if self.reward_scaler is None:
                rewards.append(reward)
            else:
                rewards.append(self.reward_scaler(reward, terminated | truncated))
            values.append(value.numpy())
            terminated_steps.append(terminated)
            truncated_steps.append(truncated)
            final_values.append(bootstrap)
            self._running_returns += reward  # episode statistics always use the environment's own rewards
            self._running_lengths += 1
            for i in np.flatnonzero(terminated | truncated):
                finished_returns.append(float(self._running_returns[i]))
                finished_lengths.append(int(self._running_lengths[i]))
                self._running_returns[i] = 0.0
                self._running_lengths[i] = 0
            self._observations = np.asarray(next_obs, np.float32)
        last_values = self._value(tf.constant(self._observations)).numpy()  # V(s_T) [B]
        values_np = np.stack(values)  # [T, B]
        truncated_np = np.stack(truncated_steps)
        # next_values[t] = values[t+1] inside episodes; V(final obs) at truncations; V(s_T) at the end.
        next_values = np.concatenate([values_np[1:], last_values[None]], axis=0)
        next_values = np.where(truncated_np, np.stack(final_values), next_values).astype(np.float32)
        return Rollout(
            observations=tf.constant(np.stack(observations)),
            actions=tf.constant(np.stack(actions)),
            log_probs=tf.constant(np.stack(log_probs)),
            rewards=tf.constant(np.stack(rewards)),
            values=tf.constant(values_np),
            next_values=tf.constant(next_values),
            terminated=tf.constant(np.stack(terminated_steps)),
            truncated=tf.constant(truncated_np),
            episode_returns=finished_returns,
            episode_lengths=finished_lengths,
        )
