"""Acrobot-v1 in TensorFlow ops: gymnasium's `AcrobotEnv` (Sutton 1996; Sutton & Barto's book), RK4 steps.

physics = (θ₁, θ₂, θ̇₁, θ̇₂), as gymnasium's `env.unwrapped.state`: θ₁ the first link's angle from hanging
straight down, θ₂ the second link's angle relative to the first. The observation is
(cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂) in float32. Actions 0, 1, 2 put a torque of −1, 0, +1 on the
joint between the links (gymnasium's torque noise is 0 by default, and is 0 here). One step integrates the
book's equations of motion over dt = 0.2 s with one classical Runge–Kutta step, in gymnasium's `rk4`
order of operations, then wraps both angles into [−π, π] and clips θ̇₁ to ±4π, θ̇₂ to ±9π. Terminated when
the tip is higher than one link length above the pivot, −cos θ₁ − cos(θ₁ + θ₂) > 1; reward −1 every
step, except 0 on the terminating one; truncated after 500 steps.
"""

from __future__ import annotations

import math

from tf_gae._tf import tf
from tf_gae.envs.core import FunctionalEnv, uniform

__all__ = ["Acrobot", "wrap", "bound"]


def wrap(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """gymnasium's `wrap`, elementwise: subtract (high − low) while x > high, then add it while x < low.

    The same repeated subtractions, not a remainder, so the result is gymnasium's to the last bit. Where a
    subtraction no longer changes x (±inf, |x| ≳ 2⁵³·span) gymnasium loops forever; here x is left as is.
    """
    span = high - low  # 2π for the angles

    def above(x: tf.Tensor) -> tf.Tensor:
        return (x > high) & (x - span < x)  # [B]: gymnasium's `while x > M`, where it still moves

    def below(x: tf.Tensor) -> tf.Tensor:
        return (x < low) & (x + span > x)  # [B]: gymnasium's `while x < m`, where it still moves

    (x,) = tf.while_loop(lambda x: tf.reduce_any(above(x)), lambda x: (tf.where(above(x), x - span, x),), (x,))
    (x,) = tf.while_loop(lambda x: tf.reduce_any(below(x)), lambda x: (tf.where(below(x), x + span, x),), (x,))
    return x


def bound(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """gymnasium's `bound`, elementwise: Python's min(max(x, low), high), NaN passing through as there."""
    x = tf.where(low > x, tf.constant(low, x.dtype), x)  # max(x, m) takes m only where m > x
    return tf.where(high < x, tf.constant(high, x.dtype), x)  # min(·, M) takes M only where M < ·


class Acrobot(FunctionalEnv):
    id = "Acrobot-v1"
    max_episode_steps = 500
    physics_size = 4

    dt = 0.2  # seconds per step, one RK4 step
    link_length_1 = 1.0  # l₁ [m] (l₂ = 1 m enters only the drawing and the goal height)
    link_mass_1 = 1.0  # m₁ [kg]
    link_mass_2 = 1.0  # m₂ [kg]
    link_com_1 = 0.5  # l_c1 [m]: the pivot to the first link's centre of mass
    link_com_2 = 0.5  # l_c2 [m]: the joint to the second link's centre of mass
    link_moi = 1.0  # I₁ = I₂ [kg m²], each link's moment of inertia
    gravity = 9.8  # g [m/s²]
    max_velocity_1 = 4 * math.pi  # |θ̇₁| ≤ 4π after every step
    max_velocity_2 = 9 * math.pi  # |θ̇₂| ≤ 9π after every step
    torques = (-1.0, 0.0, 1.0)  # action 0, 1, 2 -> torque on the second joint [N m]
    goal_height = 1.0  # terminated when the tip is above this, in link lengths above the pivot

    def initial_physics(self, seed, num_envs):
        # every component uniform in [−0.1, 0.1), then rounded to float32: gymnasium's reset keeps
        # `np_random.uniform(-0.1, 0.1, 4).astype(np.float32)` until the first step
        draws = uniform(seed, num_envs, [-0.1] * 4, [0.1] * 4)
        return tf.cast(tf.cast(draws, tf.float32), tf.float64)

    def derivatives(self, physics: tf.Tensor, torque: tf.Tensor) -> tf.Tensor:
        """[B, 4] d/dt (θ₁, θ₂, θ̇₁, θ̇₂) = (θ̇₁, θ̇₂, θ̈₁, θ̈₂): gymnasium's `_dsdt`, the book's dynamics.

        Each line is gymnasium's expression with its operands in the same order, so that Python's left-to-
        right evaluation performs the same float64 operations (the constant factors fold to the same
        Python floats before they meet a tensor). One difference: gymnasium squares with NumPy's scalar
        `x**2`, i.e. libm's `pow`, which is one ulp off the exactly rounded x·x about once in a thousand
        squares; `tf.square` is x·x, so a step can differ from gymnasium's by a few ulps.
        """
        m1, m2, l1 = self.link_mass_1, self.link_mass_2, self.link_length_1
        lc1, lc2, I1, I2, g = self.link_com_1, self.link_com_2, self.link_moi, self.link_moi, self.gravity
        theta1, theta2, dtheta1, dtheta2 = tf.unstack(physics, axis=1)  # each [B]
        sin_theta2 = tf.sin(theta2)
        # d₁ = m₁l_c1² + m₂(l₁² + l_c2² + 2l₁l_c2 cos θ₂) + I₁ + I₂: the first joint's effective inertia
        inertia_1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * tf.cos(theta2)) + I1 + I2
        # d₂ = m₂(l_c2² + l₁l_c2 cos θ₂) + I₂: the inertia coupling the two joints
        coupling_inertia = m2 * (lc2**2 + l1 * lc2 * tf.cos(theta2)) + I2
        # φ₂ = m₂l_c2 g cos(θ₁ + θ₂ − π/2): gravity's torque on the second link
        gravity_2 = m2 * lc2 * g * tf.cos(theta1 + theta2 - math.pi / 2.0)
        # φ₁ = −m₂l₁l_c2 θ̇₂² sin θ₂ − 2m₂l₁l_c2 θ̇₂θ̇₁ sin θ₂ + (m₁l_c1 + m₂l₁) g cos(θ₁ − π/2) + φ₂:
        # the Coriolis and centrifugal terms and gravity's torque on the first joint
        forces_1 = (
            -m2 * l1 * lc2 * tf.square(dtheta2) * sin_theta2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_theta2
            + (m1 * lc1 + m2 * l1) * g * tf.cos(theta1 - math.pi / 2)
            + gravity_2
        )
        # θ̈₂ = (τ + d₂/d₁ φ₁ − m₂l₁l_c2 θ̇₁² sin θ₂ − φ₂) / (m₂l_c2² + I₂ − d₂²/d₁): the book's equation
        # (the NIPS paper's lacks the θ̇₁² term)
        ddtheta2 = (
            torque
            + coupling_inertia / inertia_1 * forces_1
            - m2 * l1 * lc2 * tf.square(dtheta1) * sin_theta2
            - gravity_2
        ) / (m2 * lc2**2 + I2 - tf.square(coupling_inertia) / inertia_1)
        # θ̈₁ = −(d₂θ̈₂ + φ₁) / d₁
        ddtheta1 = -(coupling_inertia * ddtheta2 + forces_1) / inertia_1
        return tf.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], axis=1)

    def dynamics(self, physics, action):
        torque = tf.gather(tf.constant(self.torques, tf.float64), action)  # [B]
        # gymnasium's rk4 over t = [0, dt]: one classical Runge–Kutta step, its arithmetic in its order
        # (the torque rides along as a fifth component with derivative 0, so it stays τ at every stage)
        step = self.dt - 0  # h = t₁ − t₀
        half_step = step / 2.0  # h/2
        k1 = self.derivatives(physics, torque)  # k₁ = f(y)
        k2 = self.derivatives(physics + half_step * k1, torque)  # k₂ = f(y + h/2 k₁)
        k3 = self.derivatives(physics + half_step * k2, torque)  # k₃ = f(y + h/2 k₂)
        k4 = self.derivatives(physics + step * k3, torque)  # k₄ = f(y + h k₃)
        physics = physics + step / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)  # y + h/6 (k₁ + 2k₂ + 2k₃ + k₄)
        theta1, theta2, dtheta1, dtheta2 = tf.unstack(physics, axis=1)  # each [B]
        theta1, theta2 = wrap(theta1, -math.pi, math.pi), wrap(theta2, -math.pi, math.pi)
        dtheta1 = bound(dtheta1, -self.max_velocity_1, self.max_velocity_1)
        dtheta2 = bound(dtheta2, -self.max_velocity_2, self.max_velocity_2)
        next_physics = tf.stack([theta1, theta2, dtheta1, dtheta2], axis=1)
        # the tip's height above the pivot, in link lengths: −cos θ₁ − cos(θ₂ + θ₁)
        tip_height = -tf.cos(theta1) - tf.cos(theta2 + theta1)
        terminated = tip_height > self.goal_height
        # −1 a step, 0 on the one that reaches the goal
        reward = tf.where(terminated, tf.constant(0.0, tf.float64), tf.constant(-1.0, tf.float64))
        return next_physics, reward, terminated

    def observe(self, physics):
        theta1, theta2, dtheta1, dtheta2 = tf.unstack(physics, axis=1)  # each [B]
        angles = [tf.cos(theta1), tf.sin(theta1), tf.cos(theta2), tf.sin(theta2)]
        observation = tf.stack([*angles, dtheta1, dtheta2], axis=1)
        return tf.cast(observation, tf.float32)  # computed in float64, rounded once, as gymnasium's
