"""tf_gae.envs' MountainCar-v0 and MountainCarContinuous-v0 against gymnasium itself (the method:
tests/test_envs.py).

Long random sequences, replayed step by step from gymnasium's states: from its own resets (whose episodes
run into the time limit), from states over the whole track (velocities up to their clip; those near the
goal terminate), and for the continuous task from float32 states too and with actions far beyond the clip
at ±1, which gymnasium's `action_space.sample()` never draws. Then the thresholds, exactly: a position
landing exactly on the goal and one number below it, a velocity landing exactly on 0 there, the left wall
(overshot, landed on exactly, missed by one number), the velocity clip, the action clip. gymnasium's
continuous task computes in float32 once its state is float32 (after a step), so its thresholds are
checked in both precisions (see `tf_gae.envs.mountain_car.MountainCarContinuous.dynamics`), and compiled
by XLA its float32 arithmetic must stay the eager one exactly.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import tf_gae.envs
from tests.test_envs import compare_sequence, widen_box_sampling
from tf_gae._tf import tf

DISCRETE, CONTINUOUS = "MountainCar-v0", "MountainCarContinuous-v0"
F32 = np.float32


def whole_track(rng: np.random.Generator) -> np.ndarray:
    """Anywhere on the track at any speed (float64, as gymnasium's reset state), not just its start range."""
    return rng.uniform([-1.2, -0.07], [0.6, 0.07])


def whole_track_float32(rng: np.random.Generator) -> np.ndarray:
    """The same as float32 numbers, as gymnasium's continuous state is after any step."""
    return whole_track(rng).astype(np.float32)


def near_goal(rng: np.random.Generator) -> np.ndarray:
    """Either side of the goal, moving right: most of these episodes terminate within a few steps."""
    return rng.uniform([0.4, 0.0], [0.6, 0.07])


@pytest.mark.parametrize("env_id", [DISCRETE, CONTINUOUS])
def test_mountain_car_steps_as_gymnasium_from_its_resets(env_id):
    ends = compare_sequence(env_id, steps=3000, seed=5)
    # random actions never climb out of the valley: every episode meets the time limit (200 or 999 steps)
    assert ends == {"terminated": 0, "truncated": 3000 // tf_gae.envs.make(env_id).max_episode_steps}


@pytest.mark.parametrize(
    "env_id, start",
    [(DISCRETE, whole_track), (DISCRETE, near_goal), (CONTINUOUS, whole_track), (CONTINUOUS, whole_track_float32), (CONTINUOUS, near_goal)],
    ids=["discrete-whole-track", "discrete-near-goal", "continuous-whole-track", "continuous-whole-track-float32", "continuous-near-goal"],
)  # fmt: skip
def test_mountain_car_steps_as_gymnasium_from_across_the_track(env_id, start):
    ends = compare_sequence(env_id, steps=3000, seed=5, start=start)
    if start is near_goal:
        assert ends["terminated"] >= 100, ends
    else:  # some starts reach the goal, others run into the time limit
        assert ends["terminated"] >= 1 and ends["truncated"] >= 1, ends


def test_mountain_car_continuous_steps_as_gymnasium_with_actions_beyond_the_clip(monkeypatch):
    """gymnasium's env stepped with actions uniform in [−3, 3], two thirds of them beyond ±1: its
    `action_space.sample()` (what compare_sequence draws from) is widened to three times the box."""
    drawn = widen_box_sampling(monkeypatch)
    for start in (None, whole_track):
        compare_sequence(CONTINUOUS, steps=3000, seed=6, start=start)
    assert np.sum(np.abs(np.array(drawn)) > 1.0) > 3000  # the clip was exercised


# ------------------------------------------------------------------ the thresholds, exactly


@functools.cache
def _gymnasium_env(env_id: str) -> gym.Env:
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    return env


def gymnasium_step(env_id: str, physics: np.ndarray, action) -> tuple[np.ndarray, float, bool]:
    """gymnasium's env stepped once from `physics` (float64 or float32: the continuous task computes in
    that precision) with `action`: (next state in float64, reward, terminated)."""
    env = _gymnasium_env(env_id)
    env.state = physics.copy()
    if env_id == CONTINUOUS:
        action = np.array([action], np.float32)
    _, reward, terminated, _, _ = env.step(action)
    return np.array(env.state, np.float64), float(reward), bool(terminated)


def assert_steps_as_gymnasium(env_id: str, cases: list[tuple[np.ndarray, object]]) -> list[tuple[np.ndarray, float, bool]]:
    """Ours (all cases in one batch) and gymnasium's step from each (state, action): the same next physics,
    reward and termination, exactly. Returns gymnasium's."""
    env = tf_gae.envs.make(env_id)
    physics = tf.constant(np.array([state.astype(np.float64) for state, _ in cases]))
    actions = np.array([action for _, action in cases])
    actions = tf.constant(actions[:, None].astype(np.float32) if env_id == CONTINUOUS else actions)
    next_physics, rewards, terminated = (t.numpy() for t in env.dynamics(physics, actions))
    theirs = [gymnasium_step(env_id, state, action) for state, action in cases]
    for (state, action), ours, their in zip(cases, zip(next_physics, rewards, terminated), theirs):
        np.testing.assert_array_equal(ours[0], their[0], err_msg=f"{state!r}, {action!r}")
        assert (ours[1], bool(ours[2])) == their[1:], (state, action, ours, their)
    return theirs


def start_landing_on(env_id: str, target: float, velocity: float, action, dtype=np.float64) -> np.ndarray:
    """A state (x, velocity) of `dtype` from which gymnasium's step lands exactly on position `target`, as
    its own arithmetic gives it, x' = x + (v + Δv(x)) in `dtype`, not by a clip. Δv(x) (push and pull) is
    read off gymnasium's step from rest at x, exact here (float64, or the continuous task with action 0 in
    float32); x settles by fixed-point iteration (Δv varies with x by at most 0.0075 per unit), then is
    scanned over its neighbours in `dtype`."""

    def pull(x):  # Δv at x: from rest, gymnasium's next velocity 0 + Δv is Δv itself
        return dtype(gymnasium_step(env_id, np.array([x, 0.0], dtype), action)[0][1])

    target, velocity = dtype(target), dtype(velocity)
    x = target - velocity
    for _ in range(10):
        x = target - (velocity + pull(x))
    candidates, below, above = [x], x, x
    for _ in range(64):
        below, above = np.nextafter(below, dtype(-2)), np.nextafter(above, dtype(2))
        candidates += [below, above]
    for candidate in candidates:
        if candidate + (velocity + pull(candidate)) == target:  # gymnasium's x' = x + v', v' = v + Δv
            return np.array([candidate, velocity], dtype)
    raise AssertionError(f"no start lands on {target!r}")


def test_mountain_car_terminates_exactly_at_the_goal():
    goal, below_goal = 0.5, np.nextafter(0.5, 0)
    # action 1 does not push: from (0.5, −Δv) the velocity lands exactly on 0, from one number lower just below
    pull = gymnasium_step(DISCRETE, np.array([goal, 0.0]), 1)[0][1]  # Δv = −0.0025 cos 1.5
    cases = [
        (start_landing_on(DISCRETE, goal, 0.04, 2), 2),  # lands on 0.5 moving right: terminated
        (start_landing_on(DISCRETE, below_goal, 0.04, 2), 2),  # one number below: not
        (np.array([goal, -pull]), 1),  # stays on 0.5 with velocity exactly 0 (≥ goal_velocity): terminated
        (np.array([goal, np.nextafter(-pull, -1)]), 1),  # velocity just below 0: not
        (np.array([0.59, 0.06]), 2),  # runs into the right end, clipped to 0.6: terminated
    ]
    theirs = assert_steps_as_gymnasium(DISCRETE, cases)
    assert [terminated for _, _, terminated in theirs] == [True, False, True, False, True]
    assert [next_physics[0] for next_physics, _, _ in theirs] == [goal, below_goal, goal, goal, 0.6]
    assert theirs[2][0][1] == 0.0 and theirs[3][0][1] < 0.0


def test_mountain_car_stops_at_the_left_wall_and_clips_the_velocity():
    cases = [
        (np.array([-1.19, -0.05]), 0),  # overshoots the wall: clipped to −1.2, stopped
        (start_landing_on(DISCRETE, -1.2, -0.05, 0), 0),  # lands exactly on −1.2, unclipped: stopped
        (start_landing_on(DISCRETE, np.nextafter(-1.2, 0), -0.05, 0), 0),  # one number right of it: rolls on
        (np.array([-1.0, 0.069]), 2),  # 0.069 + 0.001 + 0.00247 > 0.07: clipped
        (np.array([0.0, -0.069]), 0),  # −0.069 − 0.001 − 0.0025 < −0.07: clipped
        (np.array([-1.0, 0.066]), 2),  # 0.06947…: inside
    ]
    theirs = assert_steps_as_gymnasium(DISCRETE, cases)
    positions, velocities = zip(*(next_physics for next_physics, _, _ in theirs))
    assert positions[:3] == (-1.2, -1.2, np.nextafter(-1.2, 0))
    assert velocities[:2] == (0.0, 0.0) and velocities[2] < 0
    assert velocities[3:5] == (0.07, -0.07) and 0 < velocities[5] < 0.07


def test_mountain_car_continuous_terminates_exactly_at_the_goal_in_float64():
    """A float64 state (a reset's): the step is float64 and lands on 0.45 itself. With action 0 the push
    is 0 and Δv = −float32(0.0025 cos 3x), a float32 number: v = 2⁻⁵ − Δv gives v' = 2⁻⁵ exactly, and
    x = 0.45 − 2⁻⁵ then x' = 0.45 exactly (all in one binade, so every difference is exact)."""
    cases = []
    for target in (0.45, np.nextafter(0.45, 0)):
        x = target - 2.0**-5
        assert x + 2.0**-5 == target and float(F32(x)) != x  # exact, and not a float32 number: a float64 state
        dv = gymnasium_step(CONTINUOUS, np.array([x, 0.0]), 0.0)[0][1]
        assert F32(dv) == dv and (2.0**-5 - dv) + dv == 2.0**-5
        cases.append((np.array([x, 2.0**-5 - dv]), 0.0))
    theirs = assert_steps_as_gymnasium(CONTINUOUS, cases)
    assert [terminated for _, _, terminated in theirs] == [True, False]
    assert [reward for _, reward, _ in theirs] == [100.0, 0.0]


def test_mountain_car_continuous_terminates_exactly_at_the_goal_in_float32():
    """A float32 state (after any step): NumPy compares the float32 position with 0.45 rounded to float32,
    0.449999988…, below 0.45. A position landing on that number terminates; one float32 lower does not."""
    goal = F32(0.45)
    assert float(goal) < 0.45  # (float(): NumPy would compare in float32)
    pull = gymnasium_step(CONTINUOUS, np.array([0.5, 0.0], F32), 0.0)[0][1]  # Δv, float32
    cases = [
        (start_landing_on(CONTINUOUS, goal, 0.03, 0.0, F32), 0.0),  # on float32(0.45): terminated
        (start_landing_on(CONTINUOUS, np.nextafter(goal, F32(0)), 0.03, 0.0, F32), 0.0),  # one below: not
        (np.array([0.5, -pull], F32), 0.0),  # velocity lands exactly on 0: terminated
        (np.array([0.5, np.nextafter(F32(-pull), F32(-1))], F32), 0.0),  # just below 0: not
    ]
    theirs = assert_steps_as_gymnasium(CONTINUOUS, cases)
    assert [terminated for _, _, terminated in theirs] == [True, False, True, False]
    assert theirs[0][0][0] == goal and theirs[2][0][1] == 0.0 and theirs[3][0][1] < 0


def test_mountain_car_continuous_stops_at_the_left_wall_and_clips_the_velocity():
    wall = F32(-1.2)  # −1.20000005…: a float32 state stops there (float32(−1.2) == −1.2 in float32)
    cases = [
        (np.array([-1.19, -0.05]), 0.0),  # float64, overshoots: clipped and stopped
        (np.array([-1.19, -0.05], F32), 0.0),  # float32, overshoots
        (start_landing_on(CONTINUOUS, wall, -0.05, 0.0, F32), 0.0),  # lands exactly on float32(−1.2): stopped
        (start_landing_on(CONTINUOUS, np.nextafter(wall, F32(0)), -0.05, 0.0, F32), 0.0),  # one number right: rolls on
        (np.array([-1.0, 0.069]), 1.0),  # 0.069 + 0.0015 + 0.00247 > 0.07: clipped, float64
        (np.array([-1.0, 0.069], F32), 1.0),  # and float32
        (np.array([0.0, -0.069]), -1.0),
        (np.array([0.0, -0.069], F32), -1.0),
    ]
    theirs = assert_steps_as_gymnasium(CONTINUOUS, cases)
    positions, velocities = zip(*(next_physics for next_physics, _, _ in theirs))
    assert positions[:3] == (wall,) * 3 and positions[3] == np.nextafter(wall, F32(0))
    assert velocities[:3] == (0.0,) * 3 and velocities[3] < 0
    assert velocities[4:] == (F32(0.07),) * 2 + (F32(-0.07),) * 2


def test_mountain_car_continuous_clips_the_action_as_gymnasium():
    """Inside [−1, 1] gymnasium's push a·0.0015 is a float32 product; beyond, `min(max(a, −1.0), 1.0)`
    returns the Python float ±1.0 and the push is the float64 ±0.0015. The reward takes −0.1 a² of the
    action as given."""
    one = F32(1.0)
    actions = [one, np.nextafter(one, F32(2)), F32(1.5), F32(1e6), np.finfo(F32).max, F32(0.25), np.nextafter(one, F32(0))]
    actions += [-a for a in actions]
    states = [np.array([-0.5234, 0.0123]), np.array([-0.5234, 0.0123], F32), np.array([0.3, 0.06]), np.array([0.3, 0.06], F32)]
    theirs = assert_steps_as_gymnasium(CONTINUOUS, [(state, action) for state in states for action in actions])
    rewards = np.array([reward for _, reward, _ in theirs]).reshape(len(states), len(actions))
    np.testing.assert_array_equal(rewards[0], -0.1 * np.array(actions, np.float64) ** 2)


def test_mountain_car_continuous_float32_arithmetic_survives_xla():
    """XLA may drop a float64 → float32 → float64 round trip ("excess precision"), so the float32 roundings
    are done on the bits: compiled, the step is the eager one exactly, in both precisions and for actions
    inside and beyond the clip."""
    env = tf_gae.envs.make(CONTINUOUS)
    rng = np.random.default_rng(7)
    physics = rng.uniform([-1.2, -0.07], [0.6, 0.07], size=(20000, 2))
    physics[::2] = physics[::2].astype(np.float32)  # every other state a float32 one
    physics = tf.constant(physics)
    actions = tf.constant(rng.uniform(-3, 3, size=(20000, 1)).astype(np.float32))
    eager = [t.numpy() for t in env.dynamics(physics, actions)]
    compiled = [t.numpy() for t in tf.function(env.dynamics, jit_compile=True)(physics, actions)]
    np.testing.assert_array_equal(compiled[0], eager[0])
    np.testing.assert_array_equal(compiled[2], eager[2])
    # the reward's 100 − 0.1 a² may be contracted into one fused multiply-add: an ulp of 100
    np.testing.assert_allclose(compiled[1], eager[1], rtol=0, atol=2e-14)
