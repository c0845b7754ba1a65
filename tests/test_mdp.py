"""tf_gae.mdp against closed forms, slow Bellman-backup references and Monte-Carlo samples.

The references here are written from Sutton & Barto 2018 (eq. 4.5, iterative policy evaluation; the
19-state random walk's v(s) = (s − 10)/10), never from the module's own output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tf_gae import mdp as mdp_module
from tf_gae.mdp import (
    TabularMDP,
    Trajectories,
    action_values,
    advantages,
    policy_evaluation,
    random_mdp,
    random_policy,
    random_walk_19,
    sample_trajectories,
    uniform_policy,
)

# ---------------------------------------------------------------- slow, obviously-right references


def iterative_policy_evaluation(mdp, policy, tolerance=1e-13, max_sweeps=100_000):
    """S&B eq. 4.5 (two-array version): v_{k+1}(s) = Σ_a π(a|s) Σ_s' P(s'|s,a)[R(s,a,s') + γ v_k(s')].

    Plain Python loops over s, a, s'; stops when a sweep changes no value by more than `tolerance`.
    """
    num_states, num_actions = mdp.num_states, mdp.num_actions
    values = [0.0] * num_states
    for _ in range(max_sweeps):
        new_values = [0.0] * num_states
        for s in range(num_states):
            if mdp.terminal[s]:
                continue
            total = 0.0
            for a in range(num_actions):
                for s_next in range(num_states):
                    p = mdp.transitions[s, a, s_next]
                    total += policy[s, a] * p * (mdp.rewards[s, a, s_next] + mdp.gamma * values[s_next])
            new_values[s] = total
        change = max(abs(x - y) for x, y in zip(new_values, values))
        values = new_values
        if change < tolerance:
            return np.array(values)
    raise AssertionError("iterative policy evaluation did not converge")


def one_step_lookahead(mdp, values):
    """q(s, a) = Σ_s' P(s'|s,a)[R(s,a,s') + γ v(s')], with loops."""
    q_values = np.zeros((mdp.num_states, mdp.num_actions))
    for s in range(mdp.num_states):
        for a in range(mdp.num_actions):
            q_values[s, a] = sum(
                mdp.transitions[s, a, t] * (mdp.rewards[s, a, t] + mdp.gamma * values[t]) for t in range(mdp.num_states)
            )
    return q_values


def discounted_episode_returns(trajectories, gamma):
    """G_0 = Σ_t γ^t r_t over each episode's valid steps, `[N]`."""
    returns = np.zeros(trajectories.num_episodes)
    for n in range(trajectories.num_episodes):
        discount = 1.0
        for t in range(trajectories.num_steps):
            if not trajectories.valid[t, n]:
                break
            returns[n] += discount * trajectories.rewards[t, n]
            discount *= gamma
    return returns


def two_state_trap_mdp(gamma):
    """State 0 can stay put forever with action 0 (action 1 ends the episode); state 1 is terminal."""
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 0] = 1.0
    transitions[0, 1, 1] = 1.0
    transitions[1, :, 1] = 1.0
    rewards = np.zeros((2, 2, 2))
    rewards[0, 0, 0] = 1.0
    return TabularMDP(transitions, rewards, np.array([False, True]), np.array([1.0, 0.0]), gamma)


# ---------------------------------------------------------------- the module stays TensorFlow-free


