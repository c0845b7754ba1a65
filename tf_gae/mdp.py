"""Small tabular MDPs with exact V^π, Q^π and A^π, and a sampler of episodes. Introduced in chapters 2-4.

Pure numpy (no TensorFlow): the concept and math chapters use these problems because every quantity
that GAE estimates has an exact answer here, so an estimator's bias, variance and error can be measured
rather than argued.

Notation (Sutton & Barto 2018, "Reinforcement Learning: An Introduction", 2nd ed., chapters 3-4):

    P(s' | s, a)   transitions[s, a, s']                                 # [S, A, S]
    R(s, a, s')    rewards[s, a, s'], the expected reward of that step  # [S, A, S]
    π(a | s)       policy[s, a]                                          # [S, A]

    v_π(s)    = Σ_a π(a|s) Σ_s' P(s'|s,a) [R(s,a,s') + γ v_π(s')]      (S&B eq. 4.4, the Bellman equation)
    q_π(s, a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ v_π(s')]                   (S&B eq. 3.13 with 4.4)
    A_π(s, a) = q_π(s, a) − v_π(s)                                        (GAE paper, §2)

so that Σ_a π(a|s) A_π(s, a) = 0 in every state. Terminal states are absorbing with zero reward, and
v_π = q_π = A_π = 0 there. v_π on the non-terminal states is the solution of the linear system

    (I − γ P_π) v = r_π,   P_π(s, s') = Σ_a π(a|s) P(s'|s,a),   r_π(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) R(s,a,s')

restricted to non-terminal s, s' (S&B §4.1: "a system of |S| simultaneous linear equations"). It has a
unique solution when γ < 1 or when every episode terminates with probability 1 (S&B §4.1); with γ = 1
:class:`TabularMDP` therefore requires that *every* policy terminates (all stationary policies are
"proper", Bertsekas & Tsitsiklis 1996, §2.1).

The GAE paper: J. Schulman, P. Moritz, S. Levine, M. I. Jordan, P. Abbeel, "High-Dimensional Continuous
Control Using Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438.

Sampled episodes come back as :class:`Trajectories`, time-major `[T, N]` arrays with the library's
`terminated` / `truncated` flags, ready for :func:`tf_gae.gae`. When every episode is short
(:func:`time_indexed_mdp`), :func:`enumerate_episodes` lists all of them in the same layout with their
probabilities, so the exact mean and variance of anything computed from episodes — an advantage, a
policy-gradient estimate (:func:`score_function_gradients`) — is a weighted sum. The exact references it
is held to: ∇J by the policy gradient theorem (:func:`policy_gradient`) and E[Â_t | s_t, a_t] by a linear
solve (:func:`expected_gae`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from tf_gae.checks import positive_int, unit_interval

__all__ = [
    "TabularMDP",
    "random_walk_19",
    "random_mdp",
    "time_indexed_mdp",
    "uniform_policy",
    "random_policy",
    "policy_evaluation",
    "action_values",
    "advantages",
    "state_visits",
    "gradient_from_advantages",
    "policy_gradient",
    "expected_gae",
    "Trajectories",
    "sample_trajectories",
    "enumerate_episodes",
    "score_function_gradients",
]

_SUM_TOLERANCE = 1e-8  # how far a probability row may sum from 1
_MAX_CONDITION = 1e12  # beyond this the policy-evaluation solve is treated as singular


# --------------------------------------------------------------------------------------------------
# Input checking at the boundary: once, with messages that name the argument and the fix.
# --------------------------------------------------------------------------------------------------


def _float_array(value: Any, name: str, shape: tuple[int, ...], layout: str) -> np.ndarray:
    """`value` as a finite float64 array of exactly `shape` (`layout` spells it, e.g. "[S, A, S]")."""
    try:
        array = np.array(value, dtype=np.float64)  # a copy: the caller's array may change later
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array of shape {layout}, got {type(value).__name__}") from error
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {layout} = {list(shape)}, got {list(array.shape)}")
    if not np.all(np.isfinite(array)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite, found {float(array[index])} at index {index}")
    return array


def _check_distributions(array: np.ndarray, name: str, what: str) -> None:
    """Every row along the last axis of `array` is a probability distribution."""
    if np.any(array < 0):
        index = tuple(int(i) for i in np.argwhere(array < 0)[0])
        raise ValueError(f"{name} must be non-negative ({what}), found {float(array[index])} at index {index}")
    sums = array.sum(axis=-1)
    bad = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if sums.ndim else ()
        row = f"{name}[{', '.join(map(str, index))}{', ' if index else ''}:]"
        raise ValueError(
            f"{row} sums to {float(sums[index])!r}, not 1 ({what}); "
            f"normalise it, e.g. {name} / {name}.sum(axis=-1, keepdims=True)"
        )


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _trapping_states(transitions: np.ndarray, terminal: np.ndarray) -> np.ndarray:
    """Non-terminal states from which some stationary policy never reaches a terminal state.

    The largest set C of non-terminal states in which every state has an action whose next states all
    lie in C: the policy that takes those actions stays in C forever. Found by removing, until nothing
    changes, every state none of whose actions keeps all its probability inside the current set.
    If C is empty, every policy (deterministic or stochastic) terminates with probability 1.
    """
    inside = ~terminal.copy()  # [S]
    while True:
        # stays[s, a]: action a in state s cannot leave the current set
        stays = ~np.any((transitions > 0) & ~inside[None, None, :], axis=-1)  # [S, A]
        keep = inside & stays.any(axis=-1)  # [S]
        if np.array_equal(keep, inside):
            return np.flatnonzero(inside)
        inside = keep


# --------------------------------------------------------------------------------------------------
# The MDP.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class TabularMDP:
    """A finite episodic MDP with a known model, validated once when it is built.

    The arrays are copied to float64 (bool for `terminal`) and made read-only, so a validated MDP
    stays valid. Terminal states must be absorbing (P(s|s, a) = 1 for every a) with zero reward, and
    `initial` puts no mass on them. With `gamma == 1` every policy must terminate with probability 1,
    otherwise v_π is not defined for all policies (S&B §4.1); use gamma < 1 for continuing problems.
    """

    transitions: np.ndarray
    """P[s, a, s'] = P(s' | s, a), float64 `[S, A, S]`; each row over s' sums to 1."""
    rewards: np.ndarray
    """R[s, a, s'], the expected reward of the step s --a--> s', float64 `[S, A, S]`; 0 from terminal states."""
    terminal: np.ndarray
    """bool `[S]`: True for absorbing, zero-reward terminal states."""
    initial: np.ndarray
    """The start-state distribution, float64 `[S]`, zero on terminal states."""
    gamma: float
    """The discount γ in [0, 1]."""
    name: str = ""
    """A label for printing."""

    def __post_init__(self) -> None:
        transitions = np.asarray(self.transitions)
        if transitions.ndim != 3 or transitions.shape[0] != transitions.shape[2]:
            raise ValueError(
                f"transitions must have shape [S, A, S] (P[s, a, s']), got {list(transitions.shape)}"
            )
        num_states, num_actions, _ = transitions.shape
        if num_states < 1 or num_actions < 1:
            raise ValueError(f"transitions must have at least one state and one action, got {list(transitions.shape)}")
        layout = (num_states, num_actions, num_states)
        transitions = _float_array(transitions, "transitions", layout, "[S, A, S]")  # [S, A, S]
        _check_distributions(transitions, "transitions", "each row P[s, a, :] must be a distribution over next states")
        rewards = _float_array(self.rewards, "rewards", layout, "[S, A, S]")  # [S, A, S]

        terminal = np.asarray(self.terminal)
        if terminal.shape != (num_states,):
            raise ValueError(f"terminal must have shape [S] = [{num_states}], got {list(terminal.shape)}")
        if terminal.dtype != bool:
            if not np.issubdtype(terminal.dtype, np.number) or not np.all((terminal == 0) | (terminal == 1)):
                raise ValueError("terminal must be a bool array (or 0/1 numbers) marking the terminal states")
            terminal = terminal != 0
        terminal = terminal.astype(bool, copy=True)  # [S]
        for s in np.flatnonzero(terminal):
            if not np.allclose(transitions[s, :, s], 1.0, rtol=0.0, atol=_SUM_TOLERANCE):
                raise ValueError(
                    f"terminal state {s} must be absorbing: set transitions[{s}, :, :] = 0 and "
                    f"transitions[{s}, :, {s}] = 1"
                )
            if np.any(rewards[s] != 0.0):
                raise ValueError(f"rewards[{s}] must be 0 because state {s} is terminal; set rewards[{s}] = 0")

        initial = _float_array(self.initial, "initial", (num_states,), "[S]")  # [S]
        _check_distributions(initial, "initial", "it is the start-state distribution")
        if np.any(initial[terminal] > 0):
            s = int(np.flatnonzero(terminal & (initial > 0))[0])
            raise ValueError(f"initial must put no mass on terminal states, but initial[{s}] = {initial[s]}")

        gamma = unit_interval(self.gamma, "gamma", "0.99")
        if gamma == 1.0:
            trapped = _trapping_states(transitions, terminal)
            if trapped.size:
                raise ValueError(
                    f"gamma = 1 needs every policy to terminate, but some policy never leaves states "
                    f"{trapped.tolist()} (none terminal); use gamma < 1 or give those states a path to a terminal state"
                )
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a str, got {type(self.name).__name__}")

        object.__setattr__(self, "transitions", _read_only(transitions))
        object.__setattr__(self, "rewards", _read_only(rewards))
        object.__setattr__(self, "terminal", _read_only(terminal))
        object.__setattr__(self, "initial", _read_only(initial))
        object.__setattr__(self, "gamma", gamma)

    @property
    def num_states(self) -> int:
        """S, terminal states included."""
        return int(self.transitions.shape[0])

    @property
    def num_actions(self) -> int:
        """A, the same in every state."""
        return int(self.transitions.shape[1])

    def __repr__(self) -> str:
        return (
            f"TabularMDP(name={self.name!r}, num_states={self.num_states}, num_actions={self.num_actions}, "
            f"terminal={np.flatnonzero(self.terminal).tolist()}, gamma={self.gamma})"
        )


