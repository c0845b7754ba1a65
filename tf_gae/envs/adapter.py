"""gymnasium's environments behind the protocol of :mod:`tf_gae.envs.core`, so that every task — MuJoCo,
Box2D, the user's own — goes through the same rollout code as the tasks written in TensorFlow ops.

    env = GymnasiumEnv(make_vector_env("LunarLander-v3", num_envs=8))
    state, observation = env.reset(seed, num_envs=8)
    step = env.step(state, action, seed)      # the same Step: .state, .observation, .reward, .terminated, ...

What is the same as an in-graph task: the signatures, the shapes and dtypes of every tensor (observations
float32 [B, obs_dim], rewards float64 [B], flags bool [B]), the same-step autoreset with the episode's own
last observation in `final_observation`, and the calls working eagerly and inside a graph (there through
`tf.numpy_function`, which XLA cannot compile).

What is not, and cannot be: the adapter is not pure. The environments' state lives in gymnasium's Python
objects, not in the tensors, so `state.physics` is empty ([B, 0]) and a step advances the environments
whatever state is passed in; `state.elapsed` is counted here, from the flags. A new episode after an
autoreset is drawn from gymnasium's own generators (seeded by the last `reset`), not from the step's
`seed`. Hence `in_graph = False`: a checkpoint cannot hold the episodes, and a resumed run starts fresh ones.

What the environments raise in a graph call (including :class:`NonFiniteObservation`, the one check made
here) is kept in `failure`, so that the caller can raise it as itself instead of TensorFlow's wrapper.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np

from tf_gae._tf import tf
from tf_gae.envs.core import EnvState, Step, as_seed

__all__ = ["GymnasiumEnv", "NonFiniteObservation"]


class NonFiniteObservation(ValueError):
    """The environment returned an observation with NaN or ±inf: nothing can be learned from it."""


class GymnasiumEnv:
    """A gymnasium vector environment as a :mod:`tf_gae.envs` task of `vector_env.num_envs` copies (module
    docstring). Build the vector env with same-step autoreset (:func:`tf_gae.rollout.make_vector_env`)."""

    in_graph = False  # steps leave the graph; the episodes live in Python, outside any checkpoint
    physics_size = 0  # the physics is gymnasium's, in its Python objects

    def __init__(self, vector_env: gym.vector.VectorEnv) -> None:
        # a vector env's wrappers keep the mode in metadata, not as an attribute
        mode = vector_env.metadata.get("autoreset_mode", getattr(vector_env, "autoreset_mode", None))
        if mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(
                "vector_env must reset finished episodes on the same step: build it with "
                "tf_gae.rollout.make_vector_env, or pass autoreset_mode=AutoresetMode.SAME_STEP"
            )
        self.vector_env = vector_env
        self.num_envs = int(vector_env.num_envs)
        self.observation_space = vector_env.single_observation_space
        self.action_space = vector_env.single_action_space
        self.observation_size = int(self.observation_space.shape[0])
        spec = vector_env.unwrapped.get_attr("spec")[0]  # the copies' registry entry (None if made without one)
        self.id = spec.id if spec is not None else ""
        self.max_episode_steps = spec.max_episode_steps if spec is not None else None  # the TimeLimit, if any
        self.failure: Exception | None = None  # what the environments raised inside the last graph call

    # ------------------------------------------------------------------ the protocol

    def reset(self, seed: object, num_envs: int | tf.Tensor) -> tuple[EnvState, tf.Tensor]:
        """Fresh episodes in every copy, gymnasium seeding copy i with seed + i. The stateless key [a, b]
        becomes the integer seed (a + 2³²·b) mod (2³¹ − B), so that every copy's seed fits the 31 bits older
        seeders accept (an integer seed s < 2³¹ − B stays s)."""
        self._check_num_envs(num_envs)
        observation = self._call(self._reset, [as_seed(seed)], [tf.float32])[0]
        observation = tf.ensure_shape(observation, [self.num_envs, self.observation_size])
        return self._state(tf.zeros([self.num_envs], tf.int32)), observation

    def step(self, state: EnvState, action: tf.Tensor, seed: object) -> Step:
        """One step of every copy, autoreset where an episode ended (from gymnasium's generators; `seed` and
        `state.physics` are not read: module docstring)."""
        del seed
        observation, reward, terminated, truncated, final_observation = self._call(
            self._step, [action], [tf.float32, tf.float64, tf.bool, tf.bool, tf.float32]
        )
        vector, matrix = [self.num_envs], [self.num_envs, self.observation_size]
        terminated, truncated = tf.ensure_shape(terminated, vector), tf.ensure_shape(truncated, vector)
        elapsed = tf.where(terminated | truncated, 0, state.elapsed + 1)  # steps into the current episode
        return Step(self._state(elapsed), tf.ensure_shape(observation, matrix), tf.ensure_shape(reward, vector),
                    terminated, truncated, tf.ensure_shape(final_observation, matrix))  # fmt: skip

    def close(self) -> None:
        self.vector_env.close()

    def __repr__(self) -> str:
        return f"GymnasiumEnv({self.vector_env!r})"

    # ------------------------------------------------------------------ in Python

    def _state(self, elapsed: tf.Tensor) -> EnvState:
        return EnvState(tf.zeros([self.num_envs, self.physics_size], tf.float64), elapsed)

    def _check_num_envs(self, num_envs: int | tf.Tensor) -> None:
        if isinstance(num_envs, int) and num_envs != self.num_envs:
            raise ValueError(f"num_envs must be the vector env's {self.num_envs}, got {num_envs}")

    def _call(self, function: Callable[..., tuple[np.ndarray, ...]], inputs: list[Any],
              dtypes: list[tf.DType]) -> list[tf.Tensor]:  # fmt: skip
        """`function` on the inputs' NumPy values: directly when eager (what it raises propagates as itself),
        through `tf.numpy_function` in a graph (what it raises is kept in `failure`)."""
        if tf.executing_eagerly():
            return [tf.constant(value) for value in function(*(np.asarray(value) for value in inputs))]
        return tf.numpy_function(self._keeping_failure(function), inputs, dtypes, stateful=True)

    def _keeping_failure(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def keeping(*arrays: np.ndarray) -> Any:
            try:
                return function(*arrays)
            except Exception as error:
                self.failure = error
                raise

        return keeping

    def _reset(self, key: np.ndarray) -> tuple[np.ndarray]:
        a, b = (int(part) % 2**32 for part in key)
        observations, _ = self.vector_env.reset(seed=(a + 2**32 * b) % (2**31 - self.num_envs))
        return (self._checked(observations, "reset"),)

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        observations, rewards, terminated, truncated, info = self.vector_env.step(actions)
        observations = self._checked(observations, "step")
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        final_observations = observations.copy()  # where an episode ended: its last observation (SAME_STEP)
        for i in np.flatnonzero(terminated | truncated):
            final_observations[i] = info["final_obs"][i]
        return observations, np.asarray(rewards, np.float64), terminated, truncated, final_observations

    @staticmethod
    def _checked(observations: Any, where: str) -> np.ndarray:
        observations = np.asarray(observations)
        if not np.all(np.isfinite(observations)):
            envs = np.flatnonzero(~np.all(np.isfinite(observations.reshape(len(observations), -1)), axis=1))
            raise NonFiniteObservation(
                f"the environment's {where} returned a non-finite observation (NaN or inf) in env(s) "
                f"{envs.tolist()}; nothing can be learned from it: fix the environment or wrap it to clean its observations"
            )
        return observations.astype(np.float32)
