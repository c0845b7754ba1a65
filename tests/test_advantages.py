"""tf_gae.advantages against the float64 reference of the paper's eq. 16, identities and hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf_gae
from tf_gae._tf import tf
from tf_gae.advantages import _kernel

from .reference import reference_discounted_returns, reference_gae


def random_rollout(seed, num_steps=50, num_envs=4, dtype=np.float64, p_terminal=0.08, p_truncated=0.05):
    rng = np.random.default_rng(seed)
    shape = (num_steps, num_envs)
    rewards = rng.normal(size=shape).astype(dtype)
    values = rng.normal(size=shape).astype(dtype)
    next_values = rng.normal(size=shape).astype(dtype)
    terminated = rng.random(shape) < p_terminal
    truncated = (rng.random(shape) < p_truncated) & ~terminated
    return rewards, values, next_values, terminated, truncated


# ---------------------------------------------------------------- against the explicit-sum reference


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95, 1.0], ids=lambda x: f"lambda{x}")
@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0], ids=lambda x: f"gamma{x}")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_explicit_sum_reference(gamma, lambda_, dtype):
    rollout = random_rollout(seed=int(100 * gamma + 10 * lambda_), dtype=dtype)
    expected_adv, expected_ret = reference_gae(*rollout, gamma=gamma, lambda_=lambda_)
    out = tf_gae.gae(*rollout, gamma=gamma, lambda_=lambda_)
    assert out.advantages.dtype == tf.as_dtype(dtype) and out.returns.dtype == tf.as_dtype(dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out.advantages.numpy(), expected_adv, rtol=tol, atol=tol)
    np.testing.assert_allclose(out.returns.numpy(), expected_ret, rtol=tol, atol=tol)


def test_batch_major_and_rank_one_agree_with_time_major():
    rewards, values, next_values, terminated, truncated = random_rollout(seed=7, num_steps=31, num_envs=5)
    time_major = tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=0.97, lambda_=0.9)
    batch_major = tf_gae.gae(
        rewards.T, values.T, next_values.T, terminated.T, truncated.T, gamma=0.97, lambda_=0.9, time_major=False
    )
    np.testing.assert_allclose(batch_major.advantages.numpy().T, time_major.advantages.numpy(), rtol=1e-12)
    np.testing.assert_allclose(batch_major.returns.numpy().T, time_major.returns.numpy(), rtol=1e-12)
    for b in range(5):
        single = tf_gae.gae(
            rewards[:, b], values[:, b], next_values[:, b], terminated[:, b], truncated[:, b], gamma=0.97, lambda_=0.9
        )
        assert single.advantages.shape == (31,)
        expected, _ = reference_gae(
            rewards[:, b], values[:, b], next_values[:, b], terminated[:, b], truncated[:, b], gamma=0.97, lambda_=0.9
        )
        np.testing.assert_allclose(single.advantages.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------- identities


def test_lambda_zero_is_the_td_residual():
    rewards, values, next_values, terminated, truncated = random_rollout(seed=1)
    advantages = tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=0.9, lambda_=0.0).advantages
    deltas = tf_gae.td_residuals(rewards, values, next_values, terminated, gamma=0.9)
    np.testing.assert_allclose(advantages.numpy(), deltas.numpy(), rtol=1e-12, atol=1e-12)
    # and δ by hand for one entry
    t, b = 3, 2
    by_hand = rewards[t, b] + (0.0 if terminated[t, b] else 0.9 * next_values[t, b]) - values[t, b]
    assert deltas.numpy()[t, b] == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 1.0])
def test_lambda_one_is_bootstrapped_discounted_return_minus_value(gamma):
    rng = np.random.default_rng(3)
    num_steps = 40
    rewards = rng.normal(size=num_steps)
    terminated = np.zeros(num_steps, bool)
    truncated = np.zeros(num_steps, bool)
    terminated[[9, 25]] = True
    truncated[17] = True
    state_values = rng.normal(size=num_steps + 1)  # V(s_0..s_T)
    values = state_values[:-1]
    next_values = state_values[1:].copy()
    next_values[17] = 5.0  # V(final observation of the truncated episode), not V(reset observation)
    advantages = tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=gamma, lambda_=1.0).advantages
    returns = tf_gae.discounted_returns(rewards, terminated, truncated, bootstrap_values=next_values, gamma=gamma)
    expected = reference_discounted_returns(rewards, terminated, truncated, next_values, gamma=gamma)
    np.testing.assert_allclose(returns.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(advantages.numpy(), expected - values, rtol=1e-10, atol=1e-10)


def test_returns_are_advantages_plus_values_and_the_lambda_return():
    rollout = random_rollout(seed=5)
    out = tf_gae.gae(*rollout, gamma=0.99, lambda_=0.95)
    np.testing.assert_allclose(out.returns.numpy(), out.advantages.numpy() + rollout[1], rtol=1e-12)
    np.testing.assert_allclose(
        tf_gae.lambda_returns(*rollout, gamma=0.99, lambda_=0.95).numpy(), out.returns.numpy(), rtol=1e-12
    )


def test_lambda_return_is_the_weighted_average_of_n_step_returns():
    """Sutton & Barto eq. 12.3 on one unbroken stretch: R^λ_t = (1−λ) Σ_n λ^{n−1} G_t^{(n)} + λ^{T−t−1} G_t^{(T−t)}."""
    rng = np.random.default_rng(11)
    num_steps, gamma, lambda_ = 12, 0.9, 0.7
    rewards = rng.normal(size=num_steps)
    state_values = rng.normal(size=num_steps + 1)
    values, next_values = state_values[:-1], state_values[1:]
    no_flags = np.zeros(num_steps, bool)
    got = tf_gae.lambda_returns(rewards, values, next_values, no_flags, gamma=gamma, lambda_=lambda_).numpy()

    def n_step_return(t, n):  # G_t^(n) = Σ_{k<n} γ^k r_{t+k} + γ^n V(s_{t+n})
        return sum(gamma**k * rewards[t + k] for k in range(n)) + gamma**n * state_values[t + n]

    for t in range(num_steps):
        horizon = num_steps - t
        expected = (1 - lambda_) * sum(lambda_ ** (n - 1) * n_step_return(t, n) for n in range(1, horizon))
        expected += lambda_ ** (horizon - 1) * n_step_return(t, horizon)
        assert got[t] == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------- episode boundaries, by hand


def test_several_episodes_in_one_rollout_by_hand():
    # Steps:      0     1     2(term)  3     4(trunc)  5
    rewards = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    values = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    next_values = np.array([0.5, 0.5, 99.0, 0.5, 2.0, 1.0])  # 99 is never read (terminal); 2.0 = V(final obs)
    terminated = np.array([0, 0, 1, 0, 0, 0])
    truncated = np.array([0, 0, 0, 0, 1, 0])
    gamma, lambda_ = 0.5, 0.5
    delta = [1 + 0.25 - 0.5, 2 + 0.25 - 0.5, 3 - 0.5, 4 + 0.25 - 0.5, 5 + 1.0 - 0.5, 6 + 0.5 - 0.5]
    a5 = delta[5]  # the step after the last counts as cut
    a4 = delta[4]  # truncated: bootstraps, nothing flows back from step 5
    a3 = delta[3] + 0.25 * a4
    a2 = delta[2]  # terminal
    a1 = delta[1] + 0.25 * a2
    a0 = delta[0] + 0.25 * a1
    out = tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=gamma, lambda_=lambda_)
    np.testing.assert_allclose(out.advantages.numpy(), [a0, a1, a2, a3, a4, a5], rtol=1e-12)
    np.testing.assert_allclose(out.returns.numpy(), np.array([a0, a1, a2, a3, a4, a5]) + 0.5, rtol=1e-12)


def test_terminal_on_the_last_step_does_not_bootstrap():
    rewards = np.array([1.0, 1.0, 1.0], np.float32)
    values = np.zeros(3, np.float32)
    next_values = np.array([0.0, 0.0, np.nan], np.float32)  # nothing follows a terminal state
    out = tf_gae.gae(rewards, values, next_values, [0, 0, 1], gamma=1.0, lambda_=1.0)
    np.testing.assert_allclose(out.advantages.numpy(), [3.0, 2.0, 1.0])


def test_last_step_without_flags_bootstraps_from_next_value():
    out = tf_gae.gae([1.0], [0.0], [10.0], [False], gamma=0.9, lambda_=0.95)
    assert out.advantages.numpy()[0] == pytest.approx(1.0 + 0.9 * 10.0)


def test_truncation_bootstraps_and_nothing_of_the_next_episode_leaks_back():
    rewards, values, next_values, terminated, truncated = random_rollout(seed=9, num_steps=20, num_envs=1)
    terminated[:] = False
    truncated[:] = False
    truncated[9, 0] = True
    base = tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=0.99, lambda_=0.95).advantages.numpy()
    # Change everything about the next episode: the first one must not move.
    changed = [x.copy() for x in (rewards, values, next_values)]
    for x in changed:
        x[10:] += 100.0
    after = tf_gae.gae(*changed, terminated, truncated, gamma=0.99, lambda_=0.95).advantages.numpy()
    np.testing.assert_array_equal(after[:10], base[:10])
    assert np.all(np.abs(after[10:] - base[10:]) > 1.0)
    # The truncated step bootstraps: raising V(final observation) by 1 raises Â_9 by γ, Â_8 by γ·γλ.
    bumped = next_values.copy()
    bumped[9, 0] += 1.0
    moved = tf_gae.gae(rewards, values, bumped, terminated, truncated, gamma=0.99, lambda_=0.95).advantages.numpy()
    assert moved[9, 0] - base[9, 0] == pytest.approx(0.99, rel=1e-9)
    assert moved[8, 0] - base[8, 0] == pytest.approx(0.99 * 0.99 * 0.95, rel=1e-9)
    # Folding truncation into termination (CleanRL #198) would lose exactly that bootstrap.
    folded = tf_gae.gae(rewards, values, next_values, terminated | truncated, None, gamma=0.99, lambda_=0.95)
    assert folded.advantages.numpy()[9, 0] == pytest.approx(base[9, 0] - 0.99 * next_values[9, 0], rel=1e-9)


# ---------------------------------------------------------------- non-finite inputs


def test_nan_reward_poisons_only_its_own_episode_up_to_that_step():
    rewards = np.ones(8)
    rewards[5] = np.nan
    terminated = np.zeros(8, bool)
    terminated[2] = True  # episodes: steps 0-2, 3-7
    out = tf_gae.gae(rewards, np.zeros(8), np.zeros(8), terminated, gamma=0.9, lambda_=0.9).advantages.numpy()
    assert np.isfinite(out[:3]).all(), "NaN crossed an episode boundary"
    assert np.isnan(out[3:6]).all(), "steps of the same episode at or before the NaN use it"
    assert np.isfinite(out[6:]).all(), "steps after the NaN do not use it"


def test_infinite_next_value_behind_a_terminal_is_ignored():
    next_values = np.array([0.0, np.inf, 0.0])
    out = tf_gae.gae(np.ones(3), np.zeros(3), next_values, [0, 1, 0], gamma=0.9, lambda_=0.9).advantages.numpy()
    assert np.isfinite(out).all()


# ---------------------------------------------------------------- property tests


@st.composite
def rollouts(draw):
    num_steps = draw(st.integers(1, 30))
    num_envs = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    p_flag = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(seed)
    shape = (num_steps, num_envs)
    terminated = rng.random(shape) < p_flag
    truncated = rng.random(shape) < p_flag
    arrays = [rng.normal(size=shape) * 10 for _ in range(3)]
    gamma = draw(st.floats(0.0, 1.0))
    lambda_ = draw(st.floats(0.0, 1.0))
    return arrays, terminated, truncated, gamma, lambda_


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rollouts(), st.sampled_from([np.float64, np.float32]), st.booleans())
def test_property_matches_reference(rollout, dtype, time_major):
    (rewards, values, next_values), terminated, truncated, gamma, lambda_ = rollout
    expected_adv, expected_ret = reference_gae(
        rewards, values, next_values, terminated, truncated, gamma=gamma, lambda_=lambda_
    )
    inputs = [x.astype(dtype) for x in (rewards, values, next_values)] + [terminated, truncated.astype(np.int32)]
    if not time_major:
        inputs = [x.T for x in inputs]
    out = tf_gae.gae(*inputs, gamma=gamma, lambda_=lambda_, time_major=time_major)
    advantages, returns = out.advantages.numpy(), out.returns.numpy()
    if not time_major:
        advantages, returns = advantages.T, returns.T
    tol = 1e-9 if dtype == np.float64 else 1e-3
    scale = 1.0 + np.abs(expected_adv).max()
    np.testing.assert_allclose(advantages, expected_adv, atol=tol * scale, rtol=tol)
    np.testing.assert_allclose(returns, expected_ret, atol=tol * scale, rtol=tol)


# ---------------------------------------------------------------- gradients, compilation, graph use


def test_outputs_are_gradient_stopped():
    rewards = tf.constant(np.ones((4, 2)), tf.float32)
    values = tf.Variable(np.full((4, 2), 0.5, np.float32))
    next_values = tf.Variable(np.full((4, 2), 0.5, np.float32))
    with tf.GradientTape(persistent=True) as tape:
        out = tf_gae.gae(rewards, values, next_values, tf.zeros((4, 2), tf.bool))
        loss = tf.reduce_sum(out.advantages) + tf.reduce_sum(out.returns)
        # a control: a loss that does use `values` has a gradient
        control = tf.reduce_sum(values * out.advantages)
    assert tape.gradient(loss, [values, next_values]) == [None, None]
    np.testing.assert_allclose(tape.gradient(control, values).numpy(), out.advantages.numpy())


def test_one_trace_serves_every_length_and_batch_size():
    kernel = _kernel(tf.float32, True)
    before = kernel.experimental_get_tracing_count()
    for num_steps, num_envs in [(1, 1), (5, 3), (128, 8), (77, 1), (3, 64)]:
        ones = np.ones((num_steps, num_envs), np.float32)
        tf_gae.gae(ones, ones, ones, ones == 0, ones == 0)
        tf_gae.gae(ones[:, 0], ones[:, 0], ones[:, 0], ones[:, 0] == 0)  # rank 1 uses the same trace
    assert kernel.experimental_get_tracing_count() - before <= 1
    assert kernel.experimental_get_tracing_count() == 1
    kernel64 = _kernel(tf.float64, True)
    for num_steps in (2, 9):
        ones = np.ones((num_steps, 2))
        tf_gae.gae(ones, ones, ones, ones == 0)
    assert kernel64.experimental_get_tracing_count() == 1


def test_usable_inside_a_users_tf_function():
    @tf.function
    def advantages_in_graph(rewards, values, next_values, terminated, truncated):
        return tf_gae.gae(rewards, values, next_values, terminated, truncated, gamma=0.9, lambda_=0.8).advantages

    rollout = random_rollout(seed=12, num_steps=15, num_envs=3, dtype=np.float32)
    got = advantages_in_graph(*[tf.constant(x) for x in rollout]).numpy()
    expected, _ = reference_gae(*rollout, gamma=0.9, lambda_=0.8)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- bad input


def _valid(num_steps=4):
    return dict(
        rewards=np.ones(num_steps, np.float32),
        values=np.zeros(num_steps, np.float32),
        next_values=np.zeros(num_steps, np.float32),
        terminated=np.zeros(num_steps, bool),
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(values=np.zeros(5, np.float32)), ValueError, "values has shape"),
        (dict(terminated=np.zeros((4, 1), bool)), ValueError, "terminated has shape"),
        (dict(rewards=np.ones(4, np.int64)), TypeError, "rewards must be float32 or float64"),
        (dict(rewards=np.ones(4, np.float16)), TypeError, "rewards must be float32 or float64"),
        (dict(values=np.zeros(4, np.int32)), TypeError, "values must be float"),
        (dict(terminated=np.array([0, 2, 0, 0])), ValueError, "terminated must hold only 0/1"),
        (dict(terminated=np.array([0.0, 0.5, 0, 0])), ValueError, "terminated must hold only 0/1"),
        (dict(truncated=np.array([0, 0, 0, -1])), ValueError, "truncated must hold only 0/1"),
        (dict(terminated=np.array(["a", "b", "c", "d"])), TypeError, "terminated must be a numeric"),
        (dict(gamma=1.5), ValueError, "gamma must lie in"),
        (dict(gamma=-0.1), ValueError, "gamma must lie in"),
        (dict(gamma=float("nan")), ValueError, "gamma must lie in"),
        (dict(lambda_=1.01), ValueError, "lambda_ must lie in"),
        (dict(lambda_="0.9"), ValueError, "lambda_ must be a real number"),
        (dict(lambda_=np.array([0.9, 0.9])), ValueError, "lambda_ must be a scalar"),
    ],
)
def test_bad_input_names_the_argument(change, error, message):
    arguments = {**_valid(), **change}
    with pytest.raises(error, match=message):
        tf_gae.gae(**arguments)


def test_empty_and_wrong_rank_inputs_are_refused():
    empty = np.zeros(0, np.float32)
    with pytest.raises(ValueError, match="at least one of the time steps"):
        tf_gae.gae(empty, empty, empty, empty)
    no_envs = np.zeros((3, 0), np.float32)
    with pytest.raises(ValueError, match="at least one of the environments"):
        tf_gae.gae(no_envs, no_envs, no_envs, no_envs)
    with pytest.raises(ValueError, match="at least one of the time steps"):
        tf_gae.gae(no_envs, no_envs, no_envs, no_envs, time_major=False)  # [B=3, T=0]
    cube = np.zeros((2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="rank 3"):
        tf_gae.gae(cube, cube, cube, cube)


def test_flags_as_numbers_and_values_as_another_float_dtype_are_accepted():
    rollout = random_rollout(seed=4, dtype=np.float32)
    rewards, values, next_values, terminated, truncated = rollout
    as_bool = tf_gae.gae(*rollout).advantages.numpy()
    as_numbers = tf_gae.gae(
        rewards, values.astype(np.float64), next_values, terminated.astype(np.float32), truncated.astype(np.int64)
    ).advantages
    assert as_numbers.dtype == tf.float32  # follows rewards
    np.testing.assert_allclose(as_numbers.numpy(), as_bool, rtol=1e-6)


# ---------------------------------------------------------------- normalize_advantages


def test_normalize_matches_numpy_over_the_mask():
    rng = np.random.default_rng(21)
    advantages = rng.normal(3.0, 2.0, size=(6, 5))
    mask = rng.random((6, 5)) < 0.6
    got = tf_gae.normalize_advantages(advantages, mask).numpy()
    valid = advantages[mask]
    expected = (valid - valid.mean()) / (valid.std(ddof=1) + 1e-8)
    np.testing.assert_allclose(got[mask], expected, rtol=1e-10)
    np.testing.assert_array_equal(got[~mask], advantages[~mask])  # outside the mask: unchanged
    assert abs(got[mask].mean()) < 1e-10 and got[mask].std(ddof=1) == pytest.approx(1.0, rel=1e-6)
    unmasked = tf_gae.normalize_advantages(advantages).numpy()
    np.testing.assert_allclose(unmasked, (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8))


@pytest.mark.parametrize("valid_entries", [0, 1])
def test_normalize_with_fewer_than_two_valid_entries_is_unchanged_not_nan(valid_entries):
    advantages = np.array([0.7, -1.2, 3.0])
    mask = np.arange(3) < valid_entries
    got = tf_gae.normalize_advantages(advantages, mask).numpy()
    np.testing.assert_array_equal(got, advantages)
    single = tf_gae.normalize_advantages(np.array([2.5], np.float32)).numpy()  # SB3 #325: one-sample batch
    np.testing.assert_array_equal(single, [2.5])


def test_normalize_inside_tf_function_and_constant_input():
    @tf.function
    def normalized(x, m):
        return tf_gae.normalize_advantages(x, m)

    got = normalized(tf.constant([1.0, 2.0, 3.0, 9.0]), tf.constant([True, True, True, False])).numpy()
    np.testing.assert_allclose(got, [-1.0, 0.0, 1.0, 9.0], atol=1e-6)
    constant = tf_gae.normalize_advantages(np.full(4, 5.0)).numpy()  # zero spread: finite, zero
    np.testing.assert_allclose(constant, np.zeros(4), atol=1e-6)
    with pytest.raises(ValueError, match="mask has shape"):
        tf_gae.normalize_advantages(np.ones(3), np.ones(4, bool))
