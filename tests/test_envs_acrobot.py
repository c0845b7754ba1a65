"""tf_gae.envs.acrobot against gymnasium's AcrobotEnv: steps, the goal height, wrap and bound.

Tolerances are those of tests/test_envs.py (its module docstring). Our arithmetic is gymnasium's, operation
for operation, with one exception: gymnasium squares with NumPy's scalar `x**2`, which calls libm's
`pow` and is one unit in the last place off the exactly rounded x·x about once in a thousand squares;
ours is `tf.square`, the exactly rounded x·x. The next physics then differ by a few ulps of numbers of
order 10 (≲ 3e-14, measured), far below PHYSICS_ATOL = 1e-12, which is kept unchanged.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import acrobot as gym_acrobot

import tf_gae.envs
from tests.test_envs import PHYSICS_ATOL, compare_sequence, one_step
from tf_gae._tf import tf
from tf_gae.envs.acrobot import bound, wrap
from tf_gae.envs.core import uniform

MAX_VELOCITY = np.array([4 * np.pi, 9 * np.pi])  # gymnasium's MAX_VEL_1, MAX_VEL_2
STATE_HIGH = np.array([np.pi, np.pi, *MAX_VELOCITY])


def acrobot_start(rng: np.random.Generator) -> np.ndarray:
    """States across the whole state space: angles in [−π, π], velocities within the bounds, and each
    velocity, three times in ten, within 1e-3 of a bound (where the step's clipping comes into play)."""
    state = rng.uniform(-STATE_HIGH, STATE_HIGH)
    near_bound = rng.random(2) < 0.3
    at_bound = rng.choice([-1.0, 1.0], 2) * (MAX_VELOCITY - rng.uniform(0, 1e-3, 2))
    state[2:] = np.where(near_bound, at_bound, state[2:])
    return state


# ------------------------------------------------------------------ whole sequences


def test_acrobot_steps_as_gymnasium_from_its_resets():
    ends = compare_sequence("Acrobot-v1", steps=3000, seed=2)
    # random torques from hanging down rarely reach the goal: episodes end, mostly by the time limit
    assert ends["terminated"] + ends["truncated"] >= 4


def test_acrobot_steps_as_gymnasium_across_the_state_space():
    ends = compare_sequence("Acrobot-v1", steps=3000, seed=3, start=acrobot_start)
    assert ends["terminated"] > 50  # from whole-space starts the goal is reached often


def test_reset_draws_float32_numbers_in_gymnasiums_box():
    # gymnasium keeps its uniform draws as float32 (`.astype(np.float32)`) until the first step
    theirs = gym.make("Acrobot-v1")
    theirs.reset(seed=0)
    assert theirs.unwrapped.state.dtype == np.float32
    env = tf_gae.envs.make("Acrobot-v1")
    state, observation = env.reset(seed=[4, 5], num_envs=1000)
    physics = state.physics.numpy()
    assert physics.dtype == np.float64
    np.testing.assert_array_equal(physics, physics.astype(np.float32).astype(np.float64))
    draws = uniform(tf.constant([4, 5], tf.int32), 1000, [-0.1] * 4, [0.1] * 4).numpy()
    np.testing.assert_array_equal(physics, draws.astype(np.float32).astype(np.float64))
    assert np.all(np.abs(physics) <= np.float32(0.1))
    assert all(env.observation_space.contains(o) for o in observation.numpy())


# ------------------------------------------------------------------ the goal height


def their_step(physics: np.ndarray, action: int) -> tuple[float, float, bool]:
    """gymnasium's step from `physics`: (tip height −cos θ₁ − cos(θ₂ + θ₁) after it, reward, terminated)."""
    theirs = gym_acrobot.AcrobotEnv()
    theirs.reset(seed=0)
    theirs.state = np.array(physics, np.float64)
    _, reward, terminated, _, _ = theirs.step(action)
    s = theirs.state
    return float(-np.cos(s[0]) - np.cos(s[1] + s[0])), reward, terminated


@pytest.mark.parametrize("theta2, action, side", [(0.0, 1, 1), (0.0, 1, -1), (0.4, 2, 1), (-0.7, 0, -1), (1.3, 0, 1)])
def test_terminates_exactly_past_the_goal_height(theta2, action, side):
    """From rest at θ₁ (θ₂ fixed, on the side θ₁ > 0 or < 0), bisect θ₁ until two starts whose tip ends the
    step within 1e-9 below and above the goal height 1; both must end as gymnasium's do."""

    def height(theta1: float) -> float:
        return their_step(np.array([theta1, theta2, 0.0, 0.0]), action)[0]

    grid = side * np.linspace(0.0, np.pi, 400)
    heights = np.array([height(t) for t in grid])
    crossing = int(np.argmax(heights > 1.0))  # the first start (from hanging down) whose step ends above
    assert crossing > 0, "no start on this side reaches the goal height"
    below, above = grid[crossing - 1], grid[crossing]
    while not (height(below) > 1.0 - 1e-9 and height(above) < 1.0 + 1e-9):
        middle = 0.5 * (below + above)
        if height(middle) > 1.0:
            above = middle
        else:
            below = middle
    env = tf_gae.envs.make("Acrobot-v1")
    for theta1, expected in [(below, False), (above, True)]:
        physics = np.array([theta1, theta2, 0.0, 0.0])
        tip, reward, terminated = their_step(physics, action)
        assert abs(tip - 1.0) < 1e-9 and terminated == expected and reward == (0.0 if expected else -1.0)
        step = one_step(env, physics, 0, action)
        assert bool(step.terminated.numpy()[0]) == expected, (theta1, tip)
        assert float(step.reward.numpy()[0]) == reward


# ------------------------------------------------------------------ wrap and bound


def test_wrap_is_gymnasiums_repeated_subtraction():
    pi = np.pi
    values = [0.0, pi, -pi, np.nextafter(pi, 4), np.nextafter(-pi, -4), 3 * pi, -3 * pi, 3 * pi + 1e-9, 2 * pi,
              -2 * pi, 7 * pi + 0.1, -7.5 * pi, 100.0, -1000.0, 1e3 + 0.3, np.inf, -np.inf, np.nan]  # fmt: skip
    values = np.array(values + list(np.random.default_rng(4).uniform(-60, 60, 200)))
    expected = np.array([gym_acrobot.wrap(v, -pi, pi) if np.isfinite(v) else v for v in values])  # theirs never ends at ±inf
    eager = wrap(tf.constant(values), -math.pi, math.pi).numpy()
    compiled = tf.function(lambda x: wrap(x, -math.pi, math.pi), jit_compile=True)(tf.constant(values)).numpy()
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(compiled, expected)
    assert np.all(np.abs(eager[np.isfinite(values)]) <= pi)


def test_bound_is_gymnasiums_min_of_max():
    high = 4 * np.pi
    values = np.array([0.0, high, -high, np.nextafter(high, 20), np.nextafter(-high, -20), 20.0, -20.0, 1e300,
                       np.inf, -np.inf, np.nan, -0.0])  # fmt: skip
    expected = np.array([gym_acrobot.bound(v, -high, high) for v in values])
    np.testing.assert_array_equal(bound(tf.constant(values), -high, high).numpy(), expected)


def test_a_step_wraps_and_bounds_as_gymnasium_from_outside_the_state_space():
    """Angles far past ±π (several turns to wrap) and velocities up to one and a half times the bounds
    (beyond that the step's accelerations explode, and angles of 10⁴ take thousands of eager wrap turns)."""
    rng = np.random.default_rng(5)
    starts = rng.uniform(-1.5 * STATE_HIGH, 1.5 * STATE_HIGH, size=(300, 4))
    starts[:100, :2] = rng.uniform(-40, 40, size=(100, 2))
    actions = rng.integers(0, 3, 300)
    after, flags = [], []
    for physics, action in zip(starts, actions):
        theirs = gym_acrobot.AcrobotEnv()
        theirs.reset(seed=0)
        theirs.state = physics.copy()
        flags.append(theirs.step(int(action))[2])
        after.append(np.array(theirs.state))
    after = np.array(after)
    env = tf_gae.envs.make("Acrobot-v1")
    next_physics, _, terminated = env.dynamics(tf.constant(starts), tf.constant(actions))
    next_physics = next_physics.numpy()
    np.testing.assert_allclose(next_physics, after, rtol=0, atol=PHYSICS_ATOL)
    np.testing.assert_array_equal(terminated.numpy(), flags)
    clipped = np.abs(after[:, 2:]) == MAX_VELOCITY  # gymnasium clipped these: ours must be the bound itself
    assert clipped.sum() > 100
    np.testing.assert_array_equal(next_physics[:, 2:][clipped], after[:, 2:][clipped])
    assert np.all(np.abs(next_physics[:, :2]) <= np.pi) and np.all(np.abs(next_physics[:, 2:]) <= MAX_VELOCITY)
