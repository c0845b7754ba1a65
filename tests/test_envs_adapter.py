"""The gymnasium adapter (tf_gae.envs.adapter.GymnasiumEnv) against gymnasium itself.

The reference is a second vector env of the same id, stepped directly with the same seed and actions:
the adapter must return what it returns (observations as float32, rewards as float64, the flags, the
episode's last observation at every end) eagerly and inside a graph, count `elapsed` as the steps of the
current episode, and let an error raised by the environment inside a graph call reach the caller as itself.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from tf_gae._tf import tf
from tf_gae.envs.adapter import GymnasiumEnv, NonFiniteObservation
from tf_gae.envs.core import EnvState
from tf_gae.models import build_actor_critic
from tf_gae.rollout import RolloutCollector, make_vector_env

from .envs import register_test_envs

register_test_envs()

# CartPole with a 15-step limit: a random policy's episodes end by termination (~20 steps on average) and by
# truncation, so both ends are crossed; Pendulum (limit 200) for float actions and truncation alone.
SHORT_CARTPOLE = "AdapterShortCartPole-v1"
if SHORT_CARTPOLE not in gym.registry:
    gym.register(SHORT_CARTPOLE, entry_point="gymnasium.envs.classic_control:CartPoleEnv", max_episode_steps=15)


def reference_steps(env_id: str, num_envs: int, seed: int, actions: np.ndarray) -> list[dict[str, np.ndarray]]:
    """gymnasium's own vector env, stepped directly: what each step returns, and the steps of each episode."""
    env = SyncVectorEnv([lambda: gym.make(env_id) for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP)
    observation, _ = env.reset(seed=seed)
    steps, elapsed = [dict(observation=observation)], np.zeros(num_envs, np.int64)
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        ended = terminated | truncated
        final = np.array(observation, copy=True)
        for i in np.flatnonzero(ended):
            final[i] = info["final_obs"][i]
        elapsed = np.where(ended, 0, elapsed + 1)
        steps.append(dict(observation=observation, reward=reward, terminated=terminated, truncated=truncated,
                          final_observation=final, elapsed=elapsed))  # fmt: skip
    env.close()
    return steps


def random_actions(env_id: str, num_envs: int, num_steps: int, seed: int) -> np.ndarray:
    space = gym.vector.utils.batch_space(gym.make(env_id).action_space, num_envs)
    space.seed(seed)
    return np.stack([space.sample() for _ in range(num_steps)])


def assert_step_equal(ours, theirs: dict[str, np.ndarray], index: int) -> None:
    np.testing.assert_array_equal(ours.observation.numpy(), theirs["observation"].astype(np.float32), err_msg=str(index))
    np.testing.assert_array_equal(ours.final_observation.numpy(), theirs["final_observation"].astype(np.float32))
    assert ours.reward.dtype == tf.float64 and ours.observation.dtype == tf.float32
    np.testing.assert_array_equal(ours.reward.numpy(), theirs["reward"])
    np.testing.assert_array_equal(ours.terminated.numpy(), theirs["terminated"])
    np.testing.assert_array_equal(ours.truncated.numpy(), theirs["truncated"])
    np.testing.assert_array_equal(ours.state.elapsed.numpy(), theirs["elapsed"])
    assert ours.state.physics.shape == (len(theirs["reward"]), 0)  # the physics lives in gymnasium's objects


@pytest.mark.parametrize("env_id", [SHORT_CARTPOLE, "Pendulum-v1"])
@pytest.mark.parametrize("in_a_graph", [False, True], ids=["eager", "graph"])
def test_the_adapter_returns_what_gymnasium_returns(env_id, in_a_graph):
    num_envs, num_steps, seed = 4, 450, 11
    actions = random_actions(env_id, num_envs, num_steps, seed=3)
    theirs = reference_steps(env_id, num_envs, seed, actions)
    ends = {name: sum(int(step[name].sum()) for step in theirs[1:]) for name in ("terminated", "truncated")}
    assert ends["truncated"] >= 4 and (ends["terminated"] >= 10 or env_id == "Pendulum-v1"), ends  # both ends met
    env = GymnasiumEnv(make_vector_env(env_id, num_envs))
    step_function = env.step if not in_a_graph else tf.function(env.step)
    try:
        state, observation = env.reset(seed, num_envs)
        np.testing.assert_array_equal(observation.numpy(), theirs[0]["observation"].astype(np.float32))
        key = tf.constant([5, 6])  # not read: gymnasium draws its new episodes itself
        for index, action in enumerate(actions):
            step = step_function(state, tf.constant(action) if in_a_graph else action, key)  # eager: NumPy too
            assert_step_equal(step, theirs[index + 1], index)
            state = step.state
    finally:
        env.close()


def test_a_stateless_key_is_one_31_bit_gymnasium_seed_and_an_integer_is_itself():
    env = GymnasiumEnv(make_vector_env("CartPole-v1", 2))
    reference = make_vector_env("CartPole-v1", 2)
    assert (env.id, env.max_episode_steps, env.observation_size) == ("CartPole-v1", 500, 4)  # the registry's
    try:
        # (a + 2³²·b) mod (2³¹ − 2): 2³² ≡ 4 and 2³² − 1 ≡ 3 modulo 2³¹ − 2
        for seed, gymnasium_seed in ((7, 7), ([7, 0], 7), ([5, 1], 9), ([-1, 0], 3)):
            expected, _ = reference.reset(seed=gymnasium_seed)
            _, observation = env.reset(seed, 2)
            np.testing.assert_array_equal(observation.numpy(), expected)
    finally:
        env.close()
        reference.close()


def test_the_adapter_refuses_what_it_cannot_serve():
    next_step = SyncVectorEnv([lambda: gym.make("CartPole-v1")], autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="same step.*make_vector_env"):
        GymnasiumEnv(next_step)
    next_step.close()
    env = GymnasiumEnv(make_vector_env("CartPole-v1", 2))
    with pytest.raises(ValueError, match="num_envs must be the vector env's 2, got 3"):
        env.reset(0, 3)
    env.close()


def test_an_error_inside_the_graph_reaches_the_caller_as_itself():
    env = make_vector_env("NaNObservation-v0", 2)  # its observation turns NaN after 50 steps
    model = build_actor_critic(env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(env, model, num_steps=80, seed=0)
    assert isinstance(collector.env, GymnasiumEnv) and not collector.env.in_graph
    with pytest.raises(NonFiniteObservation, match="step returned a non-finite observation"):
        collector.collect()
    with pytest.raises(NonFiniteObservation, match="step returned"):  # and eagerly, as itself too
        collector.env.step(EnvState(collector.physics, collector.elapsed), tf.zeros([2], tf.int32), [0, 0])
    collector.env.close()


def test_a_collector_on_the_adapter_checkpoints_no_episodes_and_starts_fresh_ones():
    env = make_vector_env("CartPole-v1", 3)
    model = build_actor_critic(env.single_observation_space, env.single_action_space)
    reference = make_vector_env("CartPole-v1", 3)
    collector = RolloutCollector(env, model, num_steps=5, seed=0)  # resets nothing: `start` or first use does
    collector.collect()
    assert collector.state_variables() == {}  # gymnasium's episodes live in Python, outside any checkpoint
    collector.start(seed=4)  # a resumed run: fresh episodes from the seed, the running sums at 0
    np.testing.assert_array_equal(collector.observations.numpy(), reference.reset(seed=4)[0])
    assert not collector.running_lengths.numpy().any() and not collector.elapsed.numpy().any()
    collector.env.close()
    reference.close()


class LegacySeeded(gym.Env):
    """An environment seeding NumPy's legacy generator, which refuses seeds of 2³² and more (as older code does)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.random = np.random.RandomState(seed)  # ValueError for seed ≥ 2³²
        return self.random.uniform(-1, 1, size=(1,)).astype(np.float32), {}

    def step(self, action):
        return self.random.uniform(-1, 1, size=(1,)).astype(np.float32), 1.0, False, False, {}


LEGACY_SEEDED = "AdapterLegacySeeded-v0"
if LEGACY_SEEDED not in gym.registry:
    gym.register(LEGACY_SEEDED, entry_point=LegacySeeded, max_episode_steps=6)


def test_episodic_resets_draw_seeds_that_older_seeders_accept():
    # every rollout of an episodic collector resets from a key drawn from its generator: 2 × 64-bit keys per
    # rollout would be ≥ 2³² almost always; the adapter maps each to a seed below 2³¹ − B
    env = make_vector_env(LEGACY_SEEDED, 3)
    model = build_actor_critic(env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(env, model, num_steps=6, seed=0, episodic=True)
    for _ in range(5):
        assert collector.collect().episode_lengths == [6, 6, 6]
    collector.env.close()


def test_a_wrapped_vector_env_is_accepted():
    # gymnasium's vector wrappers keep the autoreset mode in metadata, not as an attribute
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    env = GymnasiumEnv(RecordEpisodeStatistics(make_vector_env("CartPole-v1", 2)))
    state, _ = env.reset(0, 2)
    step = env.step(state, np.zeros(2, np.int32), None)
    np.testing.assert_array_equal(step.reward.numpy(), [1.0, 1.0])
    assert env.id == "CartPole-v1"
    env.close()


class NaNAtReset(LegacySeeded):
    def reset(self, *, seed=None, options=None):
        observation, info = super().reset(seed=seed)
        return np.full_like(observation, np.nan), info


NAN_AT_RESET = "AdapterNaNAtReset-v0"
if NAN_AT_RESET not in gym.registry:
    gym.register(NAN_AT_RESET, entry_point=NaNAtReset, max_episode_steps=6)


def test_a_non_finite_reset_stops_training_with_the_clear_message_not_the_constructor():
    from tf_gae.trainers import A2CConfig, A2CTrainer, TrainingDiverged

    trainer = A2CTrainer(A2CConfig(env_id=NAN_AT_RESET, num_envs=2, n_steps=4, total_steps=16))  # no reset yet
    try:
        with pytest.raises(TrainingDiverged, match="reset returned a non-finite observation"):
            trainer.train()
    finally:
        trainer.close()