def random_walk_19(gamma: float = 1.0) -> TabularMDP:
    """The 19-state random walk of Sutton & Barto 2018, Example 7.1 and §12.1 (Figure 12.3).

    States 0..20 in a row; 0 and 20 are terminal, the walk starts in state 10. A single action
    (A = 1, so the policy is trivial: `uniform_policy(mdp)`) moves left or right with probability 1/2.
    Reaching state 0 gives −1, reaching state 20 gives +1, every other step 0. With γ = 1,

        v(s) = P(end right | s) − P(end left | s) = s/20 − (20 − s)/20 = (s − 10)/10,   s = 1..19.
    """
    num_states = 21
    transitions = np.zeros((num_states, 1, num_states))  # [S, A, S]
    rewards = np.zeros((num_states, 1, num_states))  # [S, A, S]
    for s in range(1, num_states - 1):
        transitions[s, 0, s - 1] = 0.5
        transitions[s, 0, s + 1] = 0.5
    for s in (0, num_states - 1):
        transitions[s, 0, s] = 1.0
    rewards[1, 0, 0] = -1.0
    rewards[num_states - 2, 0, num_states - 1] = 1.0
    terminal = np.zeros(num_states, bool)  # [S]
    terminal[[0, num_states - 1]] = True
    initial = np.zeros(num_states)  # [S]
    initial[10] = 1.0
    return TabularMDP(transitions, rewards, terminal, initial, gamma, name="random_walk_19")


