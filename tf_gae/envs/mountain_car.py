"""MountainCar-v0 and MountainCarContinuous-v0 in TensorFlow ops: gymnasium's `MountainCarEnv` (Moore 1990)
and `Continuous_MountainCarEnv`, a car in a valley too weak to drive straight up to the goal on the right.

physics = (position, velocity), as gymnasium's `env.unwrapped.state`; the observation is the same two
numbers in float32. Each step: the velocity gains the push and −0.0025 cos 3x (the slope's pull) and is
clipped to ±0.07, the position moves by the new velocity and is clipped to [−1.2, 0.6], and a car at the
left wall (position −1.2) with negative velocity stops (velocity 0). Terminated when position ≥ goal and
velocity ≥ 0. Starts at a position uniform in [−0.6, −0.4), velocity 0.

- MountainCar-v0: action 0, 1, 2 pushes with (action − 1)·0.001; reward −1 every step; goal 0.5;
  truncated after 200 steps. All in float64, as gymnasium's state is.
- MountainCarContinuous-v0: action a ([B, 1] float32) pushes with clip(a, −1, 1)·0.0015; reward
  −0.1 a² (of the unclipped a), plus 100 on the terminating step; goal 0.45; truncated after 999 steps.
  gymnasium mixes precisions here (see `MountainCarContinuous.dynamics`), and its state is rounded to
  float32 after every step, so the physics is too.
"""

from __future__ import annotations

from tf_gae._tf import tf
from tf_gae.envs.core import FunctionalEnv, uniform

__all__ = ["MountainCar", "MountainCarContinuous"]


_FLOAT32_DROPPED_BITS = 29  # float64's 52 mantissa bits, float32's 23


def _round_to_float32(x: tf.Tensor) -> tf.Tensor:
    """float64 `x` rounded to the nearest float32 number (ties to even), kept in float64.

    By its bits rather than by casting to float32 and back, a round trip XLA may drop (it allows itself
    "excess precision"). For numbers in float32's normal range or 0, as the track's are."""
    bits = tf.bitcast(x, tf.int64)  # sign, exponent, mantissa; adding to it rounds the magnitude
    last_kept = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, _FLOAT32_DROPPED_BITS), 1)
    half = 2 ** (_FLOAT32_DROPPED_BITS - 1)
    # + (half − 1) carries into the kept bits above half, not below; at exactly half only if the last kept bit is odd
    rounded = tf.bitwise.bitwise_and(bits + (half - 1) + last_kept, -(2**_FLOAT32_DROPPED_BITS))
    return tf.bitcast(rounded, tf.float64)


def _is_float32(x: tf.Tensor) -> tf.Tensor:
    """Whether float64 `x` is a float32 number (in float32's normal range or 0): its dropped bits are 0."""
    dropped = tf.bitwise.bitwise_and(tf.bitcast(x, tf.int64), 2**_FLOAT32_DROPPED_BITS - 1)
    return tf.equal(dropped, 0)


