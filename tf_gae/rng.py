"""Stateless random numbers that are the same eagerly, in a graph and under XLA, for one seed or many.

TensorFlow's stateless samplers agree on the raw Philox integers everywhere, but their conversion of those
integers to floats differs under XLA. Drawing the integers and converting them here makes one seed give
one sequence of numbers whichever way the code runs, so a compiled training run can be checked against an
eager one number for number.

Many seeds at once. TensorFlow's random ops take one seed (or one generator) each, so A agents trained
side by side (:mod:`tf_gae.agent_axis`) would need A ops for every draw. Philox-4×32-10 (Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011) is a counter-based generator: its output is a
pure function of a counter and a key, a few integer multiplies and XORs. Written here in TensorFlow's
integer ops it takes a batch of keys, and it reproduces TensorFlow's own streams bit for bit
(tests/test_agent_axis.py):
- `tf.random.stateless_uniform(..., dtype=tf.uint64, alg="philox")` for each seed (:func:`philox_bits`),
  hence :func:`unit_uniform` with seeds [A, 2];
- `tf.random.Generator.uniform_full_int` of each of A Philox generators, and their states' advance
  (:class:`StackedGenerators`);
- `tf.random.stateless_uniform` float32 inside an XLA program, for each seed (:func:`xla_uniform_float32`).
"""

from __future__ import annotations

import math
from typing import Sequence

from tf_gae._tf import tf

__all__ = ["unit_uniform", "philox4x32", "philox_bits", "xla_uniform_float32", "StackedGenerators"]

_LOW_32 = 0xFFFFFFFF
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)  # Philox-4×32's round multipliers
_KEY_STEPS = (0x9E3779B9, 0xBB67AE85)  # its key schedule's increments (the golden ratio, √3 − 1)
_SEED_KEY = (0x3EC8F720, 0x02461E29)  # the fixed key TensorFlow scrambles a stateless seed with


def philox4x32(counter: Sequence[tf.Tensor], key: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """Philox-4×32-10: four 32-bit outputs from a 128-bit counter (four words) and a 64-bit key (two),
    each word a uint64 tensor holding a value < 2³² (any shape, broadcast together). Ten rounds of

        (c₀, c₁, c₂, c₃) ← (hi(M₁c₂) ⊕ c₁ ⊕ k₀,  lo(M₁c₂),  hi(M₀c₀) ⊕ c₃ ⊕ k₁,  lo(M₀c₀)),   k ← k + W
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        product_0 = c0 * _MULTIPLIERS[0]  # < 2⁶⁴: exact in uint64
        product_1 = c2 * _MULTIPLIERS[1]
        high_0, low_0 = tf.bitwise.right_shift(product_0, 32), tf.bitwise.bitwise_and(product_0, _LOW_32)
        high_1, low_1 = tf.bitwise.right_shift(product_1, 32), tf.bitwise.bitwise_and(product_1, _LOW_32)
        c0, c1, c2, c3 = (
            tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high_1, c1), k0),
            low_1,
            tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high_0, c3), k1),
            low_0,
        )
        k0 = tf.bitwise.bitwise_and(k0 + _KEY_STEPS[0], _LOW_32)
        k1 = tf.bitwise.bitwise_and(k1 + _KEY_STEPS[1], _LOW_32)
    return [c0, c1, c2, c3]


def _words(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A uint64 as its (low, high) 32-bit words."""
    return tf.bitwise.bitwise_and(x, _LOW_32), tf.bitwise.right_shift(x, 32)


def _as_uint64(x: tf.Tensor) -> tf.Tensor:
    """Signed integers as TensorFlow's kernels read them into uint64: int32 sign-extended, int64 bit for bit."""
    return tf.bitcast(tf.cast(x, tf.int64), tf.uint64)


def philox_bits(seeds: tf.Tensor, count: int) -> tf.Tensor:
    """[A, count] uint64: row a is `tf.random.stateless_uniform([count], seeds[a], minval=None, maxval=None,
    dtype=tf.uint64, alg="philox")`, for `seeds` [A, 2] int32.

    TensorFlow turns a seed (s₀, s₁) into a key and a counter by one Philox call under a fixed key, then
    draws call j on counter (j, 0, mix₂, mix₃): its words (0, 1) and (2, 3) are samples 2j and 2j + 1.
    """
    seeds = _as_uint64(seeds)
    s0_low, s0_high = _words(seeds[:, 0])
    s1_low, s1_high = _words(seeds[:, 1])
    fixed = [tf.constant(word, tf.uint64) for word in _SEED_KEY]
    mix = philox4x32([s0_low, s0_high, s1_low, s1_high], fixed)  # [A] each
    key = [mix[0][:, None], mix[1][:, None]]  # [A, 1]
    calls = (count + 1) // 2
    j = tf.cast(tf.range(calls, dtype=tf.int64), tf.uint64)[None, :]  # [1, J]
    zero = tf.zeros_like(j)
    out = philox4x32([j, zero, mix[2][:, None], mix[3][:, None]], key)  # [A, J] each
    first = tf.bitwise.bitwise_or(out[0], tf.bitwise.left_shift(out[1], 32))  # sample 2j
    second = tf.bitwise.bitwise_or(out[2], tf.bitwise.left_shift(out[3], 32))  # sample 2j + 1
    return tf.reshape(tf.stack([first, second], axis=-1), [-1, 2 * calls])[:, :count]


def xla_uniform_float32(seeds: tf.Tensor, count: int) -> tf.Tensor:
    """[A, count] float32 in [0, 1): row a is what `tf.random.stateless_uniform([count], seeds[a])` (float32,
    Philox) gives inside an XLA program, for `seeds` [A, 2] int32 (PPO's shuffles: tf_gae.learner).

    XLA reads each int32 seed word as unsigned, draws four 32-bit words per Philox call (samples 4j … 4j + 3
    on counter (j, 0, mix₂, mix₃)), and keeps a word's high 23 bits as the mantissa of a float in [1, 2):
    u = float(0x3F800000 | w >> 9) − 1. (TensorFlow's CPU kernel keeps the low 23 bits and sign-extends
    the seed: the two agree only in distribution.)
    """
    seeds = tf.cast(tf.bitcast(tf.convert_to_tensor(seeds, tf.int32), tf.uint32), tf.uint64)  # zero-extended
    zero = tf.zeros_like(seeds[:, 0])
    fixed = [tf.constant(word, tf.uint64) for word in _SEED_KEY]
    mix = philox4x32([seeds[:, 0], zero, seeds[:, 1], zero], fixed)  # [A] each
    calls = (count + 3) // 4
    j = tf.cast(tf.range(calls, dtype=tf.int64), tf.uint64)[None, :]  # [1, J]
    out = philox4x32([j, tf.zeros_like(j), mix[2][:, None], mix[3][:, None]], [mix[0][:, None], mix[1][:, None]])
    words = tf.reshape(tf.stack(out, axis=-1), [-1, 4 * calls])[:, :count]  # [A, count], each < 2³²
    one_to_two = tf.bitwise.bitwise_or(tf.bitwise.right_shift(words, 9), tf.constant(0x3F800000, tf.uint64))
    return tf.bitcast(tf.cast(one_to_two, tf.uint32), tf.float32) - 1.0


def unit_uniform(shape: object, seed: tf.Tensor, *, open_interval: bool = False) -> tf.Tensor:
    """float64 uniform numbers of `shape` from the stateless `seed` (int32 [2]):

        u = ⌊bits / 2¹¹⌋ · 2⁻⁵³             in [0, 1)   (53 random bits: every float64 multiple of 2⁻⁵³)
        u = (⌊bits / 2¹¹⌋ + ½) · 2⁻⁵³       in (0, 1)   with `open_interval` (so that log u and log(1 − u)
                                                         are finite)
    where `bits` are Philox's 64-bit integers. With seeds [A, 2], [A, *shape]: row a the numbers of seed a
    (`shape` static then), drawn together by :func:`philox_bits`.
    """
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 2:
        static = [int(size) for size in tf.get_static_value(tf.convert_to_tensor(shape))]
        bits = tf.reshape(philox_bits(seed, math.prod(static)), [-1, *static])
    else:
        bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint64, alg="philox")
    whole = tf.cast(tf.bitwise.right_shift(bits, tf.constant(11, tf.uint64)), tf.float64)  # [0, 2⁵³)
    return (whole + (0.5 if open_interval else 0.0)) * 2.0**-53