def random_mdp(
    num_states: int = 6,
    num_actions: int = 3,
    gamma: float = 0.9,
    seed: int = 0,
    terminal_probability: float = 0.1,
) -> TabularMDP:
    """A seeded random episodic MDP: S − 1 ordinary states and one absorbing terminal state, S − 1.

    From every ordinary state, every action ends the episode with probability `terminal_probability`
    (so episodes last 1 / terminal_probability steps on average under any policy, and γ = 1 is allowed);
    otherwise the next state is drawn from a Dirichlet(1, ..., 1) row over the ordinary states:

        P(· | s, a) = (1 − p_end) · Dirichlet(1) on states 0..S−2,   P(S−1 | s, a) = p_end
        R(s, a, s') ~ Normal(0, 1) for ordinary s, 0 from the terminal state
        initial = uniform over the ordinary states
    """
    num_states = positive_int(num_states, "num_states")
    num_actions = positive_int(num_actions, "num_actions")
    if num_states < 2:
        raise ValueError(f"num_states must be at least 2 (one ordinary state and the terminal one), got {num_states}")
    if isinstance(terminal_probability, bool) or not isinstance(terminal_probability, numbers.Real) or not (
        0.0 < float(terminal_probability) <= 1.0
    ):
        raise ValueError(
            f"terminal_probability must lie in (0, 1] so that episodes end, got {terminal_probability!r}"
        )
    rng = np.random.default_rng(seed)
    ordinary = num_states - 1
    end = num_states - 1  # the terminal state's index
    transitions = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    rows = rng.dirichlet(np.ones(ordinary), size=(ordinary, num_actions))  # [S-1, A, S-1]
    transitions[:ordinary, :, :ordinary] = (1.0 - terminal_probability) * rows
    transitions[:ordinary, :, end] = terminal_probability
    transitions[end, :, end] = 1.0
    rewards = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    rewards[:ordinary] = rng.normal(size=(ordinary, num_actions, num_states))
    terminal = np.zeros(num_states, bool)  # [S]
    terminal[end] = True
    initial = np.zeros(num_states)  # [S]
    initial[:ordinary] = 1.0 / ordinary
    name = f"random_mdp(S={num_states}, A={num_actions}, seed={seed})"
    return TabularMDP(transitions, rewards, terminal, initial, gamma, name=name)