class MountainCar(FunctionalEnv):
    id = "MountainCar-v0"
    max_episode_steps = 200
    physics_size = 2

    min_position = -1.2  # the left wall
    max_position = 0.6  # the right end of the track
    max_speed = 0.07  # the velocity is clipped to ±0.07
    goal_position = 0.5
    goal_velocity = 0.0  # gymnasium's default
    force = 0.001  # the push of action 2 (action 0 pushes with −force, action 1 not at all)
    gravity = 0.0025  # the slope's pull is −gravity·cos 3x

    def initial_physics(self, seed: tf.Tensor, num_envs: int | tf.Tensor) -> tf.Tensor:
        # position uniform in [−0.6, −0.4), velocity 0 (the empty range [0, 0) of the helper gives exactly 0)
        return uniform(seed, num_envs, [-0.6, 0.0], [-0.4, 0.0])

    def dynamics(self, physics: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        position, velocity = tf.unstack(physics, axis=1)  # each [B] float64
        push = tf.cast(action - 1, tf.float64) * self.force  # (a − 1)·force: −0.001, 0 or 0.001
        velocity = velocity + (push + tf.cos(3 * position) * (-self.gravity))  # v' = v + ((a − 1)·f − g cos 3x)
        velocity = tf.clip_by_value(velocity, -self.max_speed, self.max_speed)  # v' in [−0.07, 0.07]
        position = position + velocity  # x' = x + v'
        position = tf.clip_by_value(position, self.min_position, self.max_position)  # x' in [−1.2, 0.6]
        stopped = tf.equal(position, self.min_position) & (velocity < 0)  # at the left wall, moving left
        velocity = tf.where(stopped, tf.zeros_like(velocity), velocity)  # the wall stops the car
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        reward = -tf.ones_like(position)  # −1 per step, the terminating one included
        return tf.stack([position, velocity], axis=1), reward, terminated

    def observe(self, physics: tf.Tensor) -> tf.Tensor:
        return tf.cast(physics, tf.float32)


class MountainCarContinuous(MountainCar):
    id = "MountainCarContinuous-v0"
    max_episode_steps = 999
    physics_size = 2

    min_action = -1.0
    max_action = 1.0
    goal_position = 0.45  # 0.45 here (0.5 in MountainCar-v0)
    power = 0.0015  # the push is clip(a, −1, 1)·power

    def dynamics(self, physics: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """gymnasium's step computes with NumPy scalars of the state's dtype, and NumPy 2 keeps a float32
        float32 when it meets a Python float (NEP 50; comparisons included: the float is rounded to
        float32 first). Which arithmetic a step gets therefore depends on two things:

        - the state's dtype: float64 right after `reset` (a float64 draw), float32 after any step (the
          state is stored as float32). A state whose two numbers are both float32 numbers is taken for a
          float32 state: every state after a step is one, and a fresh float64 draw is one with
          probability about 2⁻²⁹ per reset.
        - whether the action is inside [−1, 1]: `min(max(a, −1.0), 1.0)` returns the float32 a itself,
          and a·power is a float32 product; outside, it returns the Python float ±1.0, and ±1.0·power is
          the float64 ±0.0015.

        The velocity update v' = v + (push − 0.0025 cos 3x) then runs in float32 or float64 accordingly;
        the clips and the wall rule give the same stored numbers either way, the goal test does not
        (a float32 position is compared with float32(0.45) = 0.449999988…). A float32 sum or difference is
        computed here as the float64 one rounded to float32, the same number (53 ≥ 2·24 + 2 bits: the
        double rounding is innocuous).
        """
        position, velocity = tf.unstack(physics, axis=1)  # each [B] float64
        single = _is_float32(position) & _is_float32(velocity)  # [B] bool: gymnasium's float32 state
        action = tf.cast(action[:, 0], tf.float32)  # a [B], as gymnasium's float32 action
        outside = (action < self.min_action) | (action > self.max_action)
        push_single = tf.cast(action * self.power, tf.float64)  # a·power in float32: a inside [−1, 1]
        power = tf.constant(self.power, tf.float64)
        push_double = tf.where(action > 0, power, -power)  # ±1.0·power in float64: a outside
        # the slope's pull 0.0025 cos 3x, in float64 (math.cos), with 3x rounded to float32 in a float32 state
        three_position = tf.where(single, _round_to_float32(3 * position), 3 * position)
        slope = 0.0025 * tf.cos(three_position)
        # Δv = push − slope: a float32 difference (slope rounded to float32 first) if the push is float32
        delta_single = _round_to_float32(push_single - _round_to_float32(slope))
        delta = tf.where(outside, push_double - slope, delta_single)
        # v' = v + Δv: in a float32 state a float32 sum, Δv rounded to float32 first
        velocity_single = _round_to_float32(velocity + _round_to_float32(delta))
        velocity = tf.where(single, velocity_single, velocity + delta)
        velocity = tf.clip_by_value(velocity, -self.max_speed, self.max_speed)  # v' in [−0.07, 0.07]
        # x' = x + v': in a float32 state a float32 sum, v' rounded to float32 first (0.07 → 0.0700000003)
        position_single = _round_to_float32(position + _round_to_float32(velocity))
        position = tf.where(single, position_single, position + velocity)
        # x' in [−1.2, 0.6]: a float32 state compares with float32(−1.2) < −1.2 and keeps it, but stops
        # there as well (float32(−1.2) == −1.2 in float32), so clipping in float64 gives the same numbers
        position = tf.clip_by_value(position, self.min_position, self.max_position)
        stopped = tf.equal(position, self.min_position) & (velocity < 0)  # at the left wall, moving left
        velocity = tf.where(stopped, tf.zeros_like(velocity), velocity)  # the wall stops the car
        goal_position = tf.where(single, _round_to_float32(tf.constant(self.goal_position, tf.float64)), self.goal_position)
        terminated = (position >= goal_position) & (velocity >= self.goal_velocity)
        action_cost = tf.square(tf.cast(action, tf.float64)) * 0.1  # 0.1 a², of the action before its clip
        reward = tf.where(terminated, tf.constant(100.0, tf.float64), tf.constant(0.0, tf.float64)) - action_cost
        next_physics = _round_to_float32(tf.stack([position, velocity], axis=1))  # the state is stored as float32
        return next_physics, reward, terminated
