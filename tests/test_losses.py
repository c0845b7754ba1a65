"""tf_gae.losses against hand-computed numbers, float64 NumPy formulas and exact expectations.

The clipped surrogate's hand-made cases live in test_ppo.py; here: the weights/mask path that makes a
token mean and a sample mean one code path, the value loss with and without clipping (values and
gradients by hand), and the KL estimators against the exact KL of two categorical distributions.
"""

from __future__ import annotations

import numpy as np
import pytest

from tf_gae import losses
from tf_gae._tf import tf


def test_weighted_mean_is_the_mean_the_sum_over_weights_and_never_reads_a_zero_weight():
    x = np.array([1.0, 2.0, 4.0, np.nan])
    assert float(losses.weighted_mean(tf.constant(x[:3]))) == pytest.approx(7 / 3, rel=1e-15)
    mask = np.array([1.0, 0.0, 1.0, 0.0])  # the NaN sits where the mask is 0
    assert float(losses.weighted_mean(tf.constant(x), mask)) == pytest.approx(2.5, rel=1e-15)
    assert float(losses.weighted_mean(tf.constant(x), mask.astype(bool))) == pytest.approx(2.5, rel=1e-15)
    weights = np.array([0.5, 1.5, 2.0, 0.0])
    expected = (0.5 * 1 + 1.5 * 2 + 2.0 * 4) / 4.0
    assert float(losses.weighted_mean(tf.constant(x), weights)) == pytest.approx(expected, rel=1e-15)
    assert float(losses.weighted_mean(tf.constant(x), np.zeros(4))) == 0.0  # nothing valid: 0, not NaN


def test_policy_gradient_loss_value_and_gradient_by_hand():
    advantages = tf.constant([2.0, -1.0, 0.5], tf.float64)
    log_probs = tf.Variable([-0.1, -2.0, -0.7], dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        plain = losses.policy_gradient_loss(log_probs, advantages)
        masked = losses.policy_gradient_loss(log_probs, advantages, weights=[1.0, 0.0, 1.0])
    assert float(plain) == pytest.approx(-(-0.2 + 2.0 - 0.35) / 3, rel=1e-14)
    np.testing.assert_allclose(tape.gradient(plain, log_probs).numpy(), [-2 / 3, 1 / 3, -0.5 / 3], rtol=1e-14)
    assert float(masked) == pytest.approx(-(-0.2 - 0.35) / 2, rel=1e-14)
    np.testing.assert_allclose(tape.gradient(masked, log_probs).numpy(), [-1.0, 0.0, -0.25], rtol=1e-14)


def test_a_masked_surrogate_is_the_surrogate_of_the_valid_tokens():
    rng = np.random.default_rng(3)
    log_probs, old, advantages = (rng.normal(size=(4, 6)) * 0.3 for _ in range(3))
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5, [1] * 3 + [0] * 3], bool)
    log_probs[~mask] = np.nan  # padding may hold anything
    masked = losses.clipped_surrogate(log_probs, old, advantages, 0.2, weights=mask)
    # reference: NumPy's formulas on the valid tokens only, float64
    ratio = np.exp(log_probs[mask] - old[mask])
    expected_loss = -np.mean(np.minimum(ratio * advantages[mask], np.clip(ratio, 0.8, 1.2) * advantages[mask]))
    assert float(masked.loss) == pytest.approx(expected_loss, rel=1e-13)
    assert float(masked.approx_kl) == pytest.approx(np.mean((ratio - 1) - np.log(ratio)), rel=1e-12)
    assert float(masked.clip_fraction) == pytest.approx(np.mean(np.abs(ratio - 1) > 0.2), rel=1e-15)


def test_value_loss_plain_and_clipped_by_hand():
    returns = tf.constant([2.0, 2.0, 1.0], tf.float64)
    old_values = tf.constant([0.0, 0.0, 0.0], tf.float64)
    values = tf.Variable([1.0, 3.0, 0.2], dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        plain = losses.value_loss(values, returns)
        clipped = losses.value_loss(values, returns, old_values, clip_range=0.5)
    # plain: (1−2)², (3−2)², (0.2−1)² → mean; gradient 2(V − R)/3
    assert float(plain) == pytest.approx((1 + 1 + 0.64) / 3, rel=1e-14)
    np.testing.assert_allclose(tape.gradient(plain, values).numpy(), [-2 / 3, 2 / 3, -1.6 / 3], rtol=1e-14)
    # clipped V: 0 + clip(V − 0, ±0.5) = 0.5, 0.5, 0.2 → errors (0.5−2)² = 2.25, 2.25, 0.64; max with the
    # plain ones picks 2.25, 2.25, 0.64. The first two come from a saturated clip: no gradient; the third
    # is inside the clip range: 2(V − R)/3.
    assert float(clipped) == pytest.approx((2.25 + 2.25 + 0.64) / 3, rel=1e-14)
    np.testing.assert_allclose(tape.gradient(clipped, values).numpy(), [0.0, 0.0, -1.6 / 3], rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="needs old_values"):
        losses.value_loss(values, returns, clip_range=0.2)


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_kl_estimators_formulas_and_expectations(estimator):
    d = np.array([-1.0, 0.0, 0.3, 2.0])
    formula = {"k1": d, "k2": d**2 / 2, "k3": np.exp(-d) - 1 + d}[estimator]
    np.testing.assert_allclose(losses.kl_from_log_ratio(tf.constant(d), estimator).numpy(), formula, rtol=1e-15)
    # Sampled from π, k1 and k3 average to KL(π ‖ π_ref) exactly in expectation; k2 is biased.
    pi = np.array([0.5, 0.3, 0.2])
    reference = np.array([0.2, 0.5, 0.3])
    exact = float(np.sum(pi * np.log(pi / reference)))
    samples = np.random.default_rng(11).choice(3, size=200_000, p=pi)
    per_sample = losses.kl_from_log_ratio(tf.constant(np.log(pi / reference)[samples]), estimator).numpy()
    standard_error = per_sample.std() / np.sqrt(per_sample.size)
    if estimator == "k2":
        assert abs(per_sample.mean() - exact) > 6 * standard_error  # the bias is visible at this sample size
    else:
        assert abs(per_sample.mean() - exact) < 4.5 * standard_error
    with pytest.raises(ValueError, match="estimator must be one of"):
        losses.kl_from_log_ratio(tf.constant(d), "k4")