def time_indexed_mdp(
    num_states: int = 3,
    num_actions: int = 2,
    horizon: int = 6,
    gamma: float = 1.0,
    seed: int = 0,
) -> TabularMDP:
    """A seeded random MDP whose episodes all last exactly `horizon` steps, with the time step in the state.

    Base dynamics as in :func:`random_mdp` without termination: P(· | s, a) ~ Dirichlet(1) over the
    `num_states` base states and R(s, a, s') ~ Normal(0, 1), the same at every step. The MDP's states are
    the pairs (t, s), index t · num_states + s, plus one terminal state (the last index):

        (t, s) --a--> (t + 1, s')  with P(s' | s, a), reward R(s, a, s'),   t < horizon − 1
        (horizon − 1, s) --a--> terminal  with reward Σ_s' P(s'|s,a) R(s, a, s')
        initial: uniform over (0, s)

    A time limit makes values depend on the time left, so t belongs in the state for v_π to be exact
    (Pardo et al., "Time Limits in Reinforcement Learning", ICML 2018). Every episode is
    `horizon` steps long, so all (num_actions · num_states)^(horizon − 1) · num_actions · num_states of
    them can be listed (:func:`enumerate_episodes`) and an estimator's mean and variance computed exactly.
    A policy `[S, A]` over these states may act differently at each step.
    """
    num_base = positive_int(num_states, "num_states")
    num_actions = positive_int(num_actions, "num_actions")
    horizon = positive_int(horizon, "horizon")
    rng = np.random.default_rng(seed)
    base_transitions = rng.dirichlet(np.ones(num_base), size=(num_base, num_actions))  # [s, A, s']
    base_rewards = rng.normal(size=(num_base, num_actions, num_base))  # [s, A, s']
    num_states = horizon * num_base + 1
    end = num_states - 1  # the terminal state's index
    transitions = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    rewards = np.zeros((num_states, num_actions, num_states))  # [S, A, S]
    for t in range(horizon):
        rows = slice(t * num_base, (t + 1) * num_base)
        if t < horizon - 1:
            following = slice((t + 1) * num_base, (t + 2) * num_base)
            transitions[rows, :, following] = base_transitions
            rewards[rows, :, following] = base_rewards
        else:  # the last step ends the episode and pays the expected reward of a base step
            transitions[rows, :, end] = 1.0
            rewards[rows, :, end] = np.einsum("sat,sat->sa", base_transitions, base_rewards)
    transitions[end, :, end] = 1.0
    terminal = np.arange(num_states) == end  # [S]
    initial = np.zeros(num_states)  # [S]
    initial[:num_base] = 1.0 / num_base
    name = f"time_indexed_mdp(S={num_base}, A={num_actions}, H={horizon}, seed={seed})"
    return TabularMDP(transitions, rewards, terminal, initial, gamma, name=name)


# --------------------------------------------------------------------------------------------------
# Policies.
# --------------------------------------------------------------------------------------------------


def uniform_policy(mdp: TabularMDP) -> np.ndarray:
    """π(a|s) = 1/A in every state, float64 `[S, A]`."""
    return np.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions)