class StackedGenerators:
    """A Philox `tf.random.Generator`s drawn from together: `state` [A, 3] int64 holds generator a's state
    (counter low, counter high, key) in row a. A draw of n ≤ 4 int32s is one Philox call on each
    generator's counter and key, and advances each counter by 256 n, as the generator itself does
    (`rng_read_and_skip`), so the streams continue exactly as the generators' own."""

    def __init__(self, generators: Sequence[tf.random.Generator]) -> None:
        for generator in generators:
            if generator.algorithm != tf.random.Algorithm.PHILOX.value:
                raise ValueError("StackedGenerators reproduces Philox generators only")
        self.generators = list(generators)
        self.state = tf.Variable(tf.stack([g.state for g in generators]), trainable=False, name="stacked_rng_states")

    def load(self) -> None:
        """Take every generator's current state."""
        self.state.assign(tf.stack([g.state for g in self.generators]))

    def unload(self) -> None:
        """Give every generator its state back, advanced by the draws made here."""
        for index, generator in enumerate(self.generators):
            generator.state.assign(self.state[index])

    def uniform_full_int(self, shape: Sequence[int], dtype: tf.DType = tf.int32) -> tf.Tensor:
        """[A, *shape] int32: row a is generator a's `uniform_full_int(shape, dtype=tf.int32)`."""
        count = math.prod(int(size) for size in shape)
        if dtype != tf.int32 or count > 4:
            raise ValueError("StackedGenerators draws at most 4 int32s at a time (one Philox call)")
        state = self.state.read_value()  # [A, 3]
        counter_low, counter_high, key = (_as_uint64(state[:, i]) for i in range(3))
        out = philox4x32([*_words(counter_low), *_words(counter_high)], list(_words(key)))
        words = tf.stack(out[:count], axis=-1)  # [A, count], each < 2³²
        draws = tf.bitcast(tf.cast(words, tf.uint32), tf.int32)
        advanced = counter_low + tf.constant(256 * count, tf.uint64)  # wraps at 2⁶⁴, carrying into the high word
        carry = tf.cast(advanced < counter_low, tf.uint64)
        self.state.assign(tf.stack([
            tf.bitcast(advanced, tf.int64), tf.bitcast(counter_high + carry, tf.int64), state[:, 2]
        ], axis=1))  # fmt: skip
        return tf.reshape(draws, [-1, *[int(size) for size in shape]])
