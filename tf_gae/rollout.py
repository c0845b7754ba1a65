"""Collecting time-major `[T, B]` rollouts, from any task behind the protocol of :mod:`tf_gae.envs`: the
classic-control tasks written in TensorFlow ops, or any of gymnasium's through its adapter
(:class:`tf_gae.envs.adapter.GymnasiumEnv`). Introduced in chapter 5.

Gymnasium 1.x vector environments reset a finished sub-environment automatically. By default they do
so on the NEXT call to `step` (that call ignores its action and returns the reset observation with
reward 0) — a transition that must not be trained on. This module asks for the SAME_STEP mode instead,
and the in-graph tasks do the same: the step that ends an episode returns the next episode's first
observation, and the episode's own last one is the step's `final_observation`. So every collected step is
a real transition, and

    next_values[t] = V(s_{t+1})            for a step inside an episode (= values[t+1]),
    next_values[t] = V(final observation)  for a time-limit truncation (bootstrap; GAE paper §2),
    next_values[t] = anything              for a termination (never read by tf_gae.gae),
    next_values[T-1] = V(s_T)              for the last step of the rollout (the rollout is cut there).

The rollout returns every tensor the update needs, and the episode statistics too: `episode_returns[t, b]`
is the (unscaled) return of the episode that ended at step t in environment b, NaN where none ended, and
`episode_lengths[t, b]` its length. The running sums of the episodes still going are variables of the
collector, summed in the graph from the environment's own float64 rewards.

An *episodic* collector (REINFORCE's) gathers whole episodes instead: every rollout starts a fresh episode
in each environment and runs until all B have ended (at most T steps, the time limit), and

    mask[t, b] = 1 while step t belongs to environment b's first episode, 0 after it ended

(an environment whose episode ended goes on stepping into a new one, which nothing reads). Its episode
statistics are [1, B]: the return and length of each environment's episode (NaN if T cut it).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from tf_gae._tf import tf
from tf_gae.config import split_env_id  # TensorFlow-free, for the run directory's checks
from tf_gae.envs.adapter import GymnasiumEnv, NonFiniteObservation
from tf_gae.envs.core import EnvState

__all__ = [
    "Rollout",
    "RolloutCollector",
    "RewardScaler",
    "NonFiniteObservation",
    "finished_episodes",
    "make_vector_env",
    "check_env_id",
    "split_env_id",
    "registered_spec",
]


def check_env_id(env_id: str) -> None:
    """Raise ValueError with the fix if gymnasium does not know `env_id`.

    gymnasium's `module:EnvId` form is accepted: the module is imported first (it registers the env), so
    call this only with an id the user gave, never with one read from a file they did not vouch for.
    """
    module, name = split_env_id(env_id)
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"cannot import {module!r} for environment {name!r}: {error}") from None
    try:
        gym.spec(name)
    except gym.error.Error as error:  # NameNotFound, VersionNotFound, DeprecatedEnv, ...
        raise ValueError(
            f"unknown environment id {name!r} ({error}); pass a registered id such as CartPole-v1"
        ) from None


def registered_spec(env_id: str) -> gym.envs.registration.EnvSpec | None:
    """The registry's entry for `env_id` (its `module:` part ignored) if it is registered already; imports
    nothing, so it is safe on an id read from a run directory."""
    return gym.registry.get(env_id.rpartition(":")[2])


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
    TensorFlow ops throughout, so it runs inside the rollout's graph.
    """

    def __init__(self, num_envs: int, gamma: float | tf.Variable, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        from tf_gae.models import RunningObservationNormalizer

        self.gamma = gamma
        self.clip = clip
        self.epsilon = epsilon
        self.statistics = RunningObservationNormalizer(1, name="return_statistics")
        self.discounted_returns = tf.Variable(tf.zeros([num_envs]), trainable=False, name="discounted_returns")

    def __call__(self, rewards: tf.Tensor, episode_ended: tf.Tensor) -> tf.Tensor:
        gamma = tf.cast(self.gamma, rewards.dtype)  # a number, or the trainer's γ variable
        returns = gamma * self.discounted_returns + rewards  # R_t = γ R_{t−1} + r_t  [B]
        self.statistics.update(returns[:, None])
        std = tf.sqrt(self.statistics.var[0] + self.epsilon)
        self.discounted_returns.assign(tf.where(episode_ended, tf.zeros_like(returns), returns))
        return tf.clip_by_value(rewards / std, -self.clip, self.clip)

    def reset(self) -> None:
        self.discounted_returns.assign(tf.zeros_like(self.discounted_returns))


def finished_episodes(episode_returns: Any, episode_lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    """The returns and lengths of the episodes that ended, from a rollout's `[T, B]` episode_returns (NaN
    where none ended) and episode_lengths, in the order they ended (time first, then environment)."""
    returns = np.asarray(episode_returns).reshape(-1)
    ended = ~np.isnan(returns)
    return returns[ended].astype(np.float64), np.asarray(episode_lengths).reshape(-1)[ended].astype(np.int64)


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
    mask: tf.Tensor | None = None  # [T, B] float32, episodic collectors only: 1 inside each env's episode
    episode_returns: list[float] = field(default_factory=list)  # episodes finished during this rollout
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        """Environment steps the rollout holds (with a mask: the steps inside the episodes)."""
        if self.mask is not None:
            return int(tf.reduce_sum(self.mask))
        return int(self.rewards.shape[0]) * int(self.rewards.shape[1])


class RolloutCollector:
    """Steps `num_envs` copies of a task with a model's policy and returns :class:`Rollout`s.

    One collector for every task: `env` follows the protocol of :mod:`tf_gae.envs` — a task in TensorFlow
    ops (`tf_gae.envs.make`), whose steps stay in the graph, or gymnasium's through
    :class:`~tf_gae.envs.adapter.GymnasiumEnv` (a `gym.vector.VectorEnv` passed in is wrapped in one), whose
    steps go out through `tf.numpy_function`. The rollout's code is the same for both.

    The policy forward pass (sampling, log-prob, value, observation-statistics update) is graph ops, and so
    is the whole rollout. Sampling, an in-graph task's new episodes and every episodic reset use stateless
    seeds drawn from `self.generator`, a `tf.random.Generator` that is checkpointed with the run, so a seeded
    run is reproducible (gymnasium draws its autoreset episodes itself, seeded at each reset). The current
    observations, the environments' state and the running sums of the episodes still going are tf.Variables;
    for an in-graph task :meth:`state_variables` lists them for the checkpoint, so a resumed run continues
    the very episodes it stopped in. `episodic=True`: each rollout is one whole episode per environment
    (module docstring), of at most `num_steps` steps.
    """

    def __init__(
        self,
        env: Any,
        model: Any,
        *,
        num_steps: int,
        seed: int,
        num_envs: int | None = None,
        reward_scaler: RewardScaler | None = None,
        episodic: bool = False,
    ) -> None:
        if isinstance(env, gym.vector.VectorEnv):
            env = GymnasiumEnv(env)
        if isinstance(env, GymnasiumEnv):
            num_envs = env.num_envs if num_envs is None else num_envs
        elif num_envs is None:
            raise ValueError("num_envs is needed for a task in TensorFlow ops (gymnasium's vector env knows its own)")
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        self.env = env
        self.num_envs = num_envs
        self.observation_size = int(env.observation_size)
        self.model = model
        self.num_steps = num_steps
        self.seed = seed
        self.reward_scaler = reward_scaler
        self.episodic = episodic
        self.statistics_steps = 1 if episodic else num_steps  # rows of the episode statistics of a rollout
        self.generator = tf.random.Generator.from_seed(seed)
        self.discrete = model.action_spec.kind == "discrete"
        self._action_dtype = tf.int32 if self.discrete else tf.float32
        self._action_shape = () if self.discrete else (model.action_spec.size,)
        if not self.discrete:
            self.action_low = tf.constant(model.action_spec.low, tf.float32)
            self.action_high = tf.constant(model.action_spec.high, tf.float32)
        # [B, k] float64 physics, [B] steps into the episode, [B, obs_dim] observations, [B] sums of the episodes
        self.physics = tf.Variable(tf.zeros([num_envs, env.physics_size], tf.float64), trainable=False, name="env_physics")
        self.elapsed = tf.Variable(tf.zeros([num_envs], tf.int32), trainable=False, name="env_elapsed")
        self.observations = tf.Variable(tf.zeros([num_envs, self.observation_size]), trainable=False, name="env_observations")
        self.running_returns = tf.Variable(tf.zeros([num_envs], tf.float64), trainable=False, name="running_returns")
        self.running_lengths = tf.Variable(tf.zeros([num_envs], tf.int32), trainable=False, name="running_lengths")
        self._needs_reset = True  # until `reset`: `run` resets first
        if env.in_graph:  # its episodes begin now (a checkpoint restored later replaces them); gymnasium's are
            self.reset()  # reset by `start` or on first use, so that a bad reset is reported as training's

    # ------------------------------------------------------------------ inside the graph

    def _act_graph(self, observations):
        # A stateless seed for TFP from the checkpointed generator, drawn inside the graph.
        seed = self.generator.uniform_full_int([2], dtype=tf.int32)
        normalizer = getattr(self.model, "observation_normalizer", None)
        if normalizer is not None:
            normalizer.update(observations)
        distribution, values = self.model.policy_and_value(observations)
        actions = distribution.sample(seed=seed)
        log_probs = distribution.log_prob(actions)
        # The rollout records float32 whatever the model computes in.
        return tf.cast(actions, self._action_dtype), tf.cast(log_probs, tf.float32), tf.cast(values, tf.float32)

    def collect_graph(self, first_observations: tf.Tensor) -> dict[str, tf.Tensor]:
        """The rollout as graph ops: T steps from `first_observations` [B, obs_dim]; the fields of :class:`Rollout`."""
        return self.collect_graph_and_last(first_observations)[0]

    def collect_graph_and_last(self, first_observations: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """:meth:`collect_graph` and s_T [B, obs_dim], where the next rollout starts. An episodic collector
        starts fresh episodes instead of `first_observations`, and stops once every one has ended."""
        num_envs, num_steps, episodic = self.num_envs, self.num_steps, self.episodic
        if episodic:
            first_observations = self._begin_episodes_graph()
        arrays = {
            name: tf.TensorArray(dtype, size=num_steps, element_shape=shape)
            for name, dtype, shape in [
                ("observations", tf.float32, [num_envs, self.observation_size]),
                ("actions", self._action_dtype, [num_envs, *self._action_shape]),
                ("log_probs", tf.float32, [num_envs]),
                ("rewards", tf.float32, [num_envs]),
                ("values", tf.float32, [num_envs]),
                ("terminated", tf.bool, [num_envs]),
                ("truncated", tf.bool, [num_envs]),
                ("final_observations", tf.float32, [num_envs, self.observation_size]),
                ("episode_returns", tf.float64, [num_envs]),  # the return of an episode that ended at t, else NaN
                ("episode_lengths", tf.int32, [num_envs]),  # its length, else 0
                ("mask", tf.float32, [num_envs]),  # 1 while step t is in the env's first episode (episodic)
            ]
        }
        names = list(arrays)

        def one_step(t, observations, alive, *written):
            actions, log_probs, values = self._act_graph(observations)
            (next_observations, rewards, terminated, truncated, final_observations, episode_returns,
             episode_lengths) = self._step_graph(actions)  # fmt: skip
            ended = tf.ensure_shape(terminated | truncated, [num_envs])  # [B]
            # scaled for training; episode statistics keep the raw ones. An episodic rollout's steps past an
            # environment's episode feed the scale's statistics too: real steps of the same policy
            if self.reward_scaler is not None:
                rewards = self.reward_scaler(tf.ensure_shape(rewards, [num_envs]), ended)
            if episodic:  # only the first episode of each environment is the rollout's
                episode_returns = tf.where(alive, episode_returns, tf.constant(np.nan, tf.float64))
                episode_lengths = tf.where(alive, episode_lengths, tf.zeros_like(episode_lengths))
            step = dict(
                observations=observations,
                actions=actions,
                log_probs=log_probs,
                rewards=rewards,
                values=values,
                terminated=terminated,
                truncated=truncated,
                final_observations=final_observations,
                episode_returns=episode_returns,
                episode_lengths=episode_lengths,
                mask=tf.cast(alive, tf.float32),
            )
            written = [
                array.write(t, tf.ensure_shape(step[name], array.element_shape))
                for name, array in zip(names, written)
            ]
            next_observations = tf.ensure_shape(next_observations, [num_envs, self.observation_size])
            return (t + 1, next_observations, alive & ~ended, *written)

        def go_on(t, observations, alive, *written):  # an episodic rollout ends when every episode has
            return tf.logical_and(t < num_steps, tf.reduce_any(alive)) if episodic else t < num_steps

        _, observations, _, *written = tf.while_loop(
            go_on, one_step, (tf.constant(0), first_observations, tf.ones([num_envs], tf.bool), *arrays.values())
        )
        arrays = dict(zip(names, written))
        # [T, B, ...]; the steps an episodic rollout did not take (it stopped early) are zeros, mask 0
        rollout = {name: array.stack() for name, array in arrays.items()}
        if episodic:  # [T, B] -> [1, B]: each environment's one episode (NaN / 0 where T cut it)
            returns = rollout["episode_returns"]  # [T, B]: NaN, or 0 where not stepped
            ended = (rollout["mask"] > 0) & ~tf.math.is_nan(returns)  # at most one step per environment
            rollout["episode_returns"] = tf.where(
                tf.reduce_any(ended, 0), tf.reduce_sum(tf.where(ended, returns, 0.0), 0), np.nan
            )[None]
            rollout["episode_lengths"] = tf.reduce_sum(rollout["episode_lengths"], 0)[None]
        else:
            del rollout["mask"]
        last_values = tf.cast(self.model.value(observations), tf.float32)  # V(s_T) [B]
        final_values = tf.reshape(  # V(final observation) of every step; used only where truncated
            self.model.value(tf.reshape(rollout.pop("final_observations"), [-1, self.observation_size])),
            [num_steps, num_envs],
        )
        final_values = tf.cast(final_values, tf.float32)
        # next_values[t] = values[t+1] inside episodes; V(final obs) at truncations; V(s_T) at the end.
        next_values = tf.concat([rollout["values"][1:], last_values[None]], axis=0)
        rollout["next_values"] = tf.where(rollout["truncated"], final_values, next_values)
        return rollout, observations

    def _begin_episodes_graph(self) -> tf.Tensor:
        """Fresh episodes in every environment, from a key drawn from `generator` (so a seeded run, and a
        resumed one, draws the same); returns s_0 [B, obs_dim]."""
        return self._start_episodes(self.generator.uniform_full_int([2], dtype=tf.int32))

    def _start_episodes(self, seed: object) -> tf.Tensor:
        """New episodes in every environment, drawn from the stateless `seed`, and fresh sums; returns s_0."""
        state, observations = self.env.reset(seed, self.num_envs)
        self.physics.assign(state.physics)
        self.elapsed.assign(state.elapsed)
        self.observations.assign(observations)
        self.running_returns.assign(tf.zeros_like(self.running_returns))
        self.running_lengths.assign(tf.zeros_like(self.running_lengths))
        if self.reward_scaler is not None:  # a fresh episode's discounted return starts at 0
            self.reward_scaler.reset()
        return observations

    def _step_graph(self, actions: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """One step of every environment: (s_{t+1} [B, obs_dim], r_t [B] float32, terminated [B], truncated [B],
        final observations [B, obs_dim] (zeros where not truncated), episode returns [B] float64 (NaN where
        none ended), episode lengths [B] int32)."""
        env_actions = actions if self.discrete else tf.clip_by_value(actions, self.action_low, self.action_high)
        reset_seed = self.generator.uniform_full_int([2], dtype=tf.int32)  # for the episodes that start now
        step = self.env.step(EnvState(self.physics, self.elapsed), env_actions, reset_seed)
        self.physics.assign(step.state.physics)
        self.elapsed.assign(step.state.elapsed)
        self.observations.assign(step.observation)
        terminated = step.terminated
        truncated = step.truncated & ~terminated  # both at once is a termination: no bootstrap
        ended = terminated | truncated  # [B]
        returns = self.running_returns + step.reward  # episode statistics use the environment's own rewards
        lengths = self.running_lengths + 1
        self.running_returns.assign(tf.where(ended, tf.zeros_like(returns), returns))
        self.running_lengths.assign(tf.where(ended, tf.zeros_like(lengths), lengths))
        episode_returns = tf.where(ended, returns, tf.constant(np.nan, tf.float64))  # [B]
        episode_lengths = tf.where(ended, lengths, tf.zeros_like(lengths))  # [B]
        final_observations = tf.where(truncated[:, None], step.final_observation, tf.zeros_like(step.final_observation))
        return (step.observation, tf.cast(step.reward, tf.float32), terminated, truncated, final_observations,
                episode_returns, episode_lengths)  # fmt: skip

    # ------------------------------------------------------------------ the public side

    def state_variables(self) -> dict[str, tf.Variable]:
        """What a checkpoint must hold to continue the same episodes: for an in-graph task, its state and the
        sums of the episodes going on; nothing for gymnasium's, whose environments live in Python."""
        if not self.env.in_graph:
            return {}
        return dict(
            env_physics=self.physics,
            env_elapsed=self.elapsed,
            env_observations=self.observations,
            running_returns=self.running_returns,
            running_lengths=self.running_lengths,
        )

    def start(self, seed: int) -> None:
        """Before training (again): gymnasium's environments start fresh episodes from `seed`; an in-graph
        task's go on from the state the collector holds (made at construction, or restored from a checkpoint)."""
        if not self.env.in_graph:
            self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """New episodes in every environment, drawn from `seed` (default the collector's), fresh running sums
        and the reward scaler's discounted returns at 0."""
        self._start_episodes(self.seed if seed is None else seed)
        self._needs_reset = False

    @functools.cached_property
    def _collect(self) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
        # The whole rollout is one graph call: T policy steps and the environment steps. A Python loop
        # calling the policy once per step spent most of its time in TensorFlow's per-call dispatch (~0.5 ms a
        # step, more than CartPole itself). Traced on first use: training calls the trainers' own graph, which
        # collects with `collect_graph` inside it.
        return tf.function(self.collect_graph, autograph=False).get_concrete_function(
            tf.TensorSpec([self.num_envs, self.observation_size], tf.float32)
        )

    def collect(self) -> Rollout:
        """T steps of every environment under the current policy, as one :class:`Rollout`."""
        rollout = self.run(self._collect)  # an episodic collector: whole episodes, with their mask
        returns, lengths = finished_episodes(rollout.pop("episode_returns"), rollout.pop("episode_lengths"))
        return Rollout(**rollout, episode_returns=returns.tolist(), episode_lengths=lengths.tolist())

    def run(self, graph: Callable[..., Any], *args: Any) -> Any:
        """Call `graph(observations, *args)`, a compiled function that collects from the current observations
        [B, obs_dim] (with :meth:`collect_graph`, once or several times), and return its outputs. The trainers
        use it to run rollouts and their updates as one graph call. What gymnasium's environments raised
        inside the call is raised as itself, not as TensorFlow's wrapper."""
        if self._needs_reset:  # gymnasium's, never reset yet
            self.reset()
        self.env.failure = None
        try:
            return graph(self.observations.read_value(), *args)
        except tf.errors.OpError:
            if self.env.failure is not None:
                raise self.env.failure from None
            raise