def random_policy(mdp: TabularMDP, seed: int, temperature: float = 1.0) -> np.ndarray:
    """π(a|s) = softmax_a(z[s, a] / temperature) with z ~ Normal(0, 1) seeded, float64 `[S, A]`.

    Small temperatures give near-deterministic policies, large ones near-uniform policies.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
        np.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    logits = np.random.default_rng(seed).normal(size=(mdp.num_states, mdp.num_actions)) / temperature  # [S, A]
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)  # [S, A]
    return weights / weights.sum(axis=1, keepdims=True)


def _check_policy(mdp: TabularMDP, policy: Any) -> np.ndarray:
    policy = _float_array(policy, "policy", (mdp.num_states, mdp.num_actions), "[S, A]")  # [S, A]
    _check_distributions(policy, "policy", "each row π(· | s) must be a distribution over actions")
    return policy


# --------------------------------------------------------------------------------------------------
# Exact values.
# --------------------------------------------------------------------------------------------------


def policy_evaluation(mdp: TabularMDP, policy: np.ndarray) -> np.ndarray:
    """Exact v_π, float64 `[S]`, by one linear solve (not iteration); 0 on terminal states.

        (I − γ P_π) v = r_π on the non-terminal states (S&B eq. 4.4 written as a linear system, §4.1)
        P_π(s, s') = Σ_a π(a|s) P(s'|s,a),   r_π(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) R(s,a,s')

    Terminal states have v = 0, so transitions into them contribute only their reward.
    Raises ValueError if the system is singular (to working precision): the policy does not terminate
    and γ = 1, or γ is so close to 1 that the values are not determined.
    """
    policy = _check_policy(mdp, policy)  # [S, A]
    # P_π(s, s') = Σ_a π(a|s) P(s'|s,a)
    policy_transitions = np.einsum("sa,sat->st", policy, mdp.transitions)  # [S, S]
    # r_π(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) R(s,a,s')
    policy_rewards = np.einsum("sa,sat,sat->s", policy, mdp.transitions, mdp.rewards)  # [S]
    live = np.flatnonzero(~mdp.terminal)  # [S_live]
    values = np.zeros(mdp.num_states)  # [S]
    if live.size == 0:
        return values
    system = np.eye(live.size) - mdp.gamma * policy_transitions[np.ix_(live, live)]  # [S_live, S_live]
    condition = np.linalg.cond(system)
    if not np.isfinite(condition) or condition > _MAX_CONDITION:
        raise ValueError(
            f"policy evaluation is singular for {mdp!r} (condition number {condition:.3g}): with gamma = "
            f"{mdp.gamma} this policy's episodes (almost) never end; use gamma < 1 or a policy that terminates"
        )
    values[live] = np.linalg.solve(system, policy_rewards[live])
    return values


def _action_values_from(mdp: TabularMDP, values: np.ndarray) -> np.ndarray:
    """q(s, a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ v(s')] for given values `[S]`, 0 on terminal rows, `[S, A]`."""
    # q(s, a) = Σ_s' P(s'|s,a) (R(s,a,s') + γ v(s'))
    targets = mdp.rewards + mdp.gamma * values[None, None, :]  # [S, A, S]
    q_values = np.einsum("sat,sat->sa", mdp.transitions, targets)  # [S, A]
    q_values[mdp.terminal] = 0.0
    return q_values


def action_values(mdp: TabularMDP, policy: np.ndarray) -> np.ndarray:
    """Exact q_π, float64 `[S, A]`; rows of terminal states are 0.

        q_π(s, a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ v_π(s')]     (S&B eq. 3.13 with the model, cf. eq. 4.6)
    """
    return _action_values_from(mdp, policy_evaluation(mdp, policy))


def advantages(mdp: TabularMDP, policy: np.ndarray) -> np.ndarray:
    """Exact advantage A_π(s, a) = q_π(s, a) − v_π(s), float64 `[S, A]`; rows of terminal states are 0.

    The quantity GAE estimates (GAE paper §2); Σ_a π(a|s) A_π(s, a) = 0 in every state.
    """
    values = policy_evaluation(mdp, policy)  # [S]
    # A(s, a) = q(s, a) − v(s)
    advantage = _action_values_from(mdp, values) - values[:, None]  # [S, A]
    advantage[mdp.terminal] = 0.0
    return advantage


def state_visits(mdp: TabularMDP, policy: np.ndarray, gamma: float | None = None) -> np.ndarray:
    """d(s) = Σ_t γ^t Pr(s_t = s), float64 `[S]` (0 on terminal states), by one linear solve.

        d = ρ + γ P_πᵀ d   on the non-terminal states,   ρ = `initial`

    `gamma` defaults to the MDP's. With γ = 1 it is the expected number of visits to s in an episode —
    the weighting of E[Σ_t ∇log π(a_t|s_t) Â_t], which sums over steps without γ^t (so pair
    :func:`expected_gae` with `gamma=1` here whatever discount the estimator uses).
    """
    policy = _check_policy(mdp, policy)  # [S, A]
    gamma = mdp.gamma if gamma is None else unit_interval(gamma, "gamma", "1.0")
    live = np.flatnonzero(~mdp.terminal)
    policy_transitions = np.einsum("sa,sat->st", policy, mdp.transitions)[np.ix_(live, live)]  # [L, L]
    system = np.eye(live.size) - gamma * policy_transitions.T
    _check_conditioned(system, mdp, gamma, "state_visits")
    visits = np.zeros(mdp.num_states)  # [S]
    visits[live] = np.linalg.solve(system, mdp.initial[live])
    return visits


def _check_conditioned(system: np.ndarray, mdp: TabularMDP, discount: float, what: str) -> None:
    """ValueError if `system` is singular to working precision: with this discount the episodes need not end."""
    condition = np.linalg.cond(system) if system.size else 1.0
    if not np.isfinite(condition) or condition > _MAX_CONDITION:
        raise ValueError(
            f"{what} is singular for {mdp!r} (condition number {condition:.3g}): with discount {discount} this "
            "policy's episodes (almost) never end; use a discount below 1 or a policy that terminates"
        )


def gradient_from_advantages(visits: np.ndarray, policy: np.ndarray, advantage: np.ndarray) -> np.ndarray:
    """Σ_s d(s) Σ_a π(a|s) ∇_θ log π(a|s) Ã(s, a) for the tabular softmax policy π(·|s) = softmax(θ[s]), `[S, A]`.

    ∇_{θ[s,·]} log π(a|s) = onehot(a) − π(·|s), so the θ[s, a] entry is

        d(s) π(a|s) (Ã(s, a) − Σ_b π(b|s) Ã(s, b)):

    only the action-centred part of Ã reaches the gradient; anything that depends on s alone cancels.
    `visits` `[S]`, `policy` and `advantage` `[S, A]`.
    """
    centred = advantage - np.sum(policy * advantage, axis=1, keepdims=True)  # Ã − E_{a~π}[Ã]
    return visits[:, None] * policy * centred


def policy_gradient(mdp: TabularMDP, policy: np.ndarray) -> np.ndarray:
    """Exact ∇_θ J for J = E[Σ_t γ^t r_t] and the tabular softmax policy: d_π(s) π(a|s) A_π(s, a), `[S, A]`.

    The policy gradient theorem (Sutton, McAllester, Singh, Mansour, NeurIPS 2000) with linear solves
    for d_π (:func:`state_visits`) and A_π (:func:`advantages`).
    """
    return gradient_from_advantages(state_visits(mdp, policy), policy, advantages(mdp, policy))


def expected_gae(mdp: TabularMDP, policy: np.ndarray, values: np.ndarray, gamma: float, lambda_: float) -> np.ndarray:
    """E[Â_t | s_t = s, a_t = a] of GAE(γ, λ) with the value table V̂ = `values` `[S]`, exactly, `[S, A]`.

    The estimator's γ may differ from the MDP's. Taking E[· | s_t, a_t] of Â_t = δ_t + γλ Â_{t+1}
    (nothing follows a terminal step) gives one linear system on the non-terminal pairs:

        Ā(s, a) = δ̄(s, a) + γλ Σ_s' P(s'|s,a) [s' not terminal] Σ_a' π(a'|s') Ā(s', a')
        δ̄(s, a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ V̂(s') [s' not terminal]] − V̂(s)

    For episodes that end by termination (never cut by a time limit). Rows of terminal states are 0.
    The policy gradient this implies is gradient_from_advantages(state_visits(mdp, π, gamma=1), π, Ā).
    """
    policy = _check_policy(mdp, policy)  # [S, A]
    values = _float_array(values, "values", (mdp.num_states,), "[S]")  # [S]
    gamma = unit_interval(gamma, "gamma", "0.99")
    lambda_ = unit_interval(lambda_, "lambda_", "0.95")
    alive = (~mdp.terminal).astype(float)  # [S]
    # δ̄(s, a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ V̂(s') alive(s')] − V̂(s)
    mean_delta = np.einsum("sat,sat->sa", mdp.transitions, mdp.rewards + gamma * (alive * values)[None, None, :])
    mean_delta -= values[:, None]
    live = np.flatnonzero(~mdp.terminal)
    pairs = np.ix_(live, np.arange(mdp.num_actions))
    # M[(s, a), (s', a')] = P(s'|s,a) π(a'|s') on the live pairs
    following = np.einsum("sat,tb->satb", mdp.transitions, policy)[np.ix_(live, np.arange(mdp.num_actions), live)]
    size = live.size * mdp.num_actions
    system = np.eye(size) - gamma * lambda_ * following.reshape(size, size)
    _check_conditioned(system, mdp, gamma * lambda_, "expected_gae")
    expected = np.zeros((mdp.num_states, mdp.num_actions))  # [S, A]
    expected[pairs] = np.linalg.solve(system, mean_delta[pairs].reshape(size)).reshape(live.size, mdp.num_actions)
    return expected


# --------------------------------------------------------------------------------------------------
# Sampling.
# --------------------------------------------------------------------------------------------------


@dataclass
class Trajectories:
    """A batch of N episodes, time-major and padded to the longest one: every array is `[T, N]`.

    Step t of episode n is the transition states → (actions, rewards) → next_states. An episode's steps
    are a prefix of its column (`valid`); its last valid step has exactly one of `terminated` (it entered a
    terminal state) or `truncated` (it was cut at `max_steps` without terminating; bootstrap from
    `next_states`). Padding after the end has valid, terminated and truncated False, reward 0, action 0 and
    states = next_states = the episode's last state.
    """

    states: np.ndarray
    """int64 `[T, N]`: s_t."""
    actions: np.ndarray
    """int64 `[T, N]`: a_t ~ π(· | s_t)."""
    rewards: np.ndarray
    """float64 `[T, N]`: R(s_t, a_t, s_{t+1})."""
    next_states: np.ndarray
    """int64 `[T, N]`: s_{t+1} ~ P(· | s_t, a_t)."""
    terminated: np.ndarray
    """bool `[T, N]`: step t entered a terminal state."""
    truncated: np.ndarray
    """bool `[T, N]`: the episode was cut at `max_steps` after step t without terminating."""
    valid: np.ndarray
    """bool `[T, N]`: step t exists (False on padding after the episode ended)."""

    @property
    def num_steps(self) -> int:
        """T, the length of the longest episode."""
        return int(self.states.shape[0])

    @property
    def num_episodes(self) -> int:
        """N."""
        return int(self.states.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """int64 `[N]`: the number of valid steps of each episode."""
        return self.valid.sum(axis=0).astype(np.int64)


def _sample_rows(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: one index per row of `probabilities` `[M, K]` from `uniforms` `[M]`."""
    cumulative = np.cumsum(probabilities, axis=1)  # [M, K]
    cumulative /= cumulative[:, -1:]  # entries that reach the total become exactly 1, never below a u < 1
    return np.minimum((cumulative <= uniforms[:, None]).sum(axis=1), probabilities.shape[1] - 1)


def sample_trajectories(
    mdp: TabularMDP,
    policy: np.ndarray,
    num_episodes: int,
    max_steps: int,
    seed: int,
    start_state: int | None = None,
) -> Trajectories:
    """Run `num_episodes` episodes of `policy` in `mdp` at once (vectorised over episodes), seeded.

    Each episode starts from s_0 ~ `initial` (or in `start_state`), then a_t ~ π(· | s_t),
    s_{t+1} ~ P(· | s_t, a_t), r_t = R(s_t, a_t, s_{t+1}), until it enters a terminal state or has taken
    `max_steps` steps (then its last step is `truncated`). The arrays have T = the longest episode's
    length (at most `max_steps`). All randomness comes from `np.random.default_rng(seed)`, so one seed
    gives the same batch every time.
    """
    policy = _check_policy(mdp, policy)  # [S, A]
    num_episodes = positive_int(num_episodes, "num_episodes")
    max_steps = positive_int(max_steps, "max_steps")
    rng = np.random.default_rng(seed)
    if start_state is None:
        current = _sample_rows(np.broadcast_to(mdp.initial, (num_episodes, mdp.num_states)), rng.random(num_episodes))
    else:
        if isinstance(start_state, (bool, np.bool_)) or not isinstance(start_state, (numbers.Integral, np.integer)):
            raise ValueError(f"start_state must be an int state index or None, got {start_state!r}")
        if not 0 <= start_state < mdp.num_states or mdp.terminal[start_state]:
            raise ValueError(
                f"start_state must be a non-terminal state in [0, {mdp.num_states}), got {start_state}; "
                f"terminal states are {np.flatnonzero(mdp.terminal).tolist()}"
            )
        current = np.full(num_episodes, int(start_state))
    current = current.astype(np.int64)  # [N]
    done = np.zeros(num_episodes, bool)  # [N]

    columns: dict[str, list[np.ndarray]] = {key: [] for key in Trajectories.__dataclass_fields__}
    for t in range(max_steps):
        active = np.flatnonzero(~done)  # [M]
        if active.size == 0:
            break
        states = current.copy()  # [N]; padding keeps the last state
        actions = np.zeros(num_episodes, np.int64)  # [N]
        rewards = np.zeros(num_episodes)  # [N]
        # a_t ~ π(· | s_t)
        actions[active] = _sample_rows(policy[states[active]], rng.random(active.size))
        # s_{t+1} ~ P(· | s_t, a_t)
        next_active = _sample_rows(mdp.transitions[states[active], actions[active]], rng.random(active.size))
        # r_t = R(s_t, a_t, s_{t+1})
        rewards[active] = mdp.rewards[states[active], actions[active], next_active]
        current[active] = next_active
        valid = ~done  # [N]
        terminated = valid & mdp.terminal[current]  # [N]
        truncated = valid & ~terminated if t == max_steps - 1 else np.zeros(num_episodes, bool)  # [N]
        done = done | terminated
        for key, row in (
            ("states", states), ("actions", actions), ("rewards", rewards), ("next_states", current.copy()),
            ("terminated", terminated), ("truncated", truncated), ("valid", valid),
        ):
            columns[key].append(row)
    return Trajectories(**{key: np.stack(rows) for key, rows in columns.items()})


_MAX_ENUMERATED = 1_000_000  # episodes enumerate_episodes will list before asking for a smaller problem


def enumerate_episodes(mdp: TabularMDP, policy: np.ndarray, max_steps: int) -> tuple[np.ndarray, Trajectories]:
    """Every episode of `policy` in `mdp` with positive probability: (probabilities `[M]`, episodes `[T, M]`).

    The episodes come in :class:`Trajectories`' layout (as :func:`sample_trajectories` returns them, padding
    included), so anything computed from sampled episodes — tf_gae.gae, a gradient estimate — can be
    computed on all of them, and its exact mean is `probabilities @ estimate`. Probabilities sum to 1.
    Every episode must terminate within `max_steps` steps (e.g. :func:`time_indexed_mdp`).
    """
    policy = _check_policy(mdp, policy)  # [S, A]
    max_steps = positive_int(max_steps, "max_steps")
    branches = np.sum((policy[:, :, None] > 0) & (mdp.transitions > 0), axis=(1, 2))  # [S]: (a, s') pairs from s
    current = np.flatnonzero(mdp.initial > 0)  # [M]: each path's current state
    probability = mdp.initial[current]  # [M]
    done = np.zeros(current.size, bool)  # [M]
    history: list[dict[str, np.ndarray]] = []  # one dict of [M] rows per step, for the paths of that step
    parents: list[np.ndarray] = []  # parents[t][m]: the index of path m among the paths of step t
    for t in range(max_steps):
        if done.all():
            break
        # Branch every running path over (a, s') with π(a|s) P(s'|s,a) > 0; finished paths carry on as padding.
        count = int(np.sum(np.where(done, 1, branches[current])))  # the paths of step t + 1, before allocating
        if count > _MAX_ENUMERATED:
            raise ValueError(
                f"{mdp!r} has more than {_MAX_ENUMERATED:,} episodes of {t + 1} steps under this policy; "
                "enumerate a smaller problem (fewer states, actions or steps)"
            )
        weight = policy[current][:, :, None] * mdp.transitions[current]  # [M, A, S]
        weight[done] = 0.0
        weight[done, 0, current[done]] = 1.0  # padding: action 0, same state, probability factor 1
        path, action, following = np.nonzero(weight > 0)
        running = ~done[path]
        rewards = np.where(running, mdp.rewards[current[path], action, following], 0.0)
        terminated = running & mdp.terminal[following]
        history.append(dict(states=current[path], actions=np.where(running, action, 0), rewards=rewards,
                            next_states=following, terminated=terminated, truncated=np.zeros(path.size, bool),
                            valid=running))
        parents.append(path)
        probability = probability[path] * weight[path, action, following]
        current, done = following, done[path] | terminated
    if not done.all():
        raise ValueError(
            f"some episodes of {mdp!r} last more than max_steps={max_steps} steps; "
            "enumeration lists whole episodes, so raise max_steps to the longest episode's length"
        )
    # Each step's rows belong to that step's paths; follow the parents back to index them by the final paths.
    index = np.arange(current.size)
    columns: dict[str, list[np.ndarray]] = {key: [] for key in Trajectories.__dataclass_fields__}
    for step, path in zip(reversed(history), reversed(parents)):
        for key, row in step.items():
            columns[key].append(row[index])
        index = path[index]
    episodes = Trajectories(**{key: np.stack(rows[::-1]) for key, rows in columns.items()})
    return probability, episodes


def score_function_gradients(episodes: Trajectories, policy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each episode's score-function estimate g = Σ_t ∇_θ log π(a_t|s_t) w_t for the tabular softmax, `[N, S, A]`.

    ∇_{θ[s,·]} log π(a|s) = onehot(a) − π(·|s) at row s. `weights` `[T, N]` is what multiplies each step:
    Â_t for the GAE policy gradient, γ^t (G_t − b(s_t)) for REINFORCE with a baseline; padding counts 0.
    """
    num_states, num_actions = policy.shape
    score = np.eye(num_actions)[episodes.actions] - policy[episodes.states]  # [T, N, A]
    weights = np.where(episodes.valid, weights, 0.0)  # [T, N]
    return np.einsum("tns,tna,tn->nsa", np.eye(num_states)[episodes.states], score, weights)
