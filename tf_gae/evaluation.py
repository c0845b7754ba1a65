"""Deterministic evaluation with the environment in the graph: every episode at once, one compiled call.

    evaluate = InGraphEvaluator(model, "CartPole-v1", episodes=20, seed=10_000)
    returns = evaluate()          # [20] float64: the undiscounted return of each episode

The same measurement as :func:`tf_gae.runs.episode_returns` with :func:`tf_gae.runs.mode_policy` (the
policy's mode; Box actions clipped to the space; each environment's first episode, to its end), with
gymnasium's task replaced by its :mod:`tf_gae.envs` version: `episodes` copies start from states drawn
from the stateless `seed`, step together until every one has ended, and the returns are summed in
float64. Nothing leaves the graph, so evaluating a CartPole policy for 20 episodes of up to 500 steps
is one XLA program call instead of up to 500 policy calls from Python. The start states are the
in-graph task's own draws, not gymnasium's `reset(seed=seed + i)`: the two agree in distribution, and
an episode replayed in gymnasium from the same start state gives the same return
(tests/test_evaluation.py). Used by chapter 5 to evaluate every run after every progress row.

A sweep's agents stacked along an agent axis (:class:`tf_gae.agent_axis.AgentsActorCritic`) are evaluated
all at once, each on the same `episodes` start states as alone: `evaluate()` is then [A, episodes].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tf_gae._tf import tf
from tf_gae.agent_axis import AgentsActorCritic, AgentsEnv
import tf_gae.envs

__all__ = ["InGraphEvaluator"]


class InGraphEvaluator:
    """Evaluates `model`'s current weights (read at each call) on `episodes` episodes of `env_id`; a model of
    A stacked agents on the same episodes for each agent."""

    def __init__(self, model: Any, env_id: str, episodes: int, seed: int) -> None:
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"episodes must be a whole number ≥ 1, got {episodes!r}")
        self.model = model
        self.task = tf_gae.envs.make(env_id)  # ValueError naming the ids that have an in-graph version
        self.num_agents = model.num_agents if isinstance(model, AgentsActorCritic) else None  # None: one policy
        # rows k·E … (k+1)·E − 1 are agent k's episodes, every agent's from the same seed
        self.env = self.task if self.num_agents is None else AgentsEnv(self.task, self.num_agents, episodes)
        self.episodes = episodes
        self.seed = tf_gae.envs.as_seed(seed)
        self.discrete = model.action_spec.kind == "discrete"
        if not self.discrete:
            self.action_low = tf.constant(model.action_spec.low, tf.float32)
            self.action_high = tf.constant(model.action_spec.high, tf.float32)
        self._returns = tf.function(self._returns_graph, jit_compile=True, autograph=False)

    def __call__(self) -> np.ndarray:
        """[episodes] float64: the return of each episode under the policy's mode ([A, episodes]: agent k's
        in row k)."""
        returns = self._returns().numpy()
        return returns if self.num_agents is None else returns.reshape(self.num_agents, self.episodes)

    def start_physics(self) -> np.ndarray:
        """[episodes, k] float64: the states the episodes start from (gymnasium's env.unwrapped.state layout)."""
        state, _ = self.task.reset(self.seed, self.episodes)
        return state.physics.numpy()

    def _returns_graph(self) -> tf.Tensor:
        env = self.env
        episodes = self.episodes * (self.num_agents or 1)  # copies of the task stepped together
        state, observations = env.reset(self.seed, episodes)

        def one_step(t, state, observations, returns, running):
            actions = self.model.mode(observations)  # [E] or [E, act_dim]
            if not self.discrete:
                actions = tf.clip_by_value(tf.cast(actions, tf.float32), self.action_low, self.action_high)
            # the reset seed only matters for the copies whose episode ended, which nothing reads any more
            step = env.step(state, actions, self.seed)
            returns += tf.where(running, step.reward, tf.zeros_like(step.reward))  # Σ r_t over the episode
            running &= ~(step.terminated | step.truncated)
            return t + 1, step.state, step.observation, returns, running

        start = (tf.constant(0), state, observations, tf.zeros([episodes], tf.float64), tf.ones([episodes], tf.bool))
        _, _, _, returns, _ = tf.while_loop(
            lambda t, state, observations, returns, running: (t < env.max_episode_steps) & tf.reduce_any(running),
            one_step,
            start,
        )
        return returns
