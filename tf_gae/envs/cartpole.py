"""CartPole-v1 in TensorFlow ops: gymnasium's `CartPoleEnv` (Barto, Sutton & Anderson 1983), Euler steps.

physics = (x, ẋ, θ, θ̇), as gymnasium's `env.unwrapped.state`; the observation is the same four numbers
in float32. Action 0 pushes the cart left, 1 right, with 10 N. Reward 1 every step, the terminating
one included; terminated when |x| > 2.4 or |θ| > 12°; truncated after 500 steps.
"""

from __future__ import annotations

import math

from tf_gae._tf import tf
from tf_gae.envs.core import FunctionalEnv, uniform

__all__ = ["CartPole"]


class CartPole(FunctionalEnv):
    id = "CartPole-v1"
    max_episode_steps = 500
    physics_size = 4

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5  # half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02  # seconds per step
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def initial_physics(self, seed, num_envs):
        # every component uniform in [−0.05, 0.05), as gymnasium's reset
        return uniform(seed, num_envs, [-0.05] * 4, [0.05] * 4)

    def dynamics(self, physics, action):
        x, x_dot, theta, theta_dot = tf.unstack(physics, axis=1)  # each [B]
        force = tf.where(tf.equal(action, 1), self.force_mag, -self.force_mag)  # [B]
        force = tf.cast(force, tf.float64)
        costheta, sintheta = tf.cos(theta), tf.sin(theta)
        # the equations of motion (Florian 2005), in gymnasium's order of operations
        temp = (force + self.polemass_length * tf.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * tf.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        # Euler: positions move with the old velocities
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * xacc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc
        next_physics = tf.stack([x, x_dot, theta, theta_dot], axis=1)
        terminated = (
            (x < -self.x_threshold) | (x > self.x_threshold)
            | (theta < -self.theta_threshold_radians) | (theta > self.theta_threshold_radians)
        )  # fmt: skip
        reward = tf.ones_like(x)  # 1 per step, the terminating step included
        return next_physics, reward, terminated

    def observe(self, physics):
        return tf.cast(physics, tf.float32)