def test_mdp_module_imports_without_tensorflow():
    path = Path(mdp_module.__file__)
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("standalone_mdp", {str(path)!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules["standalone_mdp"] = module
        spec.loader.exec_module(module)
        module.policy_evaluation(module.random_walk_19(), module.uniform_policy(module.random_walk_19()))
        assert "tensorflow" not in sys.modules, "tf_gae/mdp.py imported TensorFlow"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


# ---------------------------------------------------------------- the 19-state random walk


def test_random_walk_model_is_as_specified():
    walk = random_walk_19()
    assert (walk.num_states, walk.num_actions, walk.gamma) == (21, 1, 1.0)
    assert np.flatnonzero(walk.terminal).tolist() == [0, 20]
    assert np.flatnonzero(walk.initial).tolist() == [10] and walk.initial[10] == 1.0
    for s in range(1, 20):
        expected = np.zeros(21)
        expected[[s - 1, s + 1]] = 0.5
        np.testing.assert_array_equal(walk.transitions[s, 0], expected)
    for s in (0, 20):
        assert walk.transitions[s, 0, s] == 1.0 and walk.transitions[s, 0].sum() == 1.0
    nonzero_rewards = {tuple(int(i) for i in index): walk.rewards[tuple(index)] for index in np.argwhere(walk.rewards)}
    assert nonzero_rewards == {(1, 0, 0): -1.0, (19, 0, 20): 1.0}


def test_random_walk_values_are_the_closed_form():
    walk = random_walk_19()
    values = policy_evaluation(walk, uniform_policy(walk))
    states = np.arange(1, 20)
    np.testing.assert_allclose(values[states], (states - 10) / 10, rtol=0, atol=1e-12)
    assert values[0] == 0.0 and values[20] == 0.0


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_random_walk_discounted_values_match_iteration(gamma):
    walk = random_walk_19(gamma)
    policy = uniform_policy(walk)
    np.testing.assert_allclose(
        policy_evaluation(walk, policy), iterative_policy_evaluation(walk, policy, tolerance=1e-14), rtol=0, atol=1e-10
    )


# ---------------------------------------------------------------- exact values against iteration and Bellman


def policies_for(mdp, kind):
    if kind == "uniform":
        return uniform_policy(mdp)
    if kind == "random":
        return random_policy(mdp, seed=7)
    deterministic = np.zeros((mdp.num_states, mdp.num_actions))
    deterministic[np.arange(mdp.num_states), np.arange(mdp.num_states) % mdp.num_actions] = 1.0
    return deterministic


@pytest.mark.parametrize("kind", ["uniform", "random", "deterministic"])
@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_policy_evaluation_matches_iterative_reference(seed, gamma, kind):
    mdp = random_mdp(num_states=6, num_actions=3, gamma=gamma, seed=seed, terminal_probability=0.15)
    policy = policies_for(mdp, kind)
    reference_values = iterative_policy_evaluation(mdp, policy)
    values = policy_evaluation(mdp, policy)
    np.testing.assert_allclose(values, reference_values, rtol=0, atol=1e-10)
    assert values[mdp.terminal].tolist() == [0.0]
    np.testing.assert_allclose(action_values(mdp, policy), one_step_lookahead(mdp, reference_values), atol=1e-10)
    np.testing.assert_allclose(
        advantages(mdp, policy), one_step_lookahead(mdp, reference_values) - reference_values[:, None], atol=1e-10
    )


@settings(max_examples=25, deadline=None)
@given(
    num_states=st.integers(2, 7),
    num_actions=st.integers(1, 4),
    gamma=st.sampled_from([0.0, 0.3, 0.9, 0.99, 1.0]),
    seed=st.integers(0, 10_000),
    terminal_probability=st.sampled_from([0.05, 0.3, 1.0]),
    temperature=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_bellman_identities(num_states, num_actions, gamma, seed, terminal_probability, temperature):
    mdp = random_mdp(num_states, num_actions, gamma, seed, terminal_probability)
    policy = random_policy(mdp, seed=seed + 1, temperature=temperature)
    values = policy_evaluation(mdp, policy)  # [S]
    q_values = action_values(mdp, policy)  # [S, A]
    advantage = advantages(mdp, policy)  # [S, A]
    scale = 1.0 + np.abs(values).max()
    # v(s) = Σ_a π(a|s) q(s, a)
    np.testing.assert_allclose((policy * q_values).sum(axis=1), values, rtol=0, atol=1e-10 * scale)
    # Σ_a π(a|s) A(s, a) = 0
    np.testing.assert_allclose((policy * advantage).sum(axis=1), 0.0, rtol=0, atol=1e-10 * scale)
    # q is the one-step lookahead of v (S&B eq. 4.4 through q)
    np.testing.assert_allclose(q_values, one_step_lookahead(mdp, values), rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(advantage, q_values - values[:, None], rtol=0, atol=1e-12 * scale)
    assert not np.any(q_values[mdp.terminal]) and not np.any(advantage[mdp.terminal])


def test_advantages_are_not_trivially_zero():
    mdp = random_mdp(seed=3)
    advantage = advantages(mdp, random_policy(mdp, seed=4))
    assert np.abs(advantage[~mdp.terminal]).max() > 0.1


# ---------------------------------------------------------------- Monte-Carlo agreement


@pytest.mark.parametrize(
    "seed, gamma, start_state",
    [(0, 0.9, 0), (1, 1.0, 2), (2, 0.5, 4)],
)
def test_monte_carlo_return_matches_exact_value(seed, gamma, start_state):
    mdp = random_mdp(num_states=6, num_actions=3, gamma=gamma, seed=seed, terminal_probability=0.2)
    policy = random_policy(mdp, seed=seed + 10)
    batch = sample_trajectories(mdp, policy, num_episodes=4000, max_steps=400, seed=seed + 20, start_state=start_state)
    assert not batch.truncated.any()  # P(no termination in 400 steps) = 0.8^400: returns are complete
    returns = discounted_episode_returns(batch, gamma)
    standard_error = returns.std(ddof=1) / np.sqrt(len(returns))
    exact = policy_evaluation(mdp, policy)[start_state]
    assert abs(returns.mean() - exact) < 4 * standard_error, (returns.mean(), exact, standard_error)


def test_monte_carlo_random_walk_matches_closed_form():
    walk = random_walk_19()
    batch = sample_trajectories(walk, uniform_policy(walk), num_episodes=2000, max_steps=5000, seed=5, start_state=13)
    assert not batch.truncated.any()
    returns = discounted_episode_returns(batch, 1.0)
    assert set(np.unique(returns).tolist()) <= {-1.0, 1.0}
    standard_error = returns.std(ddof=1) / np.sqrt(len(returns))
    assert abs(returns.mean() - 0.3) < 4 * standard_error


def assert_frequencies_match(counts, probabilities, min_count=50):
    """Each row of `counts` `[..., K]` is Multinomial(n, p): every cell within 5 binomial standard errors."""
    counts = counts.reshape(-1, counts.shape[-1])
    probabilities = probabilities.reshape(-1, probabilities.shape[-1])
    totals = counts.sum(axis=1)
    checked = 0
    for row_counts, p, n in zip(counts, probabilities, totals):
        assert np.all(row_counts[p == 0] == 0), "sampled an outcome of probability 0"
        if n < min_count:
            continue
        tolerance = 5 * np.sqrt(p * (1 - p) / n) + 1e-12
        np.testing.assert_array_less(np.abs(row_counts / n - p), tolerance)
        checked += 1
    assert checked > 0


def test_sampled_transitions_and_actions_follow_the_model():
    mdp = random_mdp(num_states=5, num_actions=3, gamma=0.9, seed=11, terminal_probability=0.1)
    policy = random_policy(mdp, seed=12, temperature=2.0)
    batch = sample_trajectories(mdp, policy, num_episodes=3000, max_steps=200, seed=13)
    s, a, s_next = batch.states[batch.valid], batch.actions[batch.valid], batch.next_states[batch.valid]
    transition_counts = np.zeros(mdp.transitions.shape)
    np.add.at(transition_counts, (s, a, s_next), 1)
    action_counts = np.zeros(policy.shape)
    np.add.at(action_counts, (s, a), 1)
    assert_frequencies_match(transition_counts, mdp.transitions)
    assert_frequencies_match(action_counts[~mdp.terminal], policy[~mdp.terminal])
    np.testing.assert_array_equal(batch.rewards[batch.valid], mdp.rewards[s, a, s_next])
    start_counts = np.bincount(batch.states[0], minlength=mdp.num_states)[None, :]
    assert_frequencies_match(start_counts, mdp.initial[None, :])


def test_random_walk_moves_one_step_each_way():
    walk = random_walk_19()
    batch = sample_trajectories(walk, uniform_policy(walk), num_episodes=300, max_steps=3000, seed=1)
    assert np.all(batch.states[0] == 10)
    steps = batch.next_states[batch.valid] - batch.states[batch.valid]
    assert set(np.unique(steps).tolist()) == {-1, 1}
    assert abs(np.mean(steps == 1) - 0.5) < 5 * 0.5 / np.sqrt(steps.size)


# ---------------------------------------------------------------- Trajectories invariants


@pytest.mark.parametrize("max_steps", [1, 4, 300])
def test_trajectory_invariants(max_steps):
    mdp = random_mdp(num_states=6, num_actions=2, gamma=0.95, seed=2, terminal_probability=0.25)
    num_episodes = 64
    batch = sample_trajectories(mdp, random_policy(mdp, seed=3), num_episodes, max_steps, seed=4)
    assert isinstance(batch, Trajectories)
    num_steps = batch.num_steps
    assert 1 <= num_steps <= max_steps
    for name, kind in [
        ("states", "i"), ("actions", "i"), ("next_states", "i"), ("rewards", "f"),
        ("terminated", "b"), ("truncated", "b"), ("valid", "b"),
    ]:
        array = getattr(batch, name)
        assert array.shape == (num_steps, num_episodes), name
        assert array.dtype.kind == kind, (name, array.dtype)
    lengths = batch.valid.sum(axis=0)
    np.testing.assert_array_equal(batch.lengths, lengths)
    assert lengths.max() == num_steps and lengths.min() >= 1
    for n in range(num_episodes):
        length = lengths[n]
        assert batch.valid[:length, n].all() and not batch.valid[length:, n].any()  # a prefix
        last = length - 1
        assert batch.terminated[last, n] != batch.truncated[last, n]  # exactly one ends the episode
        assert not batch.terminated[:last, n].any() and not batch.truncated[:last, n].any()
        assert not batch.terminated[length:, n].any() and not batch.truncated[length:, n].any()
        assert batch.terminated[last, n] == mdp.terminal[batch.next_states[last, n]]
        assert not batch.truncated[last, n] or length == max_steps  # truncation only at the time limit
        assert not mdp.terminal[batch.states[:length, n]].any()
        np.testing.assert_array_equal(batch.states[1:length, n], batch.next_states[: length - 1, n])
        # padding: reward 0, the state frozen at the episode's last state
        assert not batch.rewards[length:, n].any()
        assert np.all(batch.states[length:, n] == batch.next_states[last, n])
        assert np.all(batch.next_states[length:, n] == batch.next_states[last, n])
    if max_steps == 1:
        assert batch.truncated[0].sum() == num_episodes - batch.terminated[0].sum() > 0
    if max_steps == 300:
        assert not batch.truncated.any() and (lengths < num_steps).any()  # 0.75^300: no truncation, real padding


def test_sampling_is_seeded():
    mdp = random_mdp(seed=5)
    policy = random_policy(mdp, seed=6)
    first = sample_trajectories(mdp, policy, num_episodes=20, max_steps=50, seed=9)
    again = sample_trajectories(mdp, policy, num_episodes=20, max_steps=50, seed=9)
    other = sample_trajectories(mdp, policy, num_episodes=20, max_steps=50, seed=10)
    for name in Trajectories.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.states.shape != other.states.shape or not np.array_equal(first.states, other.states)


# ---------------------------------------------------------------- the MDP object


def test_mdp_is_validated_copy_and_read_only():
    transitions = np.zeros((2, 1, 2))
    transitions[0, 0] = [0.5, 0.5]
    transitions[1, 0, 1] = 1.0
    rewards = np.zeros((2, 1, 2))
    mdp = TabularMDP(transitions, rewards, [False, True], [1.0, 0.0], 1)
    assert mdp.gamma == 1.0 and isinstance(mdp.gamma, float) and mdp.terminal.dtype == bool
    transitions[0, 0] = [1.0, 0.0]  # the caller's array is not shared
    assert mdp.transitions[0, 0, 1] == 0.5
    with pytest.raises(ValueError):
        mdp.transitions[0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        mdp.gamma = 0.5  # type: ignore[misc]
    assert "num_states=2" in repr(mdp)
    np.testing.assert_allclose(policy_evaluation(mdp, uniform_policy(mdp)), [0.0, 0.0])


def test_random_policy_is_a_seeded_softmax():
    mdp = random_mdp(num_states=4, num_actions=5)
    policy = random_policy(mdp, seed=1)
    np.testing.assert_allclose(policy.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(policy, random_policy(mdp, seed=1))
    assert not np.allclose(policy, random_policy(mdp, seed=2))
    assert random_policy(mdp, seed=1, temperature=1e-3).max(axis=1).min() > 0.99
    np.testing.assert_allclose(random_policy(mdp, seed=1, temperature=1e6), uniform_policy(mdp), atol=1e-5)


# ---------------------------------------------------------------- bad input


def walk_arrays():
    walk = random_walk_19()
    return dict(
        transitions=walk.transitions.copy(), rewards=walk.rewards.copy(), terminal=walk.terminal.copy(),
        initial=walk.initial.copy(), gamma=1.0,
    )


def with_change(change):
    arrays = walk_arrays()
    change(arrays)
    return arrays


def _set(arrays, key, index, value):
    arrays[key][index] = value


BAD_MDPS = {
    "row_not_stochastic": (lambda a: _set(a, "transitions", (5, 0, 4), 0.4), "transitions"),
    "negative_probability": (
        lambda a: (_set(a, "transitions", (5, 0, 4), -0.5), _set(a, "transitions", (5, 0, 6), 1.5)), "transitions",
    ),
    "transitions_wrong_rank": (lambda a: a.update(transitions=a["transitions"][:, 0]), "transitions"),
    "transitions_not_square": (lambda a: a.update(transitions=a["transitions"][:, :, :-1]), "transitions"),
    "transitions_nan": (lambda a: _set(a, "transitions", (5, 0, 4), np.nan), "transitions"),
    "rewards_wrong_shape": (lambda a: a.update(rewards=a["rewards"][:-1]), "rewards"),
    "terminal_wrong_shape": (lambda a: a.update(terminal=a["terminal"][:-1]), "terminal"),
    "terminal_not_absorbing": (lambda a: a.update(terminal=np.arange(21) == 5), "terminal"),
    "terminal_reward": (lambda a: _set(a, "rewards", (0, 0, 0), 1.0), "rewards"),
    "initial_wrong_shape": (lambda a: a.update(initial=a["initial"][:-1]), "initial"),
    "initial_not_summing": (lambda a: _set(a, "initial", 10, 0.5), "initial"),
    "initial_on_terminal": (lambda a: (_set(a, "initial", 10, 0.0), _set(a, "initial", 0, 1.0)), "initial"),
    "gamma_above_one": (lambda a: a.update(gamma=1.5), "gamma"),
    "gamma_negative": (lambda a: a.update(gamma=-0.1), "gamma"),
    "gamma_nan": (lambda a: a.update(gamma=float("nan")), "gamma"),
    "gamma_not_a_number": (lambda a: a.update(gamma="0.9"), "gamma"),
}


@pytest.mark.parametrize("case", sorted(BAD_MDPS))
def test_bad_mdp_is_refused_naming_the_argument(case):
    change, argument = BAD_MDPS[case]
    with pytest.raises(ValueError, match=argument):
        TabularMDP(**with_change(change))


def test_gamma_one_needs_every_policy_to_terminate():
    assert two_state_trap_mdp(0.9).gamma == 0.9  # discounting makes the trap harmless
    with pytest.raises(ValueError, match=r"gamma = 1 needs every policy to terminate.*\[0\]"):
        two_state_trap_mdp(1.0)


def test_nearly_non_terminating_solve_is_refused():
    mdp = random_mdp(gamma=1.0, terminal_probability=1e-15)
    with pytest.raises(ValueError, match="singular"):
        policy_evaluation(mdp, uniform_policy(mdp))


@pytest.mark.parametrize(
    "make_policy",
    [
        lambda mdp: uniform_policy(mdp)[:-1],
        lambda mdp: uniform_policy(mdp)[:, :-1],
        lambda mdp: uniform_policy(mdp) * 0.9,
        lambda mdp: np.where(np.arange(mdp.num_actions) == 0, 1.5, -0.25) * np.ones((mdp.num_states, 1)),
        lambda mdp: np.full((mdp.num_states, mdp.num_actions), np.nan),
    ],
    ids=["too_few_states", "too_few_actions", "rows_not_summing", "negative", "nan"],
)
@pytest.mark.parametrize("function", [policy_evaluation, action_values, advantages, sample_trajectories])
def test_bad_policy_is_refused_naming_the_argument(make_policy, function):
    mdp = random_mdp(num_states=4, num_actions=3)
    arguments = dict(num_episodes=2, max_steps=3, seed=0) if function is sample_trajectories else {}
    with pytest.raises(ValueError, match="policy"):
        function(mdp, make_policy(mdp), **arguments)


@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(num_episodes=0), "num_episodes"),
        (dict(max_steps=0), "max_steps"),
        (dict(max_steps=2.5), "max_steps"),
        (dict(start_state=3), "start_state"),  # terminal
        (dict(start_state=-1), "start_state"),
        (dict(start_state=7), "start_state"),
    ],
)
def test_bad_sampling_arguments_are_refused(arguments, name):
    mdp = random_mdp(num_states=4, num_actions=2)
    call = dict(num_episodes=2, max_steps=3, seed=0) | arguments
    with pytest.raises(ValueError, match=name):
        sample_trajectories(mdp, uniform_policy(mdp), **call)


@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(num_states=1), "num_states"),
        (dict(num_actions=0), "num_actions"),
        (dict(terminal_probability=0.0), "terminal_probability"),
        (dict(terminal_probability=1.5), "terminal_probability"),
        (dict(gamma=2.0), "gamma"),
    ],
)
def test_bad_random_mdp_arguments_are_refused(arguments, name):
    with pytest.raises(ValueError, match=name):
        random_mdp(**arguments)


