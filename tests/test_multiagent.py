"""Cooperative GAE (tf_gae.multiagent): the environment's rules by hand, GAE on the team reward against a
float64 loop, partial observations down to the networks, and a quick learning check of the centralized critic."""

from __future__ import annotations

import numpy as np
import pytest

from tf_gae.multiagent import (
    ButtonRendezvousEnv,
    CooperativeActorCritic,
    CooperativePPOConfig,
    collect_rollout,
    evaluate_team_return,
    team_gae,
    train_cooperative,
)

LEFT, STAY, RIGHT, PRESS = (ButtonRendezvousEnv.LEFT, ButtonRendezvousEnv.STAY, ButtonRendezvousEnv.RIGHT,
                            ButtonRendezvousEnv.PRESS)  # fmt: skip


def make_env(**options) -> ButtonRendezvousEnv:
    base = dict(num_envs=2, num_agents=2, track_length=5, max_steps=10, press_cost=0.1, seed=0)
    return ButtonRendezvousEnv(**{**base, **options})


def expected_observation(position: int, button: int, length: int = 5) -> np.ndarray:
    return np.concatenate([np.eye(length)[position], np.eye(length)[button]]).astype(np.float32)


def reference_team_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Float64, one (copy, agent) column at a time.

    δ = r + γ (1 − term) V' − V,   Â = δ + γλ (1 − term)(1 − trunc) Â'
    """
    rewards, values, next_values = (np.asarray(x, np.float64) for x in (rewards, values, next_values))
    num_steps, num_envs, num_agents = values.shape
    advantages = np.zeros_like(values)
    for copy in range(num_envs):
        for agent in range(num_agents):
            following = 0.0  # the step after the last counts as cut
            for t in reversed(range(num_steps)):
                bootstrap = 0.0 if terminated[t, copy] else gamma * next_values[t, copy, agent]
                delta = rewards[t, copy] + bootstrap - values[t, copy, agent]  # the TEAM reward, every agent
                continues = not (terminated[t, copy] or truncated[t, copy])
                following = delta + (gamma * lam * following if continues else 0.0)
                advantages[t, copy, agent] = following
    return advantages, advantages + values


# ------------------------------------------------------------------------------------------ the rules


def test_all_agents_pressing_on_their_buttons_pays_and_terminates():
    env = make_env()
    env.positions[:] = [[2, 4], [2, 4]]
    env.buttons[:] = [[2, 4], [2, 3]]  # copy 1: agent 1 is one cell off its button
    env.elapsed[:] = [5, 5]
    step = env.step(np.array([[PRESS, PRESS], [PRESS, PRESS]]))
    # Copy 0: success → success_reward, terminated. Copy 1: two wasted presses → −0.1 · 2.
    np.testing.assert_allclose(step.team_rewards, [1.0, -0.2])
    np.testing.assert_array_equal(step.terminated, [True, False])
    np.testing.assert_array_equal(step.truncated, [False, False])
    # The episode's last observations are returned before the reset; PRESS does not move.
    np.testing.assert_array_equal(step.final_observations[0, 0], expected_observation(2, 2))
    np.testing.assert_array_equal(step.final_observations[0, 1], expected_observation(4, 4))
    np.testing.assert_array_equal(step.final_observations[1], step.observations[1])  # copy 1 goes on
    assert env.elapsed.tolist() == [0, 6]  # copy 0 was reset, copy 1 counts on
    np.testing.assert_array_equal(step.observations[0], env.observe()[0])


def test_one_agent_short_of_pressing_gives_no_reward_and_moves_are_clipped():
    env = make_env()
    env.positions[:] = [[0, 4], [1, 3]]
    env.buttons[:] = [[0, 4], [1, 3]]  # everyone is on its button
    step = env.step(np.array([[PRESS, STAY], [LEFT, RIGHT]]))
    # Copy 0: agent 1 only stays → no success, one wasted press. Copy 1: nobody presses → 0.
    np.testing.assert_allclose(step.team_rewards, [-0.1, 0.0])
    assert not step.terminated.any() and not step.truncated.any()
    assert env.positions.tolist() == [[0, 4], [0, 4]]
    step = env.step(np.array([[LEFT, RIGHT], [LEFT, RIGHT]]))  # at the ends of the track: no move
    assert env.positions.tolist() == [[0, 4], [0, 4]]
    np.testing.assert_array_equal(step.observations[1, 0], expected_observation(0, 1))


def test_time_limit_truncates_and_keeps_the_final_observation():
    env = make_env(max_steps=3)
    env.positions[:] = [[1, 1], [3, 3]]
    env.buttons[:] = [[0, 0], [0, 0]]
    env.elapsed[:] = 0
    for _ in range(2):
        step = env.step(np.full((2, 2), RIGHT))
        assert not step.truncated.any() and not step.terminated.any()
    step = env.step(np.full((2, 2), RIGHT))
    np.testing.assert_array_equal(step.truncated, [True, True])
    np.testing.assert_array_equal(step.terminated, [False, False])
    np.testing.assert_array_equal(step.team_rewards, [0.0, 0.0])
    np.testing.assert_array_equal(step.final_observations[0, 0], expected_observation(4, 0))  # 1 → 4
    np.testing.assert_array_equal(step.final_observations[1, 1], expected_observation(4, 0))  # 3 → 4, clipped
    assert env.elapsed.tolist() == [0, 0]


def test_observations_are_partial_down_to_the_policy_and_the_independent_critic():
    env = make_env(num_envs=1, num_agents=3)
    before = env.observe()
    env.positions[0, 1] = (env.positions[0, 1] + 2) % 5  # only agent 1's hidden state changes
    env.buttons[0, 2] = (env.buttons[0, 2] + 1) % 5  # and agent 2's
    after = env.observe()
    np.testing.assert_array_equal(after[0, 0], before[0, 0])
    assert not np.array_equal(after[0, 1], before[0, 1]) and not np.array_equal(after[0, 2], before[0, 2])
    for critic in ("centralized", "independent"):
        model = CooperativeActorCritic(3, env.observation_size, env.num_actions, critic, hidden_sizes=(16,), seed=1)
        logits_before, values_before = (x.numpy() for x in model(before))
        logits_after, values_after = (x.numpy() for x in model(after))
        np.testing.assert_array_equal(logits_after[0, 0], logits_before[0, 0])  # π_0 sees only o_0
        if critic == "independent":
            assert values_after[0, 0] == values_before[0, 0]  # V_0(o_0)
        else:
            assert values_after[0, 0] != values_before[0, 0]  # V(s) sees the others
            assert len(set(values_after[0].tolist())) == 1  # one shared baseline for the team


def zeros(*shapes):
    return [np.zeros(shape, np.float32) for shape in shapes]


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: make_env().step(np.zeros((2, 3), np.int64)), "actions"),
        (lambda: make_env().step(np.full((2, 2), 4)), "actions"),
        (lambda: make_env(num_agents=0), "num_agents"),
        (lambda: make_env(press_cost=-1.0), "press_cost"),
        (lambda: CooperativeActorCritic(2, 10, 4, critic="shared"), "critic"),
        (lambda: CooperativeActorCritic(2, 10, 4)(np.zeros((3, 10))), "observations"),
        (lambda: team_gae(*zeros([4, 2], [4, 2], [4, 2], [4, 2], [4, 2])), "values"),
        (lambda: team_gae(*zeros([4, 2], [4, 2, 3], [4, 2, 2], [4, 2], [4, 2])), "next_values"),
        (lambda: team_gae(*zeros([4, 2], [4, 2, 3], [4, 2, 3], [4, 3], [4, 2])), "terminated"),
        (lambda: CooperativePPOConfig(minibatch_size=0), "minibatch_size"),
        (lambda: CooperativePPOConfig(lam=1.5), "lam"),
        (lambda: train_cooperative("joint", 10), "critic"),
        (lambda: train_cooperative(total_steps=10, env_options=dict(seed=3)), "env_options"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# ------------------------------------------------------------------------------------------ GAE inputs


@pytest.mark.parametrize("critic", ["centralized", "independent"])
def test_rollout_advantages_equal_a_float64_loop_over_the_team_rewards(critic):
    # Track length 2 and a 3-step limit: successes (terminations) and truncations both happen in 24 steps.
    env = ButtonRendezvousEnv(num_envs=6, num_agents=2, track_length=2, max_steps=3, seed=4)
    model = CooperativeActorCritic(2, env.observation_size, env.num_actions, critic, hidden_sizes=(16,), seed=2)
    rollout, _ = collect_rollout(env, model, env.reset(), 24, np.random.default_rng(0))
    num_steps, num_envs, num_agents = 24, 6, 2
    assert rollout.observations.shape == (num_steps, num_envs, num_agents, env.observation_size)
    for name in ("actions", "log_probs", "values", "next_values"):
        assert getattr(rollout, name).shape == (num_steps, num_envs, num_agents), name
    assert rollout.team_rewards.shape == rollout.terminated.shape == rollout.truncated.shape == (num_steps, num_envs)
    assert rollout.terminated.any() and rollout.truncated.any()
    # next_values: V on the observations each step produced. Where the episode goes on, that is o_{t+1};
    # at a truncation it is the episode's last observation, not the next episode's first.
    done = rollout.terminated | rollout.truncated  # [T, B]
    np.testing.assert_array_equal(rollout.final_observations[:-1][~done[:-1]], rollout.observations[1:][~done[:-1]])
    np.testing.assert_allclose(rollout.next_values[:-1][~done[:-1]], rollout.values[1:][~done[:-1]], atol=1e-6)
    finals = rollout.final_observations[rollout.truncated]  # [K, N, D]
    np.testing.assert_allclose(rollout.next_values[rollout.truncated], model.values(finals).numpy(), atol=1e-6)
    cut = rollout.truncated[:-1]  # truncations with a next step inside the rollout
    assert (rollout.final_observations[:-1][cut] != rollout.observations[1:][cut]).any()  # a new episode began
    # The successes and only they were paid.
    np.testing.assert_array_equal(rollout.team_rewards, np.where(rollout.terminated, 1.0, 0.0))

    advantages, returns = team_gae(
        rollout.team_rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated,
        gamma=0.9, lambda_=0.8,
    )  # fmt: skip
    assert advantages.shape == returns.shape == (num_steps, num_envs, num_agents)
    expected_advantages, expected_returns = reference_team_gae(
        rollout.team_rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated, 0.9, 0.8
    )
    np.testing.assert_allclose(advantages.numpy(), expected_advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns.numpy(), expected_returns, rtol=1e-5, atol=1e-5)
    if critic == "centralized":  # one baseline and one team reward: every agent gets the same advantage
        np.testing.assert_array_equal(advantages.numpy()[..., 0], advantages.numpy()[..., 1])


def test_team_gae_by_hand_with_termination_and_truncation():
    # One copy, two agents, T = 3: step 0 goes on, step 1 is truncated, step 2 terminates.
    rewards = np.array([[0.0], [0.0], [1.0]], np.float32)  # [T, B]
    values = np.array([[[0.5, 0.1]], [[0.4, 0.2]], [[0.3, 0.3]]], np.float32)  # [T, B, N]
    next_values = np.array([[[0.4, 0.2]], [[0.9, 0.7]], [[np.nan, np.nan]]], np.float32)  # unread at termination
    terminated = np.array([[False], [False], [True]])
    truncated = np.array([[False], [True], [False]])
    gamma, lam = 0.5, 0.5
    advantages = team_gae(rewards, values, next_values, terminated, truncated, gamma=gamma, lambda_=lam).advantages
    a2 = 1.0 - values[2, 0]  # terminal: δ = r − V
    a1 = gamma * next_values[1, 0] - values[1, 0]  # truncated: bootstrap from the final observation, no carry
    a0 = gamma * next_values[0, 0] - values[0, 0] + gamma * lam * a1
    np.testing.assert_allclose(advantages.numpy()[:, 0], np.stack([a0, a1, a2]), rtol=1e-6)


# ------------------------------------------------------------------------------------------ learning


def test_centralized_critic_learns_the_two_agent_task_quickly():
    options = dict(num_agents=2)
    random_return = evaluate_team_return(None, options, episodes=512)
    assert random_return < 0.1
    curve = train_cooperative("centralized", 40_000, seed=0, env_options=options, num_evaluations=2,
                              evaluation_episodes=128)  # fmt: skip
    assert curve.env_steps[0] == 0 and curve.env_steps[-1] >= 40_000
    assert curve.team_return[-1] > 0.6, curve  # the stochastic policy succeeds in most episodes
    assert curve.team_return[-1] > random_return + 0.5
