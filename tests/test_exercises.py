"""The chapters' exercises: each answer in chapters/answers/ against a reference computed another way.

Run one chapter's: pytest tests/test_exercises.py -k ch2. A reference is the library's kernel on data the
test makes, an exact enumeration, a linear solve, or a closed form — never the answer module itself — so a
wrong attempt fails.
"""

from __future__ import annotations

import numpy as np
import pytest

import tf_gae
from chapters import ch2_concept as ch2
from chapters import ch3_algorithm as ch3
from chapters import ch4_math as ch4
from chapters.answers import ch2 as answers2
from chapters.answers import ch3 as answers3
from chapters.answers import ch4 as answers4
from chapters.answers import ch5 as answers5
from chapters.answers import ch6 as answers6
from tf_gae import mdp as tabular
from tf_gae.llm import token_gae
from tf_gae.llm.ppo import group_baseline_advantages

TOLERANCE = 1e-10  # float64 identities


def test_every_chapter_has_three_to_five_exercises_and_an_answer_for_each():
    from chapters import ch5_practice, ch6_applications

    for chapter, answers in ((ch2, answers2), (ch3, answers3), (ch4, answers4), (ch5_practice, answers5),
                             (ch6_applications, answers6)):
        assert 3 <= len(chapter.EXERCISES) <= 5
        for number in range(1, len(chapter.EXERCISES) + 1):
            assert callable(getattr(answers, f"exercise_{number}")), (chapter.__name__, number)


# ------------------------------------------------------------------------------------------ chapter 2


@pytest.mark.parametrize("lambda_", [0.0, 0.7, 1.0])
def test_ch2_exercise_1_offset_changes_each_advantage_by_a_time_only_amount(lambda_):
    mdp = tabular.time_indexed_mdp(3, 2, 5, gamma=1.0, seed=7)
    policy = tabular.random_policy(mdp, seed=8)
    episodes = tabular.sample_trajectories(mdp, policy, 50, max_steps=5, seed=9)
    values = tabular.policy_evaluation(mdp, policy)
    shifted = values + 2.5 * (~mdp.terminal)

    def advantages(v):
        return tf_gae.gae(episodes.rewards, v[episodes.states], v[episodes.next_states], episodes.terminated,
                          episodes.truncated, gamma=1.0, lambda_=lambda_).advantages.numpy()

    difference = advantages(shifted) - advantages(values)
    steps_left = episodes.lengths[None, :] - np.arange(episodes.num_steps)[:, None]  # [T, N]
    for t, n in zip(*np.nonzero(episodes.valid)):
        assert difference[t, n] == pytest.approx(answers2.exercise_1(2.5, lambda_, int(steps_left[t, n])), abs=TOLERANCE)


def test_ch2_exercise_2_bias_from_linear_solves_matches_the_enumeration():
    problem = ch2.gradient_problem(seed=0)
    estimates = ch2.value_estimates(problem, seed=20)
    mean, _ = ch2.gradient_moments(problem, estimates["V^π + 1 + 0.5·z(s)"], gamma=1.0, lambda_=0.5)
    assert answers2.exercise_2(0.5) == pytest.approx(float(np.linalg.norm(mean - problem.gradient)), abs=TOLERANCE)


def test_ch2_exercise_3_best_lambda_for_ten_thousand_episodes():
    problem = ch2.gradient_problem(seed=0)
    study = ch2.lambda_study(problem, ch2.value_estimates(problem, seed=20))
    assert answers2.exercise_3() == pytest.approx(study.lambdas[int(np.argmin(study.batch_mse(2, 10_000)))])


# ------------------------------------------------------------------------------------------ chapter 3


def test_ch3_exercise_1_lambda_one_fit_is_the_mean_return_per_state():
    mdp = ch3.small_mdp(0)
    batch = tabular.sample_trajectories(mdp, ch3.evaluation_policy(mdp, 0), 30, max_steps=200, seed=11)
    fixed_point = ch3.batch_fitted_values(batch, np.zeros(30, np.int64), 1, mdp.num_states, mdp.gamma, 1.0)[0]
    np.testing.assert_allclose(answers3.exercise_1(batch, mdp.num_states, mdp.gamma), fixed_point, atol=TOLERANCE)


def test_ch3_exercise_2_which_advantages_vanish_after_fitting_on_one_episode():
    mdp = ch3.small_mdp(0)
    batch = tabular.sample_trajectories(mdp, ch3.evaluation_policy(mdp, 0), 40, max_steps=200, seed=12)
    checked = 0
    for n in range(batch.num_episodes):
        length = int(batch.lengths[n])
        one = tabular.Trajectories(**{k: getattr(batch, k)[:length, n:n + 1] for k in tabular.Trajectories.__dataclass_fields__})
        fitted = ch3.batch_fitted_values(one, np.zeros(1, np.int64), 1, mdp.num_states, mdp.gamma, 1.0)
        advantages = ch3._batch_advantages(one, fitted, np.zeros(1, np.int64), mdp.gamma, 1.0)[:, 0]
        zero = np.abs(advantages) < 1e-12
        np.testing.assert_array_equal(answers3.exercise_2(one.states[:, 0]), zero)
        checked += int((~zero).any())
    assert checked > 10  # episodes that revisit a state, so the mask is not all True


