"""Chapter 2 (core concepts): the article's formula, the bias/variance trade-off and S&B Fig. 12.3, against independent facts."""

from __future__ import annotations

import numpy as np
import pytest

import tf_gae
from chapters import ch2_concept as ch2
from tf_gae import mdp as tabular


@pytest.fixture(scope="module")
def gradient_problem() -> ch2.GradientProblem:
    return ch2.gradient_problem(seed=0)


@pytest.fixture(scope="module")
def lambda_study(gradient_problem) -> ch2.LambdaStudy:
    return ch2.lambda_study(gradient_problem, ch2.value_estimates(gradient_problem, seed=20))


@pytest.fixture(scope="module")
def random_walk() -> ch2.RandomWalkResult:
    return ch2.random_walk_offline_lambda_return(ch2.RW_LAMBDAS, ch2.RW_ALPHAS, num_runs=10, seed=0)


def test_definitions_identities():
    table = ch2.definitions_table(ch2.make_problem(0.9, 0), seed=0)
    assert float(table["return_identity_error"]) < 1e-12
    assert float(table["sum_identity_error"]) < 1e-12


def test_article_formula_ignores_rewards_while_advantage_scales():
    inv = ch2.article_reward_invariance(ch2.make_problem(0.9, 1), num_episodes=100, seed=2)
    assert inv["article_scaled"] == 0.0 and inv["article_shifted"] == 0.0
    assert inv["advantage_scale_error"] < 1e-10  # A^π of the ×10 MDP is exactly 10 A^π
    assert inv["advantage_change"] > 1.0


def test_article_formula_is_biased_and_gae_is_not():
    comp = ch2.article_comparison(ch2.make_problem(0.9, 0), num_episodes=500, seed=10)
    # GAE with the exact V is unbiased for every λ: its error of the mean is sampling noise only.
    assert max(comp.bias_gae.values()) < 0.15
    # The article's formula is biased by far more than that, and by more than A^π's own size.
    assert comp.bias_article > 5 * max(comp.bias_gae.values())
    assert comp.bias_article > comp.rms_exact_advantage


def test_enumerated_moments_match_sampled_episodes(gradient_problem):
    """The exact E[ĝ] and tr Cov[ĝ] against 40,000 sampled episodes: mean within 4.5 standard errors per entry,
    trace of the sample covariance within 5 standard errors (its standard error from the samples' own spread)."""
    gp = gradient_problem
    values = ch2.value_estimates(gp, seed=20)["V^π + 1 + 0.5·z(s)"]
    mean, trace = ch2.gradient_moments(gp, values, gamma=1.0, lambda_=0.5)
    sampled = tabular.sample_trajectories(gp.mdp, gp.policy, 40_000, max_steps=ch2.GRADIENT_HORIZON, seed=1)
    adv = tf_gae.gae(sampled.rewards, values[sampled.states], values[sampled.next_states], sampled.terminated,
                     sampled.truncated, gamma=1.0, lambda_=0.5).advantages.numpy()
    g = tabular.score_function_gradients(sampled, gp.policy, adv).reshape(40_000, -1)  # [N, S·A]
    live = g.std(axis=0) > 0
    z = np.abs(g.mean(axis=0) - mean.ravel())[live] / (g.std(axis=0, ddof=1)[live] / np.sqrt(len(g)))
    assert z.max() < 4.5
    squared = np.sum((g - g.mean(axis=0)) ** 2, axis=1)  # ‖ĝ − ḡ‖², whose mean is the trace
    assert abs(squared.mean() - trace) < 5 * squared.std(ddof=1) / np.sqrt(len(g))


