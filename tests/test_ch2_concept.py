"""Chapter 2 (core concepts): the article's formula, the bias/variance trade-off and S&B Fig. 12.3, against independent facts."""

from __future__ import annotations

import numpy as np
import pytest

from chapters import ch2_concept as ch2
from tf_gae import mdp as tabular


@pytest.fixture(scope="module")
def curves() -> list[ch2.BiasVarianceCurve]:
    out = []
    for gamma in ch2.GAMMAS:
        prob = ch2.make_problem(gamma, 0, terminal_probability=0.02)
        eps = ch2.value_error(prob.mdp, 20)
        out.append(ch2.bias_variance_curve(prob, eps, ch2.LAMBDA_GRID, 3000, 30, max_steps=400))
    return out


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


def test_exact_value_lambda_one_is_unbiased():
    curve = ch2.bias_variance_curve(ch2.make_problem(0.99, 0, 0.02), np.zeros(6), (1.0,), 2000, 40)
    assert curve.bias2[0] < 0.01 * curve.variance[0]
    assert curve.bias2[0] < 10 * curve.mc_floor[0]  # within Monte-Carlo error (steps of an episode correlate)


def test_bias_variance_trade_off(curves):
    for c in curves:
        np.testing.assert_allclose(c.mse, c.bias2 + c.variance, rtol=1e-10)
        assert c.bias2[0] > 10 * c.bias2[-1]  # λ = 0 is biased by V̂'s error, λ = 1 is not
        assert c.variance[-1] > 3 * c.variance[0]  # λ = 1 is the noisiest
    assert any(ch2.interior_minimum(c) for c in curves)


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
