"""tf_gae.llm against a float64 reference written here from the equations, and against hand-made numbers.

The reference walks each row with explicit Python loops over its valid tokens only:
    δ_t = r_t + γ V_{t+1} [t+1 valid] − V_t,   Â_t = Σ_{l=0}^{n−1−t} (γλ)^l δ_{t+l},   R_t = Â_t + V_t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tf_gae._tf import tf
from tf_gae.llm import kl_penalty_rewards, masked_mean, masked_whiten, score_rewards, token_gae

# ---------------------------------------------------------------- the independent reference


def reference_token_gae(rewards, values, response_mask, *, gamma, lambda_):
    """Float64 (advantages, returns) `[B, T]`, zero on padding; the mask must be right-padded."""
    rewards = np.asarray(rewards, np.float64)
    values = np.asarray(values, np.float64)
    mask = np.asarray(response_mask).astype(bool)
    num_rows, num_tokens = rewards.shape
    advantages = np.zeros((num_rows, num_tokens))
    returns = np.zeros((num_rows, num_tokens))
    for b in range(num_rows):
        length = int(mask[b].sum())
        assert mask[b, :length].all() and not mask[b, length:].any(), "reference needs right padding"
        deltas = []
        for t in range(length):
            next_value = values[b, t + 1] if t + 1 < length else 0.0  # V_{t+1} [t+1 valid]
            deltas.append(rewards[b, t] + gamma * next_value - values[b, t])
        for t in range(length):
            total = 0.0
            for l in range(length - t):
                total += (gamma * lambda_) ** l * deltas[t + l]
            advantages[b, t] = total
            returns[b, t] = total + values[b, t]
    return advantages, returns


def right_padded_mask(lengths, num_tokens):
    return np.arange(num_tokens)[None, :] < np.asarray(lengths)[:, None]  # [B, T]


# ---------------------------------------------------------------- token_gae against the reference


@st.composite
def padded_batches(draw):
    num_rows = draw(st.integers(1, 4))
    num_tokens = draw(st.integers(1, 9))
    lengths = draw(st.lists(st.integers(0, num_tokens), min_size=num_rows, max_size=num_rows))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(num_rows, num_tokens)) * 3
    values = rng.normal(size=(num_rows, num_tokens)) * 3
    mask = right_padded_mask(lengths, num_tokens)
    garbage = draw(st.sampled_from([0.0, np.nan, 1e30, -np.inf]))
    rewards[~mask] = garbage
    values[~mask] = garbage
    gamma = draw(st.floats(0.0, 1.0))
    lambda_ = draw(st.floats(0.0, 1.0))
    return rewards, values, mask, gamma, lambda_


@settings(max_examples=30, deadline=None, derandomize=True)
@given(padded_batches(), st.sampled_from([np.float64, np.float32]), st.sampled_from(["bool", "int", "float"]))
def test_property_matches_reference(batch, dtype, mask_kind):
    rewards, values, mask, gamma, lambda_ = batch
    expected_adv, expected_ret = reference_token_gae(rewards, values, mask, gamma=gamma, lambda_=lambda_)
    mask_input = {"bool": mask, "int": mask.astype(np.int32), "float": mask.astype(np.float32)}[mask_kind]
    out = token_gae(rewards.astype(dtype), values.astype(dtype), mask_input, gamma=gamma, lambda_=lambda_)
    assert out.advantages.dtype == tf.as_dtype(dtype) and out.advantages.shape == rewards.shape
    advantages, returns = out.advantages.numpy(), out.returns.numpy()
    tol = 1e-10 if dtype == np.float64 else 1e-4
    scale = 1.0 + np.abs(expected_adv).max()
    np.testing.assert_allclose(advantages, expected_adv, atol=tol * scale, rtol=tol)
    np.testing.assert_allclose(returns, expected_ret, atol=tol * scale, rtol=tol)
    assert np.all(advantages[~mask] == 0.0) and np.all(returns[~mask] == 0.0)


@pytest.mark.parametrize("gamma, lambda_", [(1.0, 0.95), (0.9, 0.5), (1.0, 0.0)])
def test_random_batch_with_varied_lengths(gamma, lambda_):
    rng = np.random.default_rng(3)
    num_rows, num_tokens = 6, 12
    lengths = [12, 1, 7, 0, 3, 11]
    rewards = rng.normal(size=(num_rows, num_tokens))
    values = rng.normal(size=(num_rows, num_tokens))
    mask = right_padded_mask(lengths, num_tokens)
    expected_adv, expected_ret = reference_token_gae(rewards, values, mask, gamma=gamma, lambda_=lambda_)
    out = token_gae(rewards, values, mask, gamma=gamma, lambda_=lambda_)
    np.testing.assert_allclose(out.advantages.numpy(), expected_adv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.returns.numpy(), expected_ret, rtol=1e-12, atol=1e-12)


def test_defaults_are_gamma_one_lambda_095():
    rewards = np.array([[0.1, -0.2, 1.0, 0.0]])
    values = np.array([[0.3, 0.2, 0.4, 0.0]])
    mask = np.array([[1, 1, 1, 0]])
    expected, _ = reference_token_gae(rewards, values, mask, gamma=1.0, lambda_=0.95)
    np.testing.assert_allclose(token_gae(rewards, values, mask).advantages.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------- token_gae by hand


def test_gamma_one_lambda_one_returns_are_the_sum_of_future_rewards():
    rewards = np.array([[1.0, 2.0, 3.0, 0.0], [4.0, -1.0, 0.0, 0.0]])
    values = np.array([[0.5, -2.0, 7.0, 0.0], [1.0, 3.0, 0.0, 0.0]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    out = token_gae(rewards, values, mask, gamma=1.0, lambda_=1.0)
    np.testing.assert_allclose(out.returns.numpy(), [[6.0, 5.0, 3.0, 0.0], [3.0, -1.0, 0.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(
        out.advantages.numpy(), [[5.5, 7.0, -4.0, 0.0], [2.0, -4.0, 0.0, 0.0]], rtol=1e-12, atol=1e-12
    )


def test_last_valid_token_is_terminal_and_values_bootstrap_inside_the_response():
    # One row, 3 valid tokens, γ = 0.5, λ = 0.5, by hand:
    # δ_0 = 1 + 0.5·2 − 1 = 1, δ_1 = 0 + 0.5·4 − 2 = 0, δ_2 = 3 − 4 = −1 (no bootstrap after the last token)
    # Â_2 = −1, Â_1 = 0 + 0.25·(−1) = −0.25, Â_0 = 1 + 0.25·(−0.25) = 0.9375
    rewards = np.array([[1.0, 0.0, 3.0, 50.0]])
    values = np.array([[1.0, 2.0, 4.0, 100.0]])
    mask = np.array([[True, True, True, False]])
    out = token_gae(rewards, values, mask, gamma=0.5, lambda_=0.5)
    np.testing.assert_allclose(out.advantages.numpy(), [[0.9375, -0.25, -1.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(out.returns.numpy(), [[1.9375, 1.75, 3.0, 0.0]], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_length_one_responses_give_reward_minus_value_exactly(dtype):
    rewards = np.array([[0.7, np.nan, 5.0], [-1.3, 2.0, 2.0]], dtype)
    values = np.array([[0.2, 9.0, np.nan], [0.45, np.inf, 1.0]], dtype)
    mask = np.array([[1, 0, 0], [1, 0, 0]])
    out = token_gae(rewards, values, mask, gamma=1.0, lambda_=0.95)
    expected_adv = np.array([rewards[0, 0] - values[0, 0], rewards[1, 0] - values[1, 0]], dtype)  # Â = r − V
    np.testing.assert_array_equal(out.advantages.numpy()[:, 0], expected_adv)
    np.testing.assert_array_equal(out.returns.numpy()[:, 0], expected_adv + values[:, 0])  # R = Â + V ≈ r
    np.testing.assert_allclose(out.returns.numpy()[:, 0], rewards[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(out.advantages.numpy()[:, 1:], 0.0)
    np.testing.assert_array_equal(out.returns.numpy()[:, 1:], 0.0)


def test_all_padding_rows_are_all_zero():
    rewards = np.array([[np.nan, 3.0, 1.0], [1.0, 2.0, 3.0]])
    values = np.array([[1e30, np.nan, -np.inf], [0.5, 0.5, 0.5]])
    mask = np.array([[0, 0, 0], [1, 1, 1]])
    out = token_gae(rewards, values, mask, gamma=0.99, lambda_=0.95)
    np.testing.assert_array_equal(out.advantages.numpy()[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out.returns.numpy()[0], [0.0, 0.0, 0.0])
    expected, _ = reference_token_gae(rewards[1:], values[1:], mask[1:], gamma=0.99, lambda_=0.95)
    np.testing.assert_allclose(out.advantages.numpy()[1:], expected, rtol=1e-12)
    everything_padding = token_gae(rewards, values, np.zeros((2, 3), bool))
    np.testing.assert_array_equal(everything_padding.advantages.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(everything_padding.returns.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("garbage", [np.nan, 1e30, -1e30, np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_is_isolated_from_valid_tokens(garbage, dtype):
    rng = np.random.default_rng(8)
    lengths = [5, 2, 8, 1]
    mask = right_padded_mask(lengths, 8)
    rewards = rng.normal(size=mask.shape).astype(dtype)
    values = rng.normal(size=mask.shape).astype(dtype)
    clean_rewards, clean_values = np.where(mask, rewards, 0).astype(dtype), np.where(mask, values, 0).astype(dtype)
    dirty_rewards = np.where(mask, rewards, garbage).astype(dtype)
    dirty_values = np.where(mask, values, garbage).astype(dtype)
    clean = token_gae(clean_rewards, clean_values, mask, gamma=1.0, lambda_=0.95)
    dirty = token_gae(dirty_rewards, dirty_values, mask, gamma=1.0, lambda_=0.95)
    np.testing.assert_array_equal(dirty.advantages.numpy(), clean.advantages.numpy())
    np.testing.assert_array_equal(dirty.returns.numpy(), clean.returns.numpy())
    assert np.all(dirty.advantages.numpy()[~mask] == 0.0) and np.all(dirty.returns.numpy()[~mask] == 0.0)
    expected, _ = reference_token_gae(clean_rewards, clean_values, mask, gamma=1.0, lambda_=0.95)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dirty.advantages.numpy(), expected, rtol=tol, atol=tol)


def test_a_row_is_independent_of_the_other_rows():
    # The other row holds huge numbers and a NaN on a valid token: any leak would show. Its presence may change
    # the matrix products' summation order (float rounding, ~1e-16 here), never the value.
    mask = right_padded_mask([3, 4], 4)
    rewards = np.array([[1.0, 0.0, 2.0, 0.0], [1e12, np.nan, 0.5, -1e12]])
    values = np.array([[0.1, 0.2, 0.3, 0.0], [1e12, 1.0, 1.0, 1.0]])
    both = token_gae(rewards, values, mask, gamma=0.9, lambda_=0.8).advantages.numpy()
    alone = token_gae(rewards[:1], values[:1], mask[:1], gamma=0.9, lambda_=0.8).advantages.numpy()
    np.testing.assert_allclose(both[:1], alone, rtol=1e-14, atol=0)
    expected, _ = reference_token_gae(rewards[:1], values[:1], mask[:1], gamma=0.9, lambda_=0.8)
    np.testing.assert_allclose(alone, expected, rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_valid_token_reaches_only_its_own_and_earlier_tokens(bad):
    # As in tf_gae.gae: Â_t reads δ_j for j ≥ t, so a bad reward at token 5 of a row makes Â_0..Â_5 of that
    # row non-finite and leaves its later tokens and every other row exact. (Long rows: several block levels.)
    rng = np.random.default_rng(3)
    num_tokens = 1500
    mask = right_padded_mask([1500, 1200, 700], num_tokens)
    rewards, values = rng.normal(size=mask.shape), rng.normal(size=mask.shape)
    rewards[1, 5] = bad
    out = token_gae(rewards, values, mask, gamma=1.0, lambda_=0.95)
    advantages = out.advantages.numpy()
    assert not np.isfinite(advantages[1, :6]).any()
    clean = rewards.copy()
    clean[1, 5] = 0.0
    expected, _ = reference_token_gae(clean, values, mask, gamma=1.0, lambda_=0.95)
    np.testing.assert_allclose(advantages[1, 6:], expected[1, 6:], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(advantages[[0, 2]], expected[[0, 2]], rtol=1e-10, atol=1e-10)


def test_a_non_finite_row_under_a_gradient_tape_is_data_without_a_gradient():
    # The slow path (a NaN on a valid token) must work while a tape watches the inputs, as the fast one does.
    rewards = tf.constant([[1.0, 2.0, 3.0], [np.nan, 1.0, 1.0]])
    values = tf.constant(np.full((2, 3), 0.5, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(values)
        out = token_gae(rewards, values, tf.constant([[True] * 3] * 2), gamma=1.0, lambda_=0.95)
        total = tf.reduce_sum(tf.where(tf.math.is_finite(out.advantages), out.advantages, 0.0))
    expected, _ = reference_token_gae(rewards.numpy(), values.numpy(), np.ones((2, 3)), gamma=1.0, lambda_=0.95)
    np.testing.assert_allclose(out.advantages.numpy()[0], expected[0], rtol=1e-6)
    assert np.isnan(out.advantages.numpy()[1, 0]) and np.isfinite(out.advantages.numpy()[1, 1:]).all()
    assert tape.gradient(total, values) is None


@pytest.mark.parametrize("num_tokens", [31, 32, 33, 1023, 1024, 1025])
@pytest.mark.parametrize("gamma, lambda_", [(1.0, 1.0), (1.0, 0.95), (0.99, 0.5), (0.7, 0.0)])
def test_long_rows_across_block_boundaries_match_the_reference(num_tokens, gamma, lambda_):
    # token_gae sums δ in blocks of 32 tokens with 1, 2 or 3 levels of blocks (T ≤ 32, ≤ 1024, ≤ 32768):
    # lengths that end on, just before and just after block edges, in float64 and float32.
    rng = np.random.default_rng(num_tokens)
    lengths = [num_tokens, num_tokens - 1, 1, 0, max(1, num_tokens // 2), 32, 33]
    mask = right_padded_mask([min(length, num_tokens) for length in lengths], num_tokens)
    rewards, values = rng.normal(size=mask.shape), rng.normal(size=mask.shape)
    expected_adv, expected_ret = reference_token_gae(rewards, values, mask, gamma=gamma, lambda_=lambda_)
    out = token_gae(rewards, values, mask, gamma=gamma, lambda_=lambda_)
    np.testing.assert_allclose(out.advantages.numpy(), expected_adv, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.returns.numpy(), expected_ret, rtol=1e-9, atol=1e-9)
    single = token_gae(rewards.astype(np.float32), values.astype(np.float32), mask, gamma=gamma, lambda_=lambda_)
    # float32: the error of summing up to T terms of size ~1 (λ = 1: the sum of the whole row)
    scale = np.sqrt(num_tokens) if gamma * lambda_ == 1.0 else 1.0
    np.testing.assert_allclose(single.advantages.numpy(), expected_adv, atol=2e-4 * scale)


def test_outputs_are_gradient_stopped():
    rewards = tf.Variable(np.ones((2, 3), np.float32))
    values = tf.Variable(np.full((2, 3), 0.5, np.float32))
    mask = tf.constant([[1, 1, 0], [1, 1, 1]])
    with tf.GradientTape(persistent=True) as tape:
        out = token_gae(rewards, values, mask)
        loss = tf.reduce_sum(out.advantages) + tf.reduce_sum(out.returns)
        control = tf.reduce_sum(values * out.advantages)
    assert tape.gradient(loss, [rewards, values]) == [None, None]
    assert tape.gradient(control, values) is not None


def test_usable_inside_a_tf_function_and_its_graph_check_of_right_padding():
    @tf.function
    def advantages_in_graph(rewards, values, mask):
        return token_gae(rewards, values, mask, gamma=0.9, lambda_=0.8).advantages

    rng = np.random.default_rng(5)
    mask = right_padded_mask([2, 5, 0], 5)
    rewards, values = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    expected, _ = reference_token_gae(rewards, values, mask, gamma=0.9, lambda_=0.8)
    got = advantages_in_graph(tf.constant(rewards), tf.constant(values), tf.constant(mask)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    left_padded = tf.constant(mask[:, ::-1].copy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        advantages_in_graph(tf.constant(rewards), tf.constant(values), left_padded)


# ---------------------------------------------------------------- score_rewards


def test_score_lands_on_the_last_valid_token_not_on_padding():
    scores = np.array([2.0, -1.0, 5.0, 0.25])
    mask = np.array(
        [
            [1, 1, 1, 0, 0],  # last valid token: index 2 (the first pad, index 3, must stay 0: TRL #3750)
            [1, 0, 0, 0, 0],  # index 0
            [0, 0, 0, 0, 0],  # no valid token: the score is dropped
            [1, 1, 1, 1, 1],  # full row: index 4
        ]
    )
    expected = np.array(
        [
            [0.0, 0.0, 2.0, 0.0, 0.0],
            [-1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.25],
        ]
    )
    got = score_rewards(scores, mask)
    assert got.dtype == tf.float64 and got.shape == (4, 5)
    np.testing.assert_array_equal(got.numpy(), expected)
    as_float32 = score_rewards(scores.astype(np.float32), mask.astype(bool))
    assert as_float32.dtype == tf.float32
    np.testing.assert_array_equal(as_float32.numpy(), expected.astype(np.float32))


def test_a_nan_score_of_an_empty_row_is_dropped_without_spreading():
    got = score_rewards(np.array([np.nan, 3.0]), np.array([[0, 0, 0], [1, 1, 0]])).numpy()
    np.testing.assert_array_equal(got, [[0.0, 0.0, 0.0], [0.0, 3.0, 0.0]])


# ---------------------------------------------------------------- kl_penalty_rewards by hand

# One response of 3 tokens and one padding position; β = 0.1, score 2.0.
LOG_PROBS = np.array([[-1.0, -2.0, -0.5, np.nan]])
REFERENCE_LOG_PROBS = np.array([[-1.5, -1.0, -0.5, -np.inf]])
# d = [0.5, −1.0, 0.0]
# k3: exp(−0.5) − 1 + 0.5 = 0.6065306597126334 − 0.5 = 0.1065306597126334
#     exp(1.0) − 1 − 1.0 = 2.718281828459045 − 2 = 0.718281828459045
HAND_KL = {"k1": [0.5, -1.0, 0.0, 0.0], "k3": [0.1065306597126334, 0.718281828459045, 0.0, 0.0]}
HAND_REWARDS = {
    "k1": [-0.05, 0.1, 2.0, 0.0],
    "k3": [-0.01065306597126334, -0.0718281828459045, 2.0, 0.0],
}


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_kl_shaping_by_hand(estimator):
    rewards, kl = kl_penalty_rewards(
        np.array([2.0]), LOG_PROBS, REFERENCE_LOG_PROBS, [[1, 1, 1, 0]], beta=0.1, estimator=estimator
    )
    np.testing.assert_allclose(kl.numpy(), [HAND_KL[estimator]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rewards.numpy(), [HAND_REWARDS[estimator]], rtol=1e-12, atol=1e-15)
    assert kl.numpy()[0, 3] == 0.0 and rewards.numpy()[0, 3] == 0.0  # padding: exactly 0, NaN ignored


def test_kl_shaping_with_two_rows_of_different_lengths_and_beta_zero():
    log_probs = np.array([[-1.0, -2.0, -0.5], [-0.3, 7.0, np.nan]])
    reference_log_probs = np.array([[-1.5, -1.0, -0.5], [-0.1, np.nan, 3.0]])
    mask = np.array([[1, 1, 1], [1, 0, 0]])
    rewards, kl = kl_penalty_rewards([2.0, -4.0], log_probs, reference_log_probs, mask, beta=0.1)
    # row 1: d_0 = −0.3 + 0.1 = −0.2; one token carries both the KL and the score: 0.02 − 4.0
    np.testing.assert_allclose(kl.numpy(), [[0.5, -1.0, 0.0], [-0.2, 0.0, 0.0]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rewards.numpy(), [[-0.05, 0.1, 2.0], [-3.98, 0.0, 0.0]], rtol=1e-12, atol=1e-15)
    unshaped, _ = kl_penalty_rewards([2.0, -4.0], log_probs, reference_log_probs, mask, beta=0.0)
    np.testing.assert_array_equal(unshaped.numpy(), [[0.0, 0.0, 2.0], [-4.0, 0.0, 0.0]])


def test_k3_is_never_negative_and_k1_averages_to_the_log_ratio():
    rng = np.random.default_rng(2)
    log_probs = rng.normal(-2.0, 1.0, size=(4, 16))
    reference_log_probs = rng.normal(-2.0, 1.0, size=(4, 16))
    mask = right_padded_mask([16, 9, 3, 0], 16)
    _, kl3 = kl_penalty_rewards(np.zeros(4), log_probs, reference_log_probs, mask, beta=0.2, estimator="k3")
    _, kl1 = kl_penalty_rewards(np.zeros(4), log_probs, reference_log_probs, mask, beta=0.2, estimator="k1")
    d = log_probs - reference_log_probs
    # e^{−d} − 1 + d in float64 by expm1 (the literal form cancels: ~1e-16 / d² relative error for small d)
    np.testing.assert_allclose(kl3.numpy()[mask], (np.expm1(-d) + d)[mask], rtol=1e-12)
    np.testing.assert_allclose(kl1.numpy()[mask], d[mask], rtol=1e-12)
    assert np.all(kl3.numpy() >= 0.0)


def test_kl_rewards_feed_token_gae():
    rewards, _ = kl_penalty_rewards(np.array([2.0]), LOG_PROBS, REFERENCE_LOG_PROBS, [[1, 1, 1, 0]], beta=0.1)
    out = token_gae(rewards, np.zeros((1, 4)), [[1, 1, 1, 0]], gamma=1.0, lambda_=1.0)
    np.testing.assert_allclose(out.returns.numpy(), [[2.05, 2.1, 2.0, 0.0]], rtol=1e-12)


# ---------------------------------------------------------------- masked statistics against numpy


def test_masked_mean_and_whiten_match_numpy_over_the_mask():
    rng = np.random.default_rng(21)
    x = rng.normal(3.0, 2.0, size=(5, 7))
    mask = right_padded_mask([7, 3, 0, 5, 1], 7)
    x_dirty = np.where(mask, x, np.nan)  # padding never read
    valid = x[mask]
    assert masked_mean(x_dirty, mask).numpy() == pytest.approx(valid.mean(), rel=1e-12)

    whitened = masked_whiten(x_dirty, mask).numpy()
    expected = (valid - valid.mean()) / np.sqrt(valid.var() + 1e-8)  # np.var: biased, ddof = 0
    np.testing.assert_allclose(whitened[mask], expected, rtol=1e-10)
    np.testing.assert_array_equal(whitened[~mask], 0.0)
    assert abs(whitened[mask].mean()) < 1e-12 and whitened[mask].std() == pytest.approx(1.0, rel=1e-6)

    kept_mean = masked_whiten(x_dirty, mask, shift_mean=False).numpy()
    np.testing.assert_allclose(kept_mean[mask], expected + valid.mean(), rtol=1e-10)
    np.testing.assert_array_equal(kept_mean[~mask], 0.0)
    assert kept_mean[mask].mean() == pytest.approx(valid.mean(), rel=1e-10)
    assert kept_mean[mask].std() == pytest.approx(1.0, rel=1e-6)


def test_masked_whiten_float32_and_bool_mask():
    rng = np.random.default_rng(4)
    x = rng.normal(-1.0, 5.0, size=(3, 50)).astype(np.float32)
    mask = rng.random((3, 50)) < 0.5  # any mask, not only right-padded ones
    got = masked_whiten(x, mask).numpy()
    assert got.dtype == np.float32
    valid = x[mask].astype(np.float64)
    np.testing.assert_allclose(got[mask], (valid - valid.mean()) / np.sqrt(valid.var() + 1e-8), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shift_mean", [True, False])
def test_masked_whiten_with_fewer_than_two_valid_entries_is_finite(shift_mean):
    x = np.array([[2.5, np.nan, 7.0], [1.0, 1.0, 1.0]])
    one_valid = masked_whiten(x, [[1, 0, 0], [0, 0, 0]], shift_mean=shift_mean).numpy()
    # one valid entry: x − mean = 0, or x itself when the mean is kept; padding 0
    np.testing.assert_array_equal(one_valid, [[2.5 if not shift_mean else 0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    none_valid = masked_whiten(x, np.zeros((2, 3)), shift_mean=shift_mean).numpy()
    np.testing.assert_array_equal(none_valid, np.zeros((2, 3)))
    assert masked_mean(x, np.zeros((2, 3))).numpy() == 0.0


def test_masked_whiten_of_a_constant_is_zero_not_nan():
    got = masked_whiten(np.full((2, 3), 4.0), np.ones((2, 3)), epsilon=0.0).numpy()
    np.testing.assert_array_equal(got, np.zeros((2, 3)))


# ---------------------------------------------------------------- bad input


def _valid_gae_arguments():
    return dict(
        rewards=np.ones((2, 4), np.float32),
        values=np.zeros((2, 4), np.float32),
        response_mask=np.array([[1, 1, 0, 0], [1, 1, 1, 1]]),
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(response_mask=np.array([[0, 1, 1, 0], [1, 1, 1, 1]])), ValueError, "response_mask must be right-padded"),
        (dict(response_mask=np.array([[1, 0, 1, 0], [1, 1, 1, 1]])), ValueError, "response_mask must be right-padded"),
        (dict(response_mask=np.array([[1, 2, 0, 0], [1, 1, 1, 1]])), ValueError, "response_mask must hold only 0/1"),
        (dict(response_mask=np.ones((2, 5))), ValueError, "response_mask has shape"),
        (dict(values=np.zeros((2, 3), np.float32)), ValueError, "values has shape"),
        (dict(values=np.zeros((4, 2), np.float32)), ValueError, "values has shape"),
        (dict(rewards=np.ones(4, np.float32)), ValueError, r"rewards must have shape \[B, T\]"),
        (dict(rewards=np.ones((2, 4), np.int32)), TypeError, "rewards must be float32 or float64"),
        (dict(values=np.zeros((2, 4), np.int32)), TypeError, "values must be floats"),
        (
            dict(rewards=np.ones((2, 0)), values=np.ones((2, 0)), response_mask=np.ones((2, 0))),
            ValueError,
            "at least one of the tokens",
        ),
        (dict(gamma=1.5), ValueError, "gamma must lie in"),
        (dict(lambda_=-0.1), ValueError, "lambda_ must lie in"),
    ],
)
def test_token_gae_bad_input_names_the_argument(change, error, message):
    arguments = {**_valid_gae_arguments(), **change}
    with pytest.raises(error, match=message):
        token_gae(**arguments)


def test_score_rewards_bad_input():
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="response_mask must be right-padded"):
        score_rewards(np.ones(2), np.array([[0, 0, 1], [1, 0, 0]]))  # left padding
    with pytest.raises(ValueError, match="scores has shape"):
        score_rewards(np.ones(3), mask)
    with pytest.raises(ValueError, match=r"scores must have shape \[B\]"):
        score_rewards(np.ones((2, 1)), mask)
    with pytest.raises(TypeError, match="scores must be float32 or float64"):
        score_rewards(np.array([1, 2]), mask)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(beta=-0.1), "beta must be ≥ 0"),
        (dict(beta=math.nan), "beta must be ≥ 0"),
        (dict(beta="0.1"), "beta must be a real number"),
        (dict(estimator="k2"), "estimator must be one of"),
        (dict(estimator="K1"), "estimator must be one of"),
        (dict(reference_log_probs=np.zeros((1, 4))), "reference_log_probs has shape"),
        (dict(response_mask=[[1, 0, 1]]), "response_mask must be right-padded"),
        (dict(scores=[1.0, 2.0]), "scores has shape"),
    ],
)
def test_kl_penalty_rewards_bad_input(change, message):
    arguments = dict(
        scores=[1.0],
        log_probs=np.zeros((1, 3)),
        reference_log_probs=np.zeros((1, 3)),
        response_mask=[[1, 1, 0]],
        beta=0.1,
        estimator="k1",
    )
    with pytest.raises(ValueError, match=message):
        kl_penalty_rewards(**{**arguments, **change})


def test_masked_statistics_bad_input():
    with pytest.raises(ValueError, match="mask has shape"):
        masked_whiten(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="mask has shape"):
        masked_mean(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="mask must hold only 0/1"):
        masked_whiten(np.ones(3), np.array([1, 0.5, 0]))
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        masked_mean(np.ones(3, np.int64), np.ones(3))
    with pytest.raises(ValueError, match="epsilon must be a number ≥ 0"):
        masked_whiten(np.ones(3), np.ones(3), epsilon=-1.0)
