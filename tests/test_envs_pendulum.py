"""tf_gae.envs' Pendulum-v1 against gymnasium itself (the method: tests/test_envs.py).

Long random sequences, replayed step by step from gymnasium's states: from its own resets, from states over
the whole region (θ over a full turn, θ̇ up to its clip at ±8), and with torques far beyond the clip at ±2,
which gymnasium's `action_space.sample()` never draws. Then the clips themselves, exactly: θ̇ landing beyond
±8, at 8, just under it; torques at, just beyond and far beyond ±2; the angle wrap of the cost.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import tf_gae.envs
from tests.test_envs import compare_sequence, widen_box_sampling
from tf_gae._tf import tf

ENV_ID = "Pendulum-v1"
# The physics is compared exactly here. The cost's squares are NumPy's `x**2`, the C library's pow, which
# can be an ulp from the correctly rounded x·x computed here: in float32, an ulp of u² ≤ 4 is 2⁻²¹, so
# 0.001u² can differ by 2⁻²¹ · 0.001 < 5e-10; in float64 the squares' ulps sum to < 1e-14. Hence 1e-9:
# a wrong coefficient or a missing term moves the reward by far more (0.001u² alone is up to 4e-3).
REWARD_ATOL = 1e-9


def whole_region(rng: np.random.Generator) -> np.ndarray:
    """θ anywhere on the circle, θ̇ anywhere up to its clip, not just gymnasium's [−π, π) × [−1, 1)."""
    return rng.uniform([-np.pi, -8.0], [np.pi, 8.0])


@pytest.mark.parametrize("start", [None, whole_region], ids=["gymnasium-resets", "whole-region"])
def test_pendulum_steps_as_gymnasium(start):
    ends = compare_sequence(ENV_ID, steps=3000, seed=3, start=start, reward_atol=REWARD_ATOL)
    assert ends == {"terminated": 0, "truncated": 15}  # never terminates; 3000 steps are 15 time limits


def test_pendulum_steps_as_gymnasium_with_torques_beyond_the_clip(monkeypatch):
    """gymnasium's env stepped with torques uniform in [−6, 6], two thirds of them beyond ±2: its
    `action_space.sample()` (what compare_sequence draws from) is widened to three times the box."""
    drawn = widen_box_sampling(monkeypatch)
    ends = compare_sequence(ENV_ID, steps=3000, seed=4, start=whole_region, reward_atol=REWARD_ATOL)
    assert ends == {"terminated": 0, "truncated": 15}
    assert np.sum(np.abs(np.array(drawn)) > 2.0) > 1500  # the clip was exercised


# ------------------------------------------------------------------ the clips, exactly


@functools.cache
def _gymnasium_env() -> gym.Env:
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    return env


def gymnasium_step(physics, torque) -> tuple[np.ndarray, float]:
    """gymnasium's PendulumEnv stepped once from `physics` (float64) with `torque`: (next state, reward)."""
    env = _gymnasium_env()
    env.state = np.array(physics, np.float64)
    _, reward, terminated, _, _ = env.step(np.array([torque], np.float32))
    assert not terminated
    return np.array(env.state, np.float64), float(reward)


def our_steps(physics: list, torques: list) -> tuple[np.ndarray, np.ndarray]:
    """Ours, all cases in one batch: (next physics [B, 2], reward [B])."""
    env = tf_gae.envs.make(ENV_ID)
    next_physics, reward, terminated = env.dynamics(
        tf.constant(np.array(physics, np.float64)), tf.constant(np.array(torques, np.float32)[:, None])
    )
    assert not terminated.numpy().any()
    return next_physics.numpy(), reward.numpy()


def test_angular_velocity_is_clipped_at_8_as_gymnasium():
    # θ̈ = 15 sin θ + 3u, θ̇' = θ̇ + 0.05 θ̈
    cases = [
        ([np.pi / 2, 7.9, 2.0], 8.0),  # 7.9 + 0.05·21 = 8.95: clipped
        ([-np.pi / 2, -7.9, -2.0], -8.0),
        ([0.0, 7.95, 1.0], 8.0),  # 7.95 + 0.15 = 8.1: clipped
        ([0.0, -7.95, -1.0], -8.0),
        ([0.0, 8.0, 0.0], 8.0),  # θ̈ = 0: stays exactly at the limit
        ([0.0, -8.0, 0.0], -8.0),
        ([np.pi / 2, 8.0, 2.0], 8.0),  # already at the limit, pushed further
        ([0.0, 7.8, 1.0], None),  # 7.8 + 0.15 = 7.95: inside, unclipped
        ([0.0, 7.85, 1.0], None),  # lands within rounding of 8
        ([0.0, -7.85, -1.0], None),
    ]
    physics = [case[:2] for case, _ in cases]
    torques = [case[2] for case, _ in cases]
    ours, our_rewards = our_steps(physics, torques)
    for (state, expected), next_physics, reward in zip(cases, ours, our_rewards):
        theirs, their_reward = gymnasium_step(state[:2], state[2])
        np.testing.assert_array_equal(next_physics, theirs, err_msg=str(state))
        assert reward == pytest.approx(their_reward, rel=0, abs=REWARD_ATOL), state
        if expected is not None:
            assert theirs[1] == expected, state
        else:
            assert abs(theirs[1]) <= 8.0, state


def test_torque_is_clipped_at_2_as_gymnasium():
    state = [1.0, 0.5]
    two = np.float32(2.0)
    beyond = [np.nextafter(two, np.float32(np.inf)), np.float32(2.5), np.float32(1e6), np.finfo(np.float32).max, np.float32(np.inf)]
    torques = [two, *beyond, -two, *(-b for b in beyond), np.nextafter(two, np.float32(0)), np.float32(0.0)]
    ours, our_rewards = our_steps([state] * len(torques), torques)
    for torque, next_physics, reward in zip(torques, ours, our_rewards):
        theirs, their_reward = gymnasium_step(state, torque)
        np.testing.assert_array_equal(next_physics, theirs, err_msg=str(torque))
        assert reward == pytest.approx(their_reward, rel=0, abs=REWARD_ATOL), torque
    # beyond the clip, the step is the one at ±2, in both
    for sign in (1, -1):
        at_clip = torques.index(sign * two)
        for torque in beyond:
            k = torques.index(sign * torque)
            np.testing.assert_array_equal(ours[k], ours[at_clip])
            assert our_rewards[k] == our_rewards[at_clip]


def test_the_cost_wraps_the_angle_as_gymnasium():
    # θₙ = ((θ + π) mod 2π) − π: at ±π, at whole turns, just either side of π, far out
    thetas = [np.pi, -np.pi, np.nextafter(np.pi, 4), np.nextafter(np.pi, 3), 2 * np.pi, 3 * np.pi, -3 * np.pi, 50.0, -50.0, 1e3, 0.0]
    physics = [[theta, 0.3] for theta in thetas]
    ours, our_rewards = our_steps(physics, [0.5] * len(thetas))
    for state, next_physics, reward in zip(physics, ours, our_rewards):
        theirs, their_reward = gymnasium_step(state, 0.5)
        np.testing.assert_array_equal(next_physics, theirs, err_msg=str(state))
        assert reward == pytest.approx(their_reward, rel=0, abs=REWARD_ATOL), state