def test_offset_errors_leave_the_gradient_unbiased_and_lambda_one_is_gamma_just(gradient_problem, lambda_study):
    study = lambda_study
    scale = study.gradient_norm
    assert study.linear_solve_error < 1e-12 * max(1.0, scale)  # enumeration = tf_gae.mdp.expected_gae
    assert np.all(study.bias[:2] < 1e-12)  # exact V^π and V^π + 1: no bias at any λ (time left is in the state)
    assert study.bias[2, -1] < 1e-12  # λ = 1 is γ-just for any V̂ (Proposition 1)
    assert np.all(study.bias[2, :-1] > 0.02 * scale)  # an error that varies between next states biases λ < 1
    assert study.variance[1, -1] > 1.5 * study.variance[0, -1]  # the offset costs variance, not bias
    # the bias at λ = 0 from tf_gae.mdp directly: the centred expected TD residual against the centred A^π
    values = ch2.value_estimates(gradient_problem, seed=20)["V^π + 1 + 0.5·z(s)"]
    mdp, policy = gradient_problem.mdp, gradient_problem.policy
    visits = tabular.state_visits(mdp, policy)
    mean = tabular.gradient_from_advantages(visits, policy, tabular.expected_gae(mdp, policy, values, 1.0, 0.0))
    assert abs(np.linalg.norm(mean - gradient_problem.gradient) - study.bias[2, 0]) < 1e-12
    # the best λ for a batch of N episodes moves toward 1 as N grows, and sits inside (0, 1) for each N here
    best = [study.lambdas[int(np.argmin(study.batch_mse(2, n)))] for n in ch2.BATCH_SIZES]
    assert all(0.0 < b < 1.0 for b in best) and best == sorted(best) and best[-1] > best[0]


def test_discounting_biases_the_gradient_whatever_the_value_function(gradient_problem):
    study = ch2.gamma_study(gradient_problem)
    assert np.all(study.just_error < 1e-12)  # with V^{π,γ}, E[ĝ] = g^γ exactly
    assert study.bias[-1] < 1e-12  # γ = 1: g^γ = ∇J
    assert np.all(study.bias[:-1] > 1e-3 * study.gradient_norm) and np.all(np.diff(study.bias) < 0)
    assert np.all(np.diff(study.variance) > 0)  # and discounting buys a smaller spread


def test_per_pair_error_is_mostly_what_the_gradient_never_sees(gradient_problem):
    values = ch2.value_estimates(gradient_problem, seed=20)["V^π + 1 + 0.5·z(s)"]
    per_pair, centred = ch2.per_pair_view(gradient_problem, values, 0.0)
    assert centred < 0.05 * per_pair
    assert ch2.per_pair_view(gradient_problem, gradient_problem.values, 0.3) == pytest.approx((0.0, 0.0), abs=1e-24)


def test_random_walk_intermediate_lambda_best(random_walk):
    lam, alpha, err = ch2.best_setting(random_walk)
    assert 0.0 < lam < 1.0
    assert 0.2 < err < 0.6
    # α → 0 leaves V = 0, whose RMS error is sqrt(mean(((s − 10)/10)²)) = sqrt(0.3) ≈ 0.548.
    small = ch2.random_walk_offline_lambda_return((0.5,), (1e-9,), num_runs=2, seed=1)
    assert abs(small.rms[0, 0] - np.sqrt(0.3)) < 1e-6
    # The exact values the errors are measured against: v(s) = (s − 10)/10.
    mdp = tabular.random_walk_19()
    np.testing.assert_allclose(tabular.policy_evaluation(mdp, tabular.uniform_policy(mdp))[1:-1],
                               (np.arange(1, 20) - 10) / 10, atol=1e-12)


def test_main_quick_writes_figures(tmp_path):
    assert ch2.main(["--quick", "--out", str(tmp_path), "--seed", "0"]) == 0
    for name in ch2.FIGURE_NAMES:
        path = tmp_path / name
        assert path.exists() and path.stat().st_size > 5_000


def test_the_same_offset_biases_lambda_below_one_when_actions_change_how_long_episodes_last():
    contrast = ch2.offset_bias_random_ends(seed=0)
    assert contrast[0.0] > 0.05 * contrast["gradient_norm"] and contrast[0.5] > 0.01 * contrast["gradient_norm"]
    assert contrast[1.0] < 1e-12  # λ = 1 stays γ-just for any V̂
