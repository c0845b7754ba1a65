"""Confidence intervals over seeds, and verdicts that say "cannot tell" when the intervals overlap. Chapter 5.

A training run's result is one random draw per seed; claims about which setting is better are claims
about means over seeds, and need an interval. The percentile bootstrap (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13) makes no assumption about the shape of the distribution:

    resample the n values with replacement, B times; compute the statistic of each resample;
    the interval is the (1 − level)/2 and (1 + level)/2 quantiles of those B statistics.

With few seeds (3–5) the percentile bootstrap's interval is too narrow: its resamples can only show the
spread the few values happen to have. There the Student-t interval of the mean, x̄ ± t_{n−1} s / √n, is the
honest one (it assumes the per-seed results roughly normal; :func:`t_interval`).

When two settings are run with the same seeds and a seed fixes what they share (chapter 6: the same
reference model and the same prompts), the per-seed differences a_i − b_i carry the comparison, and the
interval of their mean is narrower than the two intervals side by side (:func:`compare_paired`).

Used by chapter 5's reproduction of the GAE paper's cart-pole grid (tf_gae.sweep supplies the runs) and
chapter 6's comparison of advantage estimators.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_interval", "t_interval", "compare", "compare_paired"]


def bootstrap_interval(
    values: Sequence[float],
    *,
    level: float = 0.95,
    draws: int = 10_000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], np.ndarray] = lambda x: np.mean(x, axis=-1),
) -> tuple[float, float]:
    """The percentile-bootstrap interval of `statistic` (default the mean) of `values`: (low, high).

    `statistic` maps resamples `[draws, n]` to `[draws]`. Seeded: the same values give the same interval.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be at least two finite numbers (one per seed), got {values!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got {level!r}")
    rng = np.random.default_rng(seed)
    resamples = values[rng.integers(0, values.size, size=(draws, values.size))]  # [draws, n]
    statistics = statistic(resamples)  # [draws]
    low, high = np.quantile(statistics, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def compare(name_a: str, interval_a: tuple[float, float], name_b: str, interval_b: tuple[float, float]) -> str:
    """"A > B" or "B > A" when the two intervals do not overlap, else "cannot tell (A ~ B)"."""
    if interval_a[0] > interval_b[1]:
        return f"{name_a} > {name_b}"
    if interval_b[0] > interval_a[1]:
        return f"{name_b} > {name_a}"
    return f"cannot tell ({name_a} ~ {name_b})"


def t_interval(values: Sequence[float], *, level: float = 0.95) -> tuple[float, float]:
    """The Student-t interval of the mean of `values`: x̄ ± t_{(1+level)/2, n−1} · s / √n (s with n − 1)."""
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be at least two finite numbers (one per seed), got {values!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got {level!r}")
    from tf_gae._tf import tf
    import tensorflow_probability as tfp

    degrees = tf.constant(values.size - 1, tf.float64)
    quantile = float(tfp.distributions.StudentT(degrees, tf.constant(0.0, tf.float64), 1.0).quantile((1.0 + level) / 2.0))
    half_width = quantile * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean() - half_width), float(values.mean() + half_width)


def compare_paired(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float]) -> str:
    """"A > B" or "B > A" when the 95 % t interval (:func:`t_interval`) of the mean per-seed difference a_i − b_i
    excludes 0, else "cannot tell (A ~ B)"; with the interval and how many seeds favour A, e.g.
    "A > B (A − B = +0.060 [+0.030, +0.090], A ahead on 5 of 5 seeds; paired by seed)".
    `values_a[i]` and `values_b[i]` come from the same seed."""
    values_a, values_b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    if values_a.shape != values_b.shape:
        raise ValueError(f"paired values need one of each per seed, got {values_a.size} and {values_b.size}")
    differences = values_a - values_b
    low, high = t_interval(differences)
    ahead = int(np.sum(differences > 0))
    detail = (f"({name_a} − {name_b} = {differences.mean():+.3f} [{low:+.3f}, {high:+.3f}], {name_a} ahead on "
              f"{ahead} of {differences.size} seeds; paired by seed)")  # fmt: skip
    if low > 0:
        return f"{name_a} > {name_b} {detail}"
    if high < 0:
        return f"{name_b} > {name_a} {detail}"
    return f"cannot tell ({name_a} ~ {name_b}) {detail}"