def test_bad_temperature_is_refused():
    with pytest.raises(ValueError, match="temperature"):
        random_policy(random_mdp(), seed=0, temperature=0.0)


# ---------------------------------------------------------------- exact enumeration and exact gradients


def loop_probability(mdp, policy, episodes, n):
    """p(τ) = ρ(s_0) Π_t π(a_t|s_t) P(s_{t+1}|s_t,a_t) of episode n, with a plain loop over its steps."""
    p = mdp.initial[episodes.states[0, n]]
    for t in range(episodes.num_steps):
        if not episodes.valid[t, n]:
            break
        s, a, s_next = episodes.states[t, n], episodes.actions[t, n], episodes.next_states[t, n]
        p *= policy[s, a] * mdp.transitions[s, a, s_next]
    return p


@pytest.mark.parametrize("num_states, num_actions, horizon, gamma", [(3, 2, 4, 1.0), (2, 3, 3, 0.9), (1, 2, 1, 1.0)])
def test_time_indexed_enumeration_is_every_episode_with_its_probability(num_states, num_actions, horizon, gamma):
    mdp = mdp_module.time_indexed_mdp(num_states, num_actions, horizon, gamma=gamma, seed=3)
    policy = random_policy(mdp, seed=4)
    probabilities, episodes = mdp_module.enumerate_episodes(mdp, policy, max_steps=horizon + 2)
    assert probabilities.size == (num_actions * num_states) ** horizon  # S starts · (A·S)^(H−1) · A last actions
    assert abs(probabilities.sum() - 1.0) < 1e-12
    assert np.all(episodes.lengths == horizon) and np.all(episodes.terminated[horizon - 1])
    keys = {tuple(episodes.states[:, n]) + tuple(episodes.actions[:, n]) for n in range(probabilities.size)}
    assert len(keys) == probabilities.size  # no episode listed twice
    for n in range(0, probabilities.size, max(1, probabilities.size // 40)):
        assert abs(probabilities[n] - loop_probability(mdp, policy, episodes, n)) < 1e-15
    # E[Σ_t γ^t r_t] over the list = ρᵀ v_π (a linear solve)
    assert abs(probabilities @ discounted_episode_returns(episodes, gamma) - mdp.initial @ policy_evaluation(mdp, policy)) < 1e-12


def test_enumeration_lists_what_sampling_draws():
    mdp = mdp_module.time_indexed_mdp(2, 2, 3, seed=5)
    policy = random_policy(mdp, seed=6)
    probabilities, listed = mdp_module.enumerate_episodes(mdp, policy, max_steps=3)
    sampled = sample_trajectories(mdp, policy, num_episodes=40_000, max_steps=3, seed=7)
    key = lambda e: [tuple(e.states[:, n]) + tuple(e.actions[:, n]) for n in range(e.num_episodes)]  # noqa: E731
    index = {k: i for i, k in enumerate(key(listed))}
    counts = np.bincount([index[k] for k in key(sampled)], minlength=probabilities.size)  # KeyError: not listed
    frequencies = counts / sampled.num_episodes
    standard_errors = np.sqrt(probabilities * (1 - probabilities) / sampled.num_episodes)
    assert np.max(np.abs(frequencies - probabilities) / standard_errors) < 4.5  # 64 cells, binomial z-scores


def test_enumeration_refuses_episodes_longer_than_max_steps():
    mdp = mdp_module.time_indexed_mdp(2, 2, 5, seed=0)
    with pytest.raises(ValueError, match="max_steps=4"):
        mdp_module.enumerate_episodes(mdp, uniform_policy(mdp), max_steps=4)


@pytest.mark.parametrize("gamma", [1.0, 0.8])
def test_state_visits_and_policy_gradient_against_autodiff_of_the_enumerated_objective(gamma):
    import tensorflow as tf

    mdp = mdp_module.time_indexed_mdp(2, 3, 3, gamma=gamma, seed=8)
    logits = np.random.default_rng(9).normal(size=(mdp.num_states, mdp.num_actions))
    policy = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities, episodes = mdp_module.enumerate_episodes(mdp, policy, max_steps=3)
    # d(s) = Σ_τ p(τ) Σ_t γ^t [s_t = s]
    discount = gamma ** np.arange(episodes.num_steps)[:, None] * episodes.valid
    visits = np.einsum("n,tn,tns->s", probabilities, discount, np.eye(mdp.num_states)[episodes.states])
    np.testing.assert_allclose(mdp_module.state_visits(mdp, policy), visits, atol=1e-13)
    # J(θ) = Σ_τ p_θ(τ) G(τ), p_θ written from softmax(θ) step by step, differentiated by tf.GradientTape
    theta = tf.Variable(logits)
    with tf.GradientTape() as tape:
        pi = tf.nn.softmax(theta)
        p = tf.constant(mdp.initial[episodes.states[0]])
        for t in range(episodes.num_steps):
            factor = tf.gather_nd(pi, np.stack([episodes.states[t], episodes.actions[t]], -1)) * \
                mdp.transitions[episodes.states[t], episodes.actions[t], episodes.next_states[t]]
            p = p * tf.where(episodes.valid[t], factor, tf.ones_like(factor))
        objective = tf.reduce_sum(p * discounted_episode_returns(episodes, gamma))
    expected = tape.gradient(objective, theta).numpy()
    np.testing.assert_allclose(mdp_module.policy_gradient(mdp, policy), expected, atol=1e-13)
    assert np.abs(expected).max() > 0.01


@pytest.mark.parametrize("gamma, lambda_", [(1.0, 0.0), (1.0, 0.7), (0.9, 1.0), (0.95, 0.5)])
def test_expected_gae_is_the_conditional_mean_of_the_kernel_over_every_episode(gamma, lambda_):
    import tf_gae

    mdp = mdp_module.time_indexed_mdp(3, 2, 4, seed=10)
    policy = random_policy(mdp, seed=11)
    values = np.where(mdp.terminal, 0.0, np.random.default_rng(12).normal(size=mdp.num_states))  # any V̂
    probabilities, episodes = mdp_module.enumerate_episodes(mdp, policy, max_steps=4)
    adv = tf_gae.gae(episodes.rewards, values[episodes.states], values[episodes.next_states], episodes.terminated,
                     episodes.truncated, gamma=gamma, lambda_=lambda_).advantages.numpy()  # [T, M]
    pairs = episodes.states * mdp.num_actions + episodes.actions  # [T, M]
    weight = probabilities[None, :] * episodes.valid
    mass = np.bincount(pairs.ravel(), weight.ravel(), minlength=mdp.num_states * mdp.num_actions)
    total = np.bincount(pairs.ravel(), (weight * adv).ravel(), minlength=mdp.num_states * mdp.num_actions)
    seen = mass > 0
    expected = mdp_module.expected_gae(mdp, policy, values, gamma, lambda_).ravel()
    np.testing.assert_allclose(expected[seen], total[seen] / mass[seen], atol=1e-12)


def test_score_function_gradients_against_a_loop():
    mdp = mdp_module.time_indexed_mdp(2, 2, 3, seed=13)
    policy = random_policy(mdp, seed=14)
    episodes = sample_trajectories(mdp, policy, num_episodes=7, max_steps=3, seed=15)
    weights = np.random.default_rng(16).normal(size=episodes.states.shape)
    expected = np.zeros((7, mdp.num_states, mdp.num_actions))
    for n in range(7):
        for t in range(episodes.num_steps):
            if episodes.valid[t, n]:
                s, a = episodes.states[t, n], episodes.actions[t, n]
                expected[n, s] += (np.eye(mdp.num_actions)[a] - policy[s]) * weights[t, n]
    np.testing.assert_allclose(mdp_module.score_function_gradients(episodes, policy, weights), expected, atol=1e-14)


def early_ending_mdp(gamma=1.0):
    """States 0 → 1 → 2 → end, where each action ends the episode early with its own probability:
    episodes last 1, 2 or 3 steps, and how long depends on the actions."""
    transitions = np.zeros((4, 2, 4))
    for s in range(3):
        for a, p_end in enumerate((0.2, 0.6)):
            transitions[s, a, 3] = 1.0 if s == 2 else p_end
            if s < 2:
                transitions[s, a, s + 1] = 1.0 - p_end
    transitions[3, :, 3] = 1.0
    rewards = np.random.default_rng(17).normal(size=(4, 2, 4))
    rewards[3] = 0.0
    return TabularMDP(transitions, rewards, np.arange(4) == 3, np.array([1.0, 0, 0, 0]), gamma)


@pytest.mark.parametrize("gamma, lambda_", [(1.0, 0.0), (1.0, 0.6), (0.9, 0.95)])
def test_enumeration_with_episodes_of_different_lengths(gamma, lambda_):
    import tf_gae

    mdp = early_ending_mdp(gamma)
    policy = random_policy(mdp, seed=18)
    probabilities, episodes = mdp_module.enumerate_episodes(mdp, policy, max_steps=3)
    assert set(episodes.lengths.tolist()) == {1, 2, 3} and abs(probabilities.sum() - 1.0) < 1e-12
    assert np.all(~episodes.valid[1:] | episodes.valid[:-1])  # padding only after an episode's end
    assert probabilities @ discounted_episode_returns(episodes, gamma) == pytest.approx(
        mdp.initial @ policy_evaluation(mdp, policy), abs=1e-12)
    values = np.where(mdp.terminal, 0.0, np.random.default_rng(19).normal(size=4))
    adv = tf_gae.gae(episodes.rewards, values[episodes.states], values[episodes.next_states], episodes.terminated,
                     episodes.truncated, gamma=gamma, lambda_=lambda_).advantages.numpy()
    weights = probabilities[None, :] * episodes.valid
    # the exact policy gradient of the estimator, two ways: the enumeration and the linear solve
    enumerated = np.einsum("m,msa->sa", probabilities, mdp_module.score_function_gradients(episodes, policy, adv))
    solved = mdp_module.gradient_from_advantages(mdp_module.state_visits(mdp, policy, gamma=1.0), policy,
                                                 mdp_module.expected_gae(mdp, policy, values, gamma, lambda_))
    np.testing.assert_allclose(enumerated, solved, atol=1e-12)
    assert weights.sum() == pytest.approx(mdp_module.state_visits(mdp, policy, gamma=1.0).sum(), abs=1e-12)


def test_singular_solves_are_refused_naming_the_cause():
    with pytest.raises(ValueError, match="never end"):
        mdp_module.expected_gae(two_state_trap_mdp(0.9), np.array([[1.0, 0.0], [0.5, 0.5]]), np.zeros(2), 1.0, 1.0)
    with pytest.raises(ValueError, match="never end"):
        mdp_module.state_visits(two_state_trap_mdp(0.9), np.array([[1.0, 0.0], [0.5, 0.5]]), gamma=1.0)


def test_enumeration_refuses_more_episodes_than_its_limit(monkeypatch):
    monkeypatch.setattr(mdp_module, "_MAX_ENUMERATED", 100)
    mdp = mdp_module.time_indexed_mdp(3, 2, 4, seed=0)  # 1,296 episodes
    with pytest.raises(ValueError, match="more than 100 episodes of 2 steps.*smaller problem"):  # 3 · 6 · 6 = 108
        mdp_module.enumerate_episodes(mdp, uniform_policy(mdp), max_steps=4)
