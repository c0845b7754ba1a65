"""Pendulum-v1 in TensorFlow ops: gymnasium's `PendulumEnv`, the inverted pendulum swing-up, Euler steps.

physics = (θ, θ̇), as gymnasium's `env.unwrapped.state`: θ = 0 is upright, and θ is never wrapped (it winds
on as the pendulum turns over); the observation is (cos θ, sin θ, θ̇) in float32. The action is a torque
u ([B, 1] float32), clipped to [−2, 2] as gymnasium clips it. Reward −(θₙ² + 0.1 θ̇² + 0.001 u²) of the
state before the step, θₙ = θ wrapped into [−π, π); never terminated; truncated after 200 steps.

Precision, as gymnasium's NumPy code has it: the clipped torque stays float32, and NumPy 2 keeps a float32
number float32 when a Python float multiplies it (NEP 50), so 3u and 0.001u² are rounded to float32 before
they join the float64 sums. Everything else is float64. The squares of the cost are x·x here; NumPy's
`x**2` is the C library's pow, which is not always correctly rounded (in float32 about one u² in a
thousand is an ulp off), so the reward can differ from gymnasium's by an ulp of 0.001u² (≤ 2⁻³²) and
a few float64 ulps; the physics has no square and is exact.
"""

from __future__ import annotations

import math

from tf_gae._tf import tf
from tf_gae.envs.core import FunctionalEnv, uniform

__all__ = ["Pendulum"]

class Pendulum(FunctionalEnv):
    id = "Pendulum-v1"
    max_episode_steps = 200
    physics_size = 2

    max_speed = 8.0  # rad/s: θ̇ is clipped to ±8
    max_torque = 2.0  # N·m: u is clipped to ±2
    dt = 0.05  # seconds per step
    g = 10.0  # m/s², gymnasium's default
    mass = 1.0  # kg (gymnasium's m)
    length = 1.0  # m (gymnasium's l)

    def initial_physics(self, seed: tf.Tensor, num_envs: int | tf.Tensor) -> tf.Tensor:
        # θ uniform in [−π, π), θ̇ in [−1, 1), as gymnasium's reset (high = (π, 1), low = −high)
        return uniform(seed, num_envs, [-math.pi, -1.0], [math.pi, 1.0])

    def dynamics(self, physics: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        theta, theta_dot = tf.unstack(physics, axis=1)  # each [B] float64
        torque = tf.clip_by_value(tf.cast(action[:, 0], tf.float32), -self.max_torque, self.max_torque)  # u [B] float32
        # cost of the state before the step: θₙ² + 0.1 θ̇² + 0.001 u², summed left to right
        theta_wrapped = tf.math.floormod(theta + math.pi, 2 * math.pi) - math.pi  # θₙ = ((θ + π) mod 2π) − π
        torque_cost = tf.cast(0.001 * (torque * torque), tf.float64)  # 0.001 u², in float32
        cost = tf.square(theta_wrapped) + 0.1 * tf.square(theta_dot) + torque_cost
        # θ̈ = 3g/(2l) sin θ + 3/(m l²) u, the torque term in float32
        gravity_acceleration = 3 * self.g / (2 * self.length) * tf.sin(theta)  # 15 sin θ
        torque_acceleration = tf.cast(3.0 / (self.mass * self.length**2) * torque, tf.float64)  # 3u, rounded to float32
        theta_dot = theta_dot + (gravity_acceleration + torque_acceleration) * self.dt  # θ̇' = θ̇ + θ̈ dt
        theta_dot = tf.clip_by_value(theta_dot, -self.max_speed, self.max_speed)  # θ̇' in [−8, 8]
        theta = theta + theta_dot * self.dt  # θ' = θ + θ̇' dt: the angle moves with the new velocity
        next_physics = tf.stack([theta, theta_dot], axis=1)
        terminated = tf.zeros_like(theta, dtype=tf.bool)  # the swing-up never ends by itself
        return next_physics, -cost, terminated

    def observe(self, physics: tf.Tensor) -> tf.Tensor:
        theta, theta_dot = tf.unstack(physics, axis=1)
        return tf.cast(tf.stack([tf.cos(theta), tf.sin(theta), theta_dot], axis=1), tf.float32)  # (cos θ, sin θ, θ̇)