def test_ch3_exercise_3_which_lambda_loses_less_to_fitting_first():
    at_zero, at_one = answers3.exercise_3()
    measured = {}
    for lambda_, answer in ((0.0, at_zero), (1.0, at_one)):
        measured[lambda_] = ch3.ordering_experiment(seed=0, lambda_=lambda_, batch_episodes=5, num_batches=4000)
        assert abs(answer - measured[lambda_].length_after) < 3 * measured[lambda_].length_stderr + 0.005  # two digits
    # the question asked: which λ loses less — the answer's order must be the measured one
    assert (at_zero > at_one) == (measured[0.0].length_after > measured[1.0].length_after)


# ------------------------------------------------------------------------------------------ chapter 4


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95, 1.0])
def test_ch4_exercise_1_tail_weight_completes_the_average(lambda_):
    for steps_left in (1, 2, 7, 30):
        head = sum((1 - lambda_) * lambda_ ** (k - 1) for k in range(1, steps_left))
        assert answers4.exercise_1(lambda_, steps_left) == pytest.approx(1.0 - head, abs=TOLERANCE)


@pytest.mark.parametrize("delay", [5, 20])
def test_ch4_exercise_2_share_of_a_delayed_reward(delay):
    result = ch4.shaping_experiment(seed=0, mdp=ch4.delayed_reward_mdp(delay=delay))
    for lambda_ in (0.8, 0.95, 1.0):
        assert answers4.exercise_2(lambda_, delay) == pytest.approx(ch4.credit_captured(result, lambda_)["raw"], abs=TOLERANCE)
    smallest = answers4.exercise_2_smallest_lambda(0.9, delay)
    assert ch4.credit_captured(result, smallest)["raw"] >= 0.9 - TOLERANCE
    assert ch4.credit_captured(result, smallest - 1e-4)["raw"] < 0.9


def test_ch4_exercise_3_shaping_with_twice_the_value():
    mdp = ch4.delayed_reward_mdp()
    policy = tabular.random_policy(mdp, seed=1)  # the policy of shaping_experiment(seed=0)
    values = tabular.policy_evaluation(mdp, policy)
    chi = ch4.response_function(ch4.shaped_mdp(mdp, 2 * values), policy, 3000)
    share = ((0.99 * 0.95) ** np.arange(3000)) @ chi[:, 0, 0] / tabular.advantages(mdp, policy)[0, 0]
    assert np.max(np.abs(chi[1:, 0, 0])) > 0.1  # not all at lag 0 any more
    assert answers4.exercise_3() == pytest.approx(share, abs=TOLERANCE)


# ------------------------------------------------------------------------------------------ chapter 5


def test_ch5_exercise_1_weight_of_the_last_residual_in_a_rollout():
    impulse = np.zeros((8, 1))
    impulse[7] = 1.0  # δ_7 = 1 with V = 0: Â_0 is the weight on δ_{t+7}
    zeros = np.zeros((8, 1))
    weights = [tf_gae.gae(impulse, zeros, zeros, zeros, gamma=0.99, lambda_=lam).advantages.numpy()[0, 0]
               for lam in (0.95, 1.0)]
    assert answers5.exercise_1() == pytest.approx(tuple(weights), abs=TOLERANCE)


def test_ch5_exercise_2_lambda_one_on_a_cut_rollout_is_the_n_step_advantage():
    rng = np.random.default_rng(13)
    rewards, values = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    next_values = np.concatenate([values[1:], rng.normal(size=(1, 1))])  # the last: V of the bootstrap state
    first = tf_gae.gae(rewards, values, next_values, np.zeros((8, 1)), gamma=0.97, lambda_=1.0).advantages.numpy()[0, 0]
    assert answers5.exercise_2(rewards[:, 0], values[0, 0], next_values[-1, 0], 0.97) == pytest.approx(first, abs=TOLERANCE)


def test_ch5_exercise_3_updates_and_steps_of_a_default_a2c_run():
    from tf_gae.trainers import A2CConfig, A2CTrainer

    trainer = A2CTrainer(A2CConfig(total_steps=100_000))
    try:
        per_update = trainer.config.num_envs * trainer.config.n_steps
        assert answers5.exercise_3() == (trainer.planned_steps // per_update, trainer.planned_steps)
    finally:
        trainer.close()


# ------------------------------------------------------------------------------------------ chapter 6


def test_ch6_exercise_1_first_token_credit_of_a_final_score():
    rewards = np.zeros((1, 40))
    rewards[0, -1] = 1.0
    advantages = token_gae(rewards, np.zeros((1, 40)), np.ones((1, 40), bool), gamma=1.0, lambda_=0.95).advantages
    assert answers6.exercise_1() == pytest.approx(float(advantages[0, 0]), abs=TOLERANCE)


def test_ch6_exercise_2_gamma_lambda_one_is_return_to_go_minus_value():
    rng = np.random.default_rng(14)
    rewards, values = rng.normal(size=(1, 12)), rng.normal(size=(1, 12))
    advantages = token_gae(rewards, values, np.ones((1, 12), bool), gamma=1.0, lambda_=1.0).advantages.numpy()[0]
    np.testing.assert_allclose(answers6.exercise_2(rewards[0], values[0]), advantages, atol=TOLERANCE)


def test_ch6_exercise_3_grpo_group_normalised_advantage():
    scores = np.array([1.0, 0.0, 0.0, 1.0])
    mask = np.ones((4, 5), np.float64)
    rewards = np.zeros((4, 5))
    rewards[:, -1] = scores  # the score on each response's last token
    advantages = group_baseline_advantages(
        tf_gae._tf.tf.constant(rewards), tf_gae._tf.tf.constant(mask), group_size=4, divide_by_std=True
    )
    np.testing.assert_allclose(answers6.exercise_3(scores), advantages.numpy()[:, 0], atol=TOLERANCE)
