"""tf_gae.stats: the bootstrap interval against its coverage and the normal-theory interval."""

from __future__ import annotations

import numpy as np
import pytest

from tf_gae.stats import bootstrap_interval, compare, compare_paired, t_interval


def test_interval_of_the_mean_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials = 1000
    covered = 0
    for k in range(trials):
        sample = rng.normal(loc=3.0, scale=2.0, size=20)
        low, high = bootstrap_interval(sample, draws=2000, seed=k)
        covered += low <= 3.0 <= high
    # the percentile bootstrap of a mean of 20 normals covers ~93-94%; binomial s.e. over 1000 trials ~0.007
    assert 0.90 < covered / trials < 0.97


def test_large_samples_give_the_normal_theory_interval():
    sample = np.random.default_rng(1).exponential(size=4000)  # skewed: no normality assumed
    low, high = bootstrap_interval(sample, draws=20_000)
    half_width = 1.959964 * sample.std(ddof=1) / np.sqrt(sample.size)
    # 20,000 resamples put each quantile within ~1.5% of the half-width; a 90% interval would be 16% narrower
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.05)
    assert abs((high + low) / 2 - sample.mean()) < 0.1 * half_width


def test_seeded_and_refuses_what_it_cannot_use():
    values = [1.0, 2.0, 4.0, 8.0]
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    for bad in ([1.0], [1.0, float("nan")], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="values"):
            bootstrap_interval(bad)
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(values, level=95)


def test_compare_says_cannot_tell_when_intervals_overlap():
    assert compare("λ=0.96", (2.0, 3.0), "λ=0", (0.5, 1.5)) == "λ=0.96 > λ=0"
    assert compare("λ=0.96", (0.0, 1.0), "λ=1", (1.5, 2.0)) == "λ=1 > λ=0.96"
    assert compare("a", (0.0, 1.0), "b", (0.9, 2.0)).startswith("cannot tell")


def test_t_interval_against_tabulated_quantiles():
    # t_{0.975, 4} = 2.776445 and t_{0.975, 2} = 4.302653 (any table of Student's t)
    values = np.array([0.1, 0.4, 0.2, 0.5, 0.3])  # mean 0.3, s = √0.025
    low, high = t_interval(values)
    assert (low + high) / 2 == pytest.approx(0.3, abs=1e-12)
    assert (high - low) / 2 == pytest.approx(2.776445 * np.sqrt(0.025 / 5), rel=1e-6)
    low, high = t_interval([1.0, 2.0, 4.0])
    assert (high - low) / 2 == pytest.approx(4.302653 * np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3), rel=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        t_interval([1.0])
    with pytest.raises(ValueError, match="level must lie in"):
        t_interval([1.0, 2.0], level=1.0)


def test_paired_comparison_uses_the_per_seed_differences():
    # Seeds move both settings together (0.3 … 0.7) while A beats B by 0.05 ± 0.01 on every seed: side by
    # side the intervals overlap, the per-seed differences do not include 0.
    shared = np.array([0.3, 0.5, 0.7, 0.4, 0.6])
    a = shared + np.array([0.05, 0.06, 0.04, 0.05, 0.05])
    b = shared
    assert compare("A", t_interval(a), "B", t_interval(b)).startswith("cannot tell")
    half_width = 2.776445 * np.std([0.05, 0.06, 0.04, 0.05, 0.05], ddof=1) / np.sqrt(5)  # t_{0.975, 4} s / √n
    expected = f"A > B (A − B = +0.050 [{0.05 - half_width:+.3f}, {0.05 + half_width:+.3f}], A ahead on 5 of 5 seeds; paired by seed)"
    assert compare_paired("A", a, "B", b) == expected
    assert compare_paired("B", b, "A", a).startswith("A > B")
    assert compare_paired("A", [0.1, -0.1, 0.2], "B", [0.0, 0.0, 0.0]).startswith("cannot tell (A ~ B)")
    with pytest.raises(ValueError, match="one of each per seed"):
        compare_paired("A", [0.1, 0.2], "B", [0.0])
