"""tf_gae.envs against gymnasium itself: the same state and action give the same step.

Each task is stepped by gymnasium's own environment (`gym.make(id)`, TimeLimit included) and by ours
from the very same state: for long random action sequences, every step starts ours from gymnasium's
current state (physics and elapsed steps), so rounding never accumulates and each step is compared on
its own. Next physics must agree to float64 rounding (a few units in the last place of numbers of order
1–10; the tolerance 1e-12 is orders of magnitude below it and below any wrong constant or operation,
which moves a step by ≥ 1e-6), observations to float32 rounding, rewards likewise, and the flags exactly.
States right at the termination thresholds and the time limit are checked on their own.
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np
import pytest

import tf_gae.envs
from tf_gae._tf import tf
from tf_gae.envs import EnvState

PHYSICS_ATOL = 1e-12  # float64: see the module docstring
OBSERVATION_RTOL = 2**-22  # two float32 ulps, relative
OBSERVATION_ATOL = 1e-7


def widen_box_sampling(monkeypatch) -> list:
    """Make gymnasium's `Box.sample` draw uniformly from three times the box (two thirds of the draws beyond
    the bounds the environment clips to), so compare_sequence steps gymnasium's env with such actions too.
    Returns the list the draws are appended to."""
    drawn = []

    def wide_sample(space, mask=None, probability=None):
        drawn.append(space.np_random.uniform(3 * space.low, 3 * space.high).astype(space.dtype))
        return drawn[-1]

    monkeypatch.setattr(gym.spaces.Box, "sample", wide_sample)
    return drawn


def one_step(env, physics: np.ndarray, elapsed: int, action) -> tf_gae.envs.Step:
    state = EnvState(tf.constant(physics[None], tf.float64), tf.constant([elapsed], tf.int32))
    return env.step(state, tf.constant(np.asarray(action)[None]), seed=7)


def compare_sequence(
    env_id: str,
    steps: int,
    seed: int,
    start: Callable[[np.random.Generator], np.ndarray] | None = None,
    reward_atol: float = 1e-12,
):
    """`steps` random actions in gymnasium's env (TimeLimit included); then every one of those steps replayed
    in ours from gymnasium's state before it, all in one batched call. Returns how many episodes ended how."""
    ours = tf_gae.envs.make(env_id)
    theirs = gym.make(env_id)
    theirs.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    theirs.reset(seed=seed)
    if start is not None:
        theirs.unwrapped.state = start(rng)
    before, elapsed, actions, after, observations, rewards, flags = [], [], [], [], [], [], []
    count = 0
    for _ in range(steps):
        before.append(np.array(theirs.unwrapped.state, np.float64))
        elapsed.append(count)
        actions.append(theirs.action_space.sample())
        observation, reward, terminated, truncated, _ = theirs.step(actions[-1])
        after.append(np.array(theirs.unwrapped.state, np.float64))
        observations.append(observation)
        rewards.append(reward)
        flags.append((terminated, truncated))
        count += 1
        if terminated or truncated:
            theirs.reset(seed=int(rng.integers(2**31)))
            if start is not None:
                theirs.unwrapped.state = start(rng)
            count = 0
    theirs.close()
    state = EnvState(tf.constant(np.array(before), tf.float64), tf.constant(elapsed, tf.int32))
    step = ours.step(state, tf.constant(np.array(actions)), seed=7)
    next_physics, _, _ = ours.dynamics(state.physics, tf.constant(np.array(actions)))  # before any autoreset
    np.testing.assert_allclose(next_physics.numpy(), np.array(after), rtol=0, atol=PHYSICS_ATOL)
    np.testing.assert_allclose(step.final_observation.numpy(), np.array(observations), rtol=OBSERVATION_RTOL, atol=OBSERVATION_ATOL)
    np.testing.assert_allclose(step.reward.numpy(), np.array(rewards, np.float64), rtol=0, atol=reward_atol)
    flags = np.array(flags)
    np.testing.assert_array_equal(step.terminated.numpy(), flags[:, 0])
    np.testing.assert_array_equal(step.truncated.numpy(), flags[:, 1])
    ended = flags.any(axis=1)
    np.testing.assert_array_equal(step.state.elapsed.numpy(), np.where(ended, 0, np.array(elapsed) + 1))
    return dict(terminated=int(flags[:, 0].sum()), truncated=int((flags[:, 1] & ~flags[:, 0]).sum()))


# ------------------------------------------------------------------ CartPole-v1


def cartpole_start(rng: np.random.Generator) -> np.ndarray:
    """States across the whole non-terminal region, not just gymnasium's ±0.05 start box."""
    return rng.uniform([-2.4, -3.0, -0.2, -3.0], [2.4, 3.0, 0.2, 3.0])


@pytest.mark.parametrize("start", [None, cartpole_start], ids=["gymnasium-resets", "whole-region"])
def test_cartpole_steps_as_gymnasium(start):
    ends = compare_sequence("CartPole-v1", steps=3000, seed=1, start=start)
    assert ends["terminated"] > 5  # the comparison saw episodes end, not just the middle of one


