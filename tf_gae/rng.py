"""Stateless random numbers that are the same eagerly, in a graph and under XLA.

TensorFlow's stateless samplers agree on the raw Philox integers everywhere, but their conversion of those
integers to floats differs under XLA. Drawing the integers and converting them here makes one seed give
one sequence of numbers whichever way the code runs, so a compiled training run can be checked against an
eager one number for number.
"""

from __future__ import annotations

from tf_gae._tf import tf

__all__ = ["unit_uniform"]


def unit_uniform(shape: object, seed: tf.Tensor, *, open_interval: bool = False) -> tf.Tensor:
    """float64 uniform numbers of `shape` from the stateless `seed` (int32 [2]):

        u = ⌊bits / 2¹¹⌋ · 2⁻⁵³             in [0, 1)   (53 random bits: every float64 multiple of 2⁻⁵³)
        u = (⌊bits / 2¹¹⌋ + ½) · 2⁻⁵³       in (0, 1)   with `open_interval` (so that log u and log(1 − u)
                                                         are finite)
    where `bits` are Philox's 64-bit integers.
    """
    bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint64, alg="philox")
    whole = tf.cast(tf.bitwise.right_shift(bits, tf.constant(11, tf.uint64)), tf.float64)  # [0, 2⁵³)
    return (whole + (0.5 if open_interval else 0.0)) * 2.0**-53
