"""The protocol of an environment written in TensorFlow ops, so that a rollout can stay inside one graph.

    env = tf_gae.envs.make("CartPole-v1")
    state, observation = env.reset(seed, num_envs)            # seed: two integers (a stateless key)
    step = env.step(state, action, seed)                       # a Step: every copy advanced by one step
    step.state, step.observation, step.reward, step.terminated, step.truncated, step.final_observation

The functions are pure: the state goes in and comes out, nothing is kept in the object, and randomness
comes only from the stateless `seed` passed in. So they run under `tf.function` and XLA, inside a
`tf.while_loop`, for `num_envs` copies at once (every tensor has the copies on its first axis).

- `state.physics` [B, k] holds, in the same order and the same float64 numbers, what gymnasium keeps in
  `env.unwrapped.state` for the task; `state.elapsed` [B] counts the steps of the current episode, for
  the time limit of gymnasium's registry. `state._replace(physics=...)` builds any state.
- A step computes the dynamics in float64, as gymnasium's NumPy code does, so the next physics equals
  gymnasium's to float64 rounding; observations are float32, as gymnasium's are; rewards float64.
- Autoreset in the same step: where an episode ends (terminated or truncated), the copy starts a new one
  at once. `observation` is then the new episode's first observation, and `final_observation` keeps the
  one the step produced, the observation to bootstrap a truncation from; elsewhere the two are equal.
- `terminated` and `truncated` mean what they mean in gymnasium, and both can be true at once (the time
  limit reached on the step that terminates).
"""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym

from tf_gae._tf import tf
from tf_gae.rng import unit_uniform

__all__ = ["EnvState", "Step", "FunctionalEnv", "as_seed", "uniform"]


class EnvState(NamedTuple):
    physics: tf.Tensor  # [B, k] float64: gymnasium's env.unwrapped.state, in its order
    elapsed: tf.Tensor  # [B] int32: steps taken in the current episode


class Step(NamedTuple):
    state: EnvState  # after the autoreset of every copy whose episode ended
    observation: tf.Tensor  # [B, obs_dim] float32: where an episode ended, the next one's first observation
    reward: tf.Tensor  # [B] float64
    terminated: tf.Tensor  # [B] bool: the task's own end (no bootstrap)
    truncated: tf.Tensor  # [B] bool: the time limit (bootstrap from final_observation)
    final_observation: tf.Tensor  # [B, obs_dim] float32: the observation this step produced, before any reset


def as_seed(seed: object) -> tf.Tensor:
    """A stateless key: an int32 tensor of shape [2], from a Python int, a pair, or a tensor of shape [2];
    or keys [A, 2], one per agent of a sweep (:mod:`tf_gae.agent_axis`)."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return tf.constant([seed % 2**31, 0], tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank not in (1, 2) or seed.shape[-1] != 2 or not seed.dtype.is_integer:
        raise ValueError(f"seed must be an integer or two integers (a stateless key), got {seed!r}")
    return tf.cast(seed, tf.int32)


def uniform(seed: tf.Tensor, num_envs: int | tf.Tensor, low: object, high: object) -> tf.Tensor:
    """[B, k] float64 uniform in [low, high) (k = len(low)), from the stateless `seed`; with keys [A, 2] and
    a whole number B, [A·B, k]: rows a·B … (a+1)·B − 1 drawn from key a, as [B, k] from that key alone.

    The same numbers eagerly, in a graph and under XLA (:func:`tf_gae.rng.unit_uniform`).
    """
    low, high = tf.constant(low, tf.float64), tf.constant(high, tf.float64)  # [k] each
    unit = unit_uniform(tf.stack([num_envs, tf.size(low)]), seed)  # [B, k] (or [A, B, k]) in [0, 1)
    return tf.reshape(low + (high - low) * unit, [-1, low.shape[0]])


class FunctionalEnv:
    """A gymnasium task as pure TensorFlow functions (module docstring). A task sets the class attributes
    and writes three functions of float64 physics: `initial_physics`, `dynamics` and `observe`."""

    in_graph = True  # every step is TensorFlow ops and the state is in the tensors (the gymnasium adapter's is not)
    failure: Exception | None = None  # nothing leaves the graph, so nothing is kept (the adapter's can be set)
    id: str = ""
    max_episode_steps: int = 0  # gymnasium's registry: the TimeLimit of the id
    physics_size: int = 0  # k, the length of gymnasium's env.unwrapped.state

    def __init__(self) -> None:
        spec = gym.spec(self.id)
        if spec.max_episode_steps != self.max_episode_steps:  # the registry is the reference
            raise RuntimeError(f"{self.id}: gymnasium's time limit is {spec.max_episode_steps}, not {self.max_episode_steps}")
        probe = gym.make(self.id)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self.observation_size = int(self.observation_space.shape[0])

    # ------------------------------------------------------------------ what a task writes

    def initial_physics(self, seed: tf.Tensor, num_envs: int | tf.Tensor) -> tf.Tensor:
        """[B, k] float64: the start states gymnasium's `reset` draws, from the stateless `seed`."""
        raise NotImplementedError

    def dynamics(self, physics: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(next physics [B, k] float64, reward [B] float64, terminated [B] bool) of one step of every copy."""
        raise NotImplementedError

    def observe(self, physics: tf.Tensor) -> tf.Tensor:
        """[B, obs_dim] float32: the observation gymnasium returns in `physics`."""
        raise NotImplementedError

    def fresh_physics(self, seed: object, num_envs: int | tf.Tensor) -> tf.Tensor:
        """[B, k] float64: the start states of new episodes, from `seed` (a sweep's agents draw theirs from
        a seed each: :class:`tf_gae.agent_axis.AgentsEnv`)."""
        return self.initial_physics(as_seed(seed), num_envs)

    # ------------------------------------------------------------------ the protocol

    def reset(self, seed: object, num_envs: int | tf.Tensor) -> tuple[EnvState, tf.Tensor]:
        """`num_envs` fresh episodes: (state, observation [B, obs_dim])."""
        physics = self.fresh_physics(seed, num_envs)
        elapsed = tf.zeros(tf.shape(physics)[:1], tf.int32)
        return EnvState(physics, elapsed), self.observe(physics)

    def step(self, state: EnvState, action: tf.Tensor, seed: object) -> Step:
        """One step of every copy, then a new episode (drawn from `seed`) wherever one ended."""
        physics, reward, terminated = self.dynamics(state.physics, action)
        elapsed = state.elapsed + 1
        truncated = elapsed >= self.max_episode_steps  # gymnasium's TimeLimit
        final_observation = self.observe(physics)
        done = terminated | truncated  # [B]
        fresh = self.fresh_physics(seed, tf.shape(physics)[0])
        physics = tf.where(done[:, None], fresh, physics)
        elapsed = tf.where(done, tf.zeros_like(elapsed), elapsed)
        observation = tf.where(done[:, None], self.observe(fresh), final_observation)
        return Step(EnvState(physics, elapsed), observation, reward, terminated, truncated, final_observation)

    def close(self) -> None:
        """Nothing to release: the state lives in the caller's tensors."""

    def __repr__(self) -> str:
        return f"tf_gae.envs.make({self.id!r})"