def test_cartpole_terminates_exactly_past_the_thresholds():
    env = tf_gae.envs.make("CartPole-v1")
    threshold_x, threshold_theta = 2.4, 12 * 2 * np.pi / 360
    # Zero velocities leave x and θ unchanged by the Euler step, so each state sits exactly where it starts.
    cases = [
        ([threshold_x, 0, 0, 0], False),
        ([np.nextafter(threshold_x, np.inf), 0, 0, 0], True),
        ([-threshold_x, 0, 0, 0], False),
        ([np.nextafter(-threshold_x, -np.inf), 0, 0, 0], True),
        ([0, 0, threshold_theta, 0], False),
        ([0, 0, np.nextafter(threshold_theta, np.inf), 0], True),
        ([0, 0, -threshold_theta, 0], False),
        ([0, 0, np.nextafter(-threshold_theta, -np.inf), 0], True),
    ]
    theirs = gym.make("CartPole-v1")
    theirs.reset(seed=0)
    for physics, expected in cases:
        theirs.unwrapped.state = np.array(physics, np.float64)
        theirs.unwrapped.steps_beyond_terminated = None
        _, _, terminated, _, _ = theirs.step(0)
        step = one_step(env, np.array(physics, np.float64), 0, 0)
        assert terminated == expected and bool(step.terminated.numpy()[0]) == expected, physics


# ------------------------------------------------------------------ every task


@pytest.mark.parametrize("env_id", tf_gae.envs.registered())
def test_spaces_and_time_limit_are_gymnasiums(env_id):
    ours, theirs = tf_gae.envs.make(env_id), gym.make(env_id)
    assert ours.observation_space == theirs.observation_space and ours.action_space == theirs.action_space
    assert ours.max_episode_steps == theirs.spec.max_episode_steps
    theirs.reset(seed=0)
    assert len(np.asarray(theirs.unwrapped.state)) == ours.physics_size


@pytest.mark.parametrize("env_id", tf_gae.envs.registered())
def test_the_time_limit_truncates_and_autoreset_keeps_the_final_observation(env_id):
    env = tf_gae.envs.make(env_id)
    state, observation = env.reset(seed=3, num_envs=4)
    assert observation.shape == (4, env.observation_size) and observation.dtype == tf.float32
    assert all(env.observation_space.contains(o) for o in observation.numpy())
    # two copies one step from the limit, two far from it
    state = state._replace(elapsed=tf.constant([env.max_episode_steps - 1, env.max_episode_steps - 1, 0, 5]))
    action = tf.constant(np.stack([env.action_space.sample() for _ in range(4)]))
    step = env.step(state, action, seed=11)
    truncated = step.truncated.numpy()
    np.testing.assert_array_equal(truncated, [True, True, False, False])
    done = truncated | step.terminated.numpy()
    np.testing.assert_array_equal(step.state.elapsed.numpy(), np.where(done, 0, [0, 0, 1, 6]))
    # where an episode ended, the observation is a fresh start and the final one is the step's own
    _, fresh = env.reset(seed=11, num_envs=4)
    np.testing.assert_array_equal(step.observation.numpy()[done], fresh.numpy()[done])
    np.testing.assert_array_equal(step.observation.numpy()[~done], step.final_observation.numpy()[~done])
    expected_final = env.observe(env.dynamics(state.physics, action)[0])
    np.testing.assert_array_equal(step.final_observation.numpy(), expected_final.numpy())


@pytest.mark.parametrize("env_id", tf_gae.envs.registered())
def test_reset_is_a_pure_function_of_the_seed_and_compiles(env_id):
    env = tf_gae.envs.make(env_id)
    first, _ = env.reset(seed=[5, 6], num_envs=16)
    again, _ = env.reset(seed=[5, 6], num_envs=16)
    other, _ = env.reset(seed=[5, 7], num_envs=16)
    np.testing.assert_array_equal(first.physics.numpy(), again.physics.numpy())
    assert not np.array_equal(first.physics.numpy(), other.physics.numpy())

    @tf.function(jit_compile=True)
    def rollout(state, seed):
        actions = tf.zeros([16], tf.int32) if env.action_space.dtype.kind == "i" else tf.zeros([16, *env.action_space.shape])
        total = tf.zeros([16], tf.float64)
        for t in tf.range(50):
            step = env.step(state, tf.cast(actions, env.action_space.dtype.name), tf.stack([seed, t]))
            state, total = step.state, total + step.reward
        return state, total

    state, total = rollout(first, tf.constant(1))
    eager_state = first
    eager_total = np.zeros(16)
    for t in range(50):
        action = np.zeros([16], env.action_space.dtype) if env.action_space.dtype.kind == "i" else np.zeros([16, *env.action_space.shape], env.action_space.dtype)
        step = env.step(eager_state, tf.constant(action), tf.constant([1, t]))
        eager_state, eager_total = step.state, eager_total + step.reward.numpy()
    # XLA may contract or reorder float64 operations: rounding (~1e-16 a step, amplified over 50 steps by
    # at most a few orders of magnitude) separates the two, a wrong step or seed moves physics by ≥ 1e-3.
    np.testing.assert_allclose(state.physics.numpy(), eager_state.physics.numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(total.numpy(), eager_total, rtol=0, atol=1e-9)


def test_an_id_without_an_in_graph_version_is_refused_naming_those_with_one():
    with pytest.raises(ValueError, match="'HalfCheetah-v5' has no in-graph version; those that do: .*CartPole-v1"):
        tf_gae.envs.make("HalfCheetah-v5")


@pytest.mark.parametrize("seed", [[1, 2, 3], 1.5, "seed", [0.5, 1.0]])
def test_a_seed_that_is_not_one_or_two_integers_is_refused(seed):
    env = tf_gae.envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="seed must be an integer or two integers"):
        env.reset(seed=seed, num_envs=2)
