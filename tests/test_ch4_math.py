"""Chapter 4 (the maths): its identities, its horizon table and its baseline experiment, against independent facts."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import tf_gae
from chapters import ch4_math as ch4
from tf_gae import mdp as tabular
from tf_gae._tf import tf

from .reference import reference_discounted_returns, reference_gae

TOLERANCE = 1e-10  # float64 identities


def gae(rollout: ch4.Rollout, gamma: float, lambda_: float) -> np.ndarray:
    return tf_gae.gae(
        rollout.rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated,
        gamma=gamma, lambda_=lambda_,
    ).advantages.numpy()


@pytest.fixture(scope="module")
def rollout() -> ch4.Rollout:
    return ch4.random_rollout(num_steps=48, num_envs=6, seed=3)


@pytest.fixture(scope="module")
def experiment() -> ch4.BaselineExperiment:
    return ch4.baseline_experiment(num_episodes=20_000, seed=0, noise_scales=(0.5, 1.0, 4.0), noise_draws=3)


# ---------------------------------------------------------------------------------- (1)-(3)


def test_rollout_has_both_kinds_of_episode_end_and_consistent_values(rollout):
    assert rollout.terminated.any() and rollout.truncated.any()
    assert not (rollout.terminated & rollout.truncated).any()
    inside = ~(rollout.terminated | rollout.truncated)[:-1]  # steps whose episode continues into the next row
    np.testing.assert_array_equal(rollout.next_values[:-1][inside], rollout.values[1:][inside])
    assert np.isnan(rollout.next_values[rollout.terminated]).all()


@pytest.mark.parametrize("gamma, lambda_", [(0.99, 0.95), (1.0, 1.0), (0.9, 0.0), (0.0, 0.5)])
def test_explicit_sum_is_the_papers_equation_16(rollout, gamma, lambda_):
    """The chapter's slow sum agrees with the tests' own reference written from eq. 16."""
    expected, _ = reference_gae(
        rollout.rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated,
        gamma=gamma, lambda_=lambda_,
    )
    np.testing.assert_allclose(ch4.explicit_gae_sum(rollout, gamma, lambda_), expected, rtol=0, atol=1e-12)


def test_recursion_equals_explicit_sum(rollout):
    assert ch4.recursion_vs_explicit_sum_error(rollout) < TOLERANCE


def test_the_identity_check_can_fail(rollout):
    """A wrong λ on one side is caught: the error measure is not trivially zero."""
    wrong = ch4.explicit_gae_sum(rollout, 0.99, 0.9)
    right = gae(rollout, 0.99, 0.95)
    assert np.max(np.abs(wrong - right)) > 1e-2


def test_lambda_one_is_discounted_return_minus_value(rollout):
    assert ch4.lambda_one_error(rollout) < TOLERANCE
    # and that return is the independent reference's, column by column
    returns = np.stack([
        reference_discounted_returns(
            rollout.rewards[:, b], rollout.terminated[:, b], rollout.truncated[:, b], rollout.next_values[:, b],
            gamma=0.9,
        )
        for b in range(rollout.rewards.shape[1])
    ], axis=1)
    advantages = gae(rollout, 0.9, 1.0)
    np.testing.assert_allclose(advantages, returns - rollout.values, rtol=0, atol=TOLERANCE)


def test_lambda_zero_is_td_residual(rollout):
    assert ch4.lambda_zero_error(rollout) < TOLERANCE
    bootstrap = np.where(rollout.terminated, 0.0, 0.9 * rollout.next_values)
    delta = rollout.rewards + bootstrap - rollout.values
    np.testing.assert_allclose(gae(rollout, 0.9, 0.0), delta, rtol=0, atol=TOLERANCE)


# ---------------------------------------------------------------------------------- (4)


@pytest.mark.parametrize("lambda_", [0.0, 0.3, 1.0])
def test_explicit_lambda_return_by_hand_on_two_steps(lambda_):
    gamma, rewards, next_values = 0.5, np.array([1.0, 2.0]), np.array([4.0, 8.0])
    # cut end: G^λ_0 = (1−λ)(r0 + γ v1) + λ (r0 + γ r1 + γ² v2),  G^λ_1 = r1 + γ v2
    cut = ch4.explicit_lambda_return(rewards, next_values, False, gamma, lambda_)
    np.testing.assert_allclose(cut, [(1 - lambda_) * 3.0 + lambda_ * 4.0, 6.0], rtol=0, atol=1e-14)
    # terminal end: the last n-step return has no bootstrap
    end = ch4.explicit_lambda_return(rewards, next_values, True, gamma, lambda_)
    np.testing.assert_allclose(end, [(1 - lambda_) * 3.0 + lambda_ * 2.0, 2.0], rtol=0, atol=1e-14)


def test_returns_are_the_lambda_return():
    assert ch4.lambda_return_error(num_steps=25, seed=5) < TOLERANCE


# ---------------------------------------------------------------------------------- (5)


@pytest.mark.parametrize(
    "gamma, lambda_, horizon",
    [(0.99, 0.95, 1 / (1 - 0.9405)), (0.99, 1.0, 100.0), (0.9, 0.5, 1 / 0.55), (0.99, 0.0, 1.0), (1.0, 1.0, math.inf)],
)
def test_effective_horizon(gamma, lambda_, horizon):
    assert ch4.effective_horizon(gamma, lambda_) == pytest.approx(horizon, rel=1e-12)


def test_kernel_weights_are_powers_of_gamma_lambda():
    np.testing.assert_allclose(ch4.kernel_weights(0.9, 0.5, 12), 0.45 ** np.arange(12), rtol=1e-13, atol=0)


def test_horizon_table():
    rows = ch4.horizon_table(length=4000)
    assert [(r.gamma, r.lambda_) for r in rows] == ch4.HORIZON_PAIRS
    assert rows[4].horizon == pytest.approx(16.80672268907563)  # γ = 0.99, λ = 0.95
    for row in rows:
        decay = row.gamma * row.lambda_
        assert abs(row.kernel_sum - row.horizon) < 1e-9
        # Σ_{l<n} x^l / Σ_l x^l = 1 − x^n
        assert row.share_within_horizon == pytest.approx(1 - decay ** math.ceil(row.horizon), abs=1e-10)
        if decay > 0:
            assert decay**row.half_life == pytest.approx(0.5)
    assert rows[-1].share_within_horizon == pytest.approx(1 - 1 / math.e, abs=0.005)  # H = 100


# ---------------------------------------------------------------------------------- (6)


def test_two_step_mdp_is_enumerable_and_every_trajectory_is_listed():
    mdp = ch4.two_step_mdp(seed=0)
    policy = tf.nn.softmax(ch4.random_logits(mdp, 1), axis=-1).numpy()
    probabilities, episodes = tabular.enumerate_episodes(mdp, policy, max_steps=2)
    assert probabilities.size == 2 * 3 * 3 * 3 and probabilities.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(episodes.lengths == 2) and np.all(episodes.terminated[1])
    first_return = episodes.rewards[0] + mdp.gamma * episodes.rewards[1]  # G_0 = r_0 + γ r_1
    values = tabular.policy_evaluation(mdp, policy)
    assert probabilities @ first_return == pytest.approx(mdp.initial @ values, abs=1e-12)


def test_exact_gradient_matches_finite_differences():
    mdp = ch4.two_step_mdp(seed=1)
    logits = ch4.random_logits(mdp, 2)
    _, gradient = ch4.exact_policy_gradient(mdp, logits)
    step = 1e-6
    numeric = np.zeros_like(logits)
    for index in np.ndindex(*logits.shape):
        bump = np.zeros_like(logits)
        bump[index] = step
        plus = ch4.exact_objective(tf.constant(logits + bump), mdp).numpy()
        minus = ch4.exact_objective(tf.constant(logits - bump), mdp).numpy()
        numeric[index] = (plus - minus) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=0, atol=1e-8)
    assert np.all(gradient[mdp.terminal] == 0.0)


def test_baseline_term_has_zero_expectation():
    mdp = ch4.two_step_mdp(seed=0)
    policy = tf.nn.softmax(ch4.random_logits(mdp, 1), axis=-1).numpy()
    baseline = np.random.default_rng(0).normal(scale=100.0, size=mdp.num_states)
    assert ch4.baseline_term_expectation(mdp, policy, baseline) < 1e-10


def test_exact_objects_of_the_baseline_experiment(experiment):
    assert experiment.objective_error < TOLERANCE
    assert experiment.theorem_error < TOLERANCE
    assert experiment.baseline_term_error < TOLERANCE
    assert experiment.num_trajectories == 54
    assert len(experiment.estimates) == 3 + 3 * 3
    for estimate in experiment.estimates:  # E[g] = ∇J exactly, by enumeration, for every baseline
        assert estimate.exact_mean_error < TOLERANCE, estimate.label


def test_every_baseline_estimate_is_within_four_standard_errors(experiment):
    live = experiment.live
    for estimate in experiment.estimates:
        z = np.abs(estimate.mean - experiment.exact_gradient)[live] / estimate.standard_error[live]
        assert z.max() < 4.0, f"{estimate.label}: max |z| = {z.max():.2f}"
        assert estimate.max_z == pytest.approx(z.max())
        # the sampled variance estimates the exact one
        assert estimate.sampled_variance == pytest.approx(estimate.exact_variance, rel=0.15), estimate.label


def test_baseline_lowers_variance_and_noise_raises_it(experiment):
    none, constant, exact = (ch4.find_estimate(experiment, kind) for kind in ("none", "constant", "exact"))
    assert exact.exact_variance < constant.exact_variance < none.exact_variance
    assert exact.exact_variance < 0.2 * none.exact_variance  # measured: 3.03 against 47.1
    assert exact.sampled_variance < none.sampled_variance
    curve = ch4.variance_against_noise(experiment)
    np.testing.assert_array_equal(curve["noise_scale"], [0.0, 0.5, 1.0, 4.0])
    assert curve["exact_mean"][-1] > curve["exact_mean"][0]  # the largest noise is worse than exact V^π
    assert np.all(np.diff(curve["exact_mean"][1:]) > 0)  # and it grows from σ = 0.5 on
    largest = [e.exact_variance for e in experiment.estimates if e.kind == "noisy" and e.noise_scale == 4.0]
    assert min(largest) > exact.exact_variance  # every draw at σ = 4


# ---------------------------------------------------------------------------------- the article


def test_article_formula_by_hand_and_ignores_rewards():
    values = np.array([[1.0], [2.0], [4.0]])
    valid = np.ones_like(values, bool)
    # A_t = Σ_{k=0}^{T−1} γ^k V(s_{t+k}) − V(s_t), V = 0 past the end; γ = 0.5
    expected = [[0.5 * 2.0 + 0.25 * 4.0], [0.5 * 4.0], [0.0]]
    for rewards in (np.zeros_like(values), 10.0 * np.ones_like(values)):
        np.testing.assert_allclose(ch4.article_formula(rewards, values, valid, 0.5), expected, rtol=0, atol=1e-15)


def test_article_reward_scaling():
    moves = ch4.article_reward_scaling(seed=0, num_episodes=200)
    assert moves["article"] == 0.0
    assert moves["gae"] > 1.0 and moves["true_advantage"] > 1.0
    assert moves["true_advantage_ratio"] < TOLERANCE


def test_gae_is_linear_in_rewards_and_values(rollout):
    assert ch4.gae_linearity_error(rollout, seed=0) < TOLERANCE


# ---------------------------------------------------------------------------------- the chapter runs


def test_main_quick_writes_the_figures(tmp_path, capsys):
    assert ch4.main(["--quick", "--out", str(tmp_path), "--seed", "0"]) == 0
    output = capsys.readouterr().out
    assert "FAILS" not in output
    assert "Summary" in output and str(tmp_path) in output
    # the article's "difference equation": the backward recursion and its closed-form sum, in float64
    agreement = re.search(r"difference equation run backwards.*?the two agree to (\S+)\.", output, re.S)
    assert agreement is not None and float(agreement.group(1)) < 1e-12
    for name in ch4.FIGURE_NAMES:
        path = tmp_path / name
        assert path.is_file(), name
        assert path.stat().st_size > 5_000, f"{name} is only {path.stat().st_size} bytes"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------- (1b) and (7)


def test_k_step_estimators_telescope_and_average_to_eq_16():
    rollout = ch4.random_rollout(48, 6, seed=3)
    telescoping, average = ch4.k_step_errors(rollout)
    assert telescoping < TOLERANCE and average < TOLERANCE
    # the average is a real average: λ = 0 keeps only Â^(1) = δ, λ = 1 only the longest Â^(N)
    single, _ = ch4.k_step_advantages(rollout, 0.9, 1)
    np.testing.assert_allclose(ch4.exponential_average(rollout, 0.9, 0.0), single, atol=TOLERANCE)


def test_gae_is_the_gamma_lambda_discounted_return_of_shaped_rewards():
    assert ch4.shaping_error(ch4.random_rollout(64, 8, seed=4)) < TOLERANCE


@pytest.mark.parametrize("mdp", [None, tabular.random_mdp(6, 3, gamma=0.95, seed=5, terminal_probability=0.05)])
def test_response_function_sums_to_the_advantage_and_shaping_keeps_it(mdp):
    result = ch4.shaping_experiment(seed=0, mdp=mdp)
    assert result.sum_error < TOLERANCE  # A = Σ_l γ^l χ(l) (§4, with eq. 26), for the raw and both shaped rewards
    assert result.invariance_error < TOLERANCE  # potential-based shaping leaves A^π as it was
    assert result.exact_tail < TOLERANCE  # with Φ = V^π every χ̃(l ≥ 1) is 0
    assert np.max(np.abs(result.raw[1:])) > 0.01  # while the raw rewards' response is spread out


def test_credit_of_a_delayed_reward_is_lambda_to_the_delay_without_a_critic():
    result = ch4.shaping_experiment(seed=0)  # delayed_reward_mdp(delay=20)
    for lam in ch4.SHAPING_LAMBDAS:
        shares = ch4.credit_captured(result, lam)
        assert shares["raw"] == pytest.approx(lam**20, abs=TOLERANCE)  # (γλ)^20 / γ^20
        assert shares["exact"] == pytest.approx(1.0, abs=TOLERANCE)
    # A^π(0, a) = ±γ^20 π(other action | 0): the reward of chain A, seen from the start
    assert result.advantages[0, 0] == pytest.approx(0.99**20 * result.policy[0, 1], abs=TOLERANCE)
