"""GAE for cooperating agents: a centralized critic V(s) against independent critics V_i(o_i) (issue 8).

N agents act on partial observations o_i and share one team reward r_t. Every agent is trained by PPO
with GAE on that team reward; the two variants differ only in the baseline GAE subtracts and
bootstraps from (Lowe et al. 2017, arXiv:1706.02275; Yu et al. 2022, "MAPPO", arXiv:2103.01955;
de Witt et al. 2020, "IPPO", arXiv:2011.09533):

    centralized (MAPPO-style):  δ^i_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t),      s = (o_1, …, o_N)
    independent (IPPO-style):   δ^i_t = r_t + γ (1 − terminated_t) V_i(o^i_{t+1}) − V_i(o^i_t)
    both:                       Â^i_t = Σ_l (γλ)^l δ^i_{t+l}  (tf_gae.gae, cut at episode ends)

A baseline that depends only on o_i is still a valid baseline for agent i's policy gradient, but the team
return also depends on the other agents' hidden states, and V_i(o_i) can only average over them: that
part of the return stays in Â^i as noise (and, for λ < 1, V_i's bootstrap is biased for the same reason).
V(s) sees every agent's state and can remove it. Execution stays decentralised: π_i(a | o_i) in both.

The task, :class:`ButtonRendezvousEnv`, makes the team reward depend on information spread over the agents:
the team is paid only when every agent presses its button in the same step, and each agent sees only its
own position and its own button.

Networks (:class:`CooperativeActorCritic`): ONE actor MLP shared by all agents, whose input is o_i
concatenated with the one-hot agent id e_i (parameter sharing, as MAPPO and IPPO use for homogeneous
agents), so π_i(a | o_i) = π_θ(a | o_i, e_i). The independent critics are likewise one MLP on (o_i, e_i),
V_i(o_i) = V_φ(o_i, e_i); the centralized critic is an MLP on s = concat(o_1, …, o_N).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from tf_gae._tf import tf  # first: TensorFlow imported once, without its start-up noise
import keras  # noqa: E402
import numpy as np
import tensorflow_probability as tfp  # noqa: E402

from tf_gae.advantages import GAEOutput, gae, normalize_advantages
from tf_gae import losses
from tf_gae.checks import finite_number, layer_widths, positive_int
from tf_gae.config import _help
from tf_gae.learner import Learner

__all__ = [
    "ButtonRendezvousEnv",
    "CooperativeStep",
    "CooperativeActorCritic",
    "CRITICS",
    "CooperativeRollout",
    "collect_rollout",
    "team_gae",
    "evaluate_team_return",
    "CooperativePPOConfig",
    "LearningCurve",
    "train_cooperative",
]

tfd = tfp.distributions

CRITICS = ("centralized", "independent")
"""The two critic variants: V(s) on the joint observation, or V_i(o_i) on each agent's own observation."""


# --------------------------------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------------------------------


class CooperativeStep(NamedTuple):
    """What :meth:`ButtonRendezvousEnv.step` returns (B copies, N agents, D = observation size)."""

    observations: np.ndarray
    """[B, N, D] float32: the next observations; for a copy whose episode just ended, the first
    observations of its next episode (the copies reset themselves)."""
    team_rewards: np.ndarray
    """[B] float32: the shared team reward r_t, the same for every agent."""
    terminated: np.ndarray
    """[B] bool: the team succeeded (a terminal state: no bootstrap)."""
    truncated: np.ndarray
    """[B] bool: the time limit cut the episode without success (bootstrap from `final_observations`)."""
    final_observations: np.ndarray
    """[B, N, D] float32: the observations the step produced, before any reset. Where the episode goes
    on they equal `observations`; where it ended they are its last observations, the ones V(s_{t+1})
    must be evaluated on for a truncated step."""


class ButtonRendezvousEnv:
    """N agents must press their buttons in the same step; each sees only its own track. Vectorised over B.

    State (per copy): every agent i has its own track of `track_length` = L cells, a position p_i ∈ {0, …, L−1}
    and a button cell b_i ∈ {0, …, L−1}; a step counter k. Tracks do not interact.

    Reset: every p_i and b_i uniform on {0, …, L−1}, all independent (an agent may start on its button);
    k = 0. All copies draw from one `np.random.default_rng(seed)`.

    Observation of agent i (partial): o_i = [one_hot_L(p_i), one_hot_L(b_i)], float32, size D = 2L.
    It holds nothing about any other agent, and no time: the time limit is not part of the state, so a
    truncated step is bootstrapped (Pardo et al. 2018, "Time Limits in Reinforcement Learning").

    Actions of agent i: 0 = LEFT (p_i ← max(p_i − 1, 0)), 1 = STAY, 2 = RIGHT (p_i ← min(p_i + 1, L − 1)),
    3 = PRESS (no move). All agents act at once.

    Team reward and episode end, with `press` = the agents whose action is PRESS:

        success_t = every agent presses AND every agent is on its button (p_i = b_i)
        r_t       = success_reward                       if success_t
                  = −press_cost · |press|                 otherwise (each wasted press costs the team)
        k ← k + 1;  terminated_t = success_t;  truncated_t = not success_t and k = max_steps

    So the team return of an episode is success_reward − press_cost · (wasted presses) if it succeeds and
    −press_cost · (wasted presses) if it is cut. Whether a press pays depends on whether the OTHER agents are
    on their buttons and pressing: information only they have (and V(s) has, V_i(o_i) has not). A copy whose
    episode ended is reset within the same `step` (see :class:`CooperativeStep`).

    Defaults (N = 3, L = 6, max_steps = 20, press_cost = 0, success_reward = 1): the team return is the
    success indicator; a uniformly random team succeeds in about 0.13 % of episodes (3 % with N = 2), a
    perfect decentralised team (walk to the button, then press every step) in all of them. With
    press_cost = 0.02 PPO first learns to stop pressing, since the wasted presses are paid long before any
    success is seen, and then never succeeds (seen with both critics, N = 2, 100k steps): the cost is kept
    as an option for that harder variant, a relative-overgeneralisation trap neither critic escapes alone.
    """

    LEFT, STAY, RIGHT, PRESS = 0, 1, 2, 3
    num_actions = 4

    def __init__(
        self,
        num_envs: int = 16,
        num_agents: int = 3,
        track_length: int = 6,
        max_steps: int = 20,
        press_cost: float = 0.0,
        success_reward: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.num_envs = positive_int(num_envs, "num_envs", "16")
        self.num_agents = positive_int(num_agents, "num_agents", "3")
        self.track_length = positive_int(track_length, "track_length", "6")
        self.max_steps = positive_int(max_steps, "max_steps", "20")
        self.press_cost = finite_number(press_cost, "press_cost", "0.0", minimum=0.0)
        self.success_reward = finite_number(success_reward, "success_reward", "1.0")
        self.observation_size = 2 * self.track_length  # D
        self.rng = np.random.default_rng(seed)
        shape = (self.num_envs, self.num_agents)
        self.positions = np.zeros(shape, np.int64)  # p [B, N]
        self.buttons = np.zeros(shape, np.int64)  # b [B, N]
        self.elapsed = np.zeros(self.num_envs, np.int64)  # k [B]
        self.reset()

    def _reset_copies(self, copies: np.ndarray) -> None:
        count = int(copies.sum())
        self.positions[copies] = self.rng.integers(0, self.track_length, (count, self.num_agents))
        self.buttons[copies] = self.rng.integers(0, self.track_length, (count, self.num_agents))
        self.elapsed[copies] = 0

    def reset(self) -> np.ndarray:
        """Start a new episode in every copy; returns the observations [B, N, D]."""
        self._reset_copies(np.ones(self.num_envs, bool))
        return self.observe()

    def observe(self) -> np.ndarray:
        """o_i = [one_hot(p_i), one_hot(b_i)] for every copy and agent, [B, N, D] float32."""
        cells = np.eye(self.track_length, dtype=np.float32)
        return np.concatenate([cells[self.positions], cells[self.buttons]], axis=-1)

    def step(self, actions: Any) -> CooperativeStep:
        """Apply the joint action `actions` [B, N] (integers in 0..3) to every copy; see the class docstring."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, self.num_agents) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions must be integers of shape [num_envs, num_agents] = [{self.num_envs}, {self.num_agents}], "
                f"got {actions.dtype} {actions.shape}; pass one action in 0..3 per copy and agent"
            )
        if actions.min() < 0 or actions.max() >= self.num_actions:
            raise ValueError(f"actions must lie in 0..{self.num_actions - 1}, got values {np.unique(actions)}")
        pressed = actions == self.PRESS  # [B, N]
        on_button = self.positions == self.buttons  # [B, N], before moving: PRESS does not move
        success = np.all(pressed & on_button, axis=1)  # [B]
        # r = success_reward if success else −press_cost · |press|
        team_rewards = np.where(success, self.success_reward, -self.press_cost * pressed.sum(axis=1))
        move = np.where(actions == self.LEFT, -1, np.where(actions == self.RIGHT, 1, 0))  # [B, N]
        self.positions = np.clip(self.positions + move, 0, self.track_length - 1)
        self.elapsed += 1
        terminated = success
        truncated = ~success & (self.elapsed >= self.max_steps)
        final_observations = self.observe()  # [B, N, D], before any reset
        done = terminated | truncated
        if done.any():
            self._reset_copies(done)
            observations = self.observe()
        else:
            observations = final_observations.copy()
        return CooperativeStep(observations, team_rewards.astype(np.float32), terminated, truncated, final_observations)


# --------------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------------


def _mlp(input_size: int, hidden_sizes: tuple[int, ...], output_size: int, output_gain: float, seed: int | None,
         name: str) -> keras.Sequential:  # fmt: skip
    """Dense tanh layers (orthogonal gain √2) and a linear head (orthogonal `output_gain`), zero biases."""
    layers: list[Any] = [keras.Input((input_size,))]
    for index, units in enumerate((*hidden_sizes, output_size)):
        is_head = index == len(hidden_sizes)
        gain = output_gain if is_head else math.sqrt(2.0)
        layer_seed = None if seed is None else seed + index  # one seed per layer: distinct matrices
        layers.append(keras.layers.Dense(
            units,
            activation=None if is_head else "tanh",
            kernel_initializer=keras.initializers.Orthogonal(gain=gain, seed=layer_seed),
            bias_initializer="zeros",
        ))  # fmt: skip
    return keras.Sequential(layers, name=name)


class CooperativeActorCritic(keras.Model):
    """Per-agent categorical policies π_θ(a | o_i, e_i) and a centralized V(s) or independent V_φ(o_i, e_i).

    Both take observations [B, N, D] (any leading batch size B) and return per-agent tensors:

        logits(o)  [B, N, A]   actor MLP on (o_i, e_i), e_i the one-hot agent id (weights shared by agents)
        values(o)  [B, N]      centralized: V(s) with s = concat_i o_i [B, N·D], the same for every agent
                               independent: V_φ(o_i, e_i), each agent's own partial observation only

    Initialization as :mod:`tf_gae.models`: orthogonal, gain √2 hidden, 0.01 policy head, 1 value head.
    """

    def __init__(
        self,
        num_agents: int,
        observation_size: int,
        num_actions: int,
        critic: str = "centralized",
        hidden_sizes: tuple[int, ...] = (64, 64),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if critic not in CRITICS:
            raise ValueError(f"critic must be one of {CRITICS}, got {critic!r}")
        self.num_agents = positive_int(num_agents, "num_agents", "3")
        self.observation_size = positive_int(observation_size, "observation_size", "12")
        self.num_actions = positive_int(num_actions, "num_actions", "4")
        self.hidden_sizes = layer_widths(hidden_sizes)
        self.critic = critic
        agent_input_size = self.observation_size + self.num_agents  # (o_i, e_i)
        self.actor = _mlp(agent_input_size, self.hidden_sizes, self.num_actions, 0.01, seed, "actor")
        critic_input_size = self.num_agents * self.observation_size if critic == "centralized" else agent_input_size
        critic_seed = None if seed is None else seed + 100
        self.value_network = _mlp(critic_input_size, self.hidden_sizes, 1, 1.0, critic_seed, f"{critic}_critic")

    def _checked(self, observations: Any) -> tf.Tensor:
        observations = tf.convert_to_tensor(observations, tf.float32)
        expected = [None, self.num_agents, self.observation_size]
        if observations.shape.rank != 3 or not observations.shape.is_compatible_with(expected):
            raise ValueError(
                f"observations must have shape [B, num_agents, observation_size] = [B, {self.num_agents}, "
                f"{self.observation_size}], got {observations.shape}"
            )
        return observations

    def _with_agent_ids(self, observations: tf.Tensor) -> tf.Tensor:
        """(o_i, e_i) for every agent: [B, N, D] → [B, N, D + N]."""
        agent_ids = tf.eye(self.num_agents, dtype=observations.dtype)  # [N, N]
        batch = tf.shape(observations)[0]
        return tf.concat([observations, tf.broadcast_to(agent_ids, [batch, self.num_agents, self.num_agents])], -1)

    def logits(self, observations: Any) -> tf.Tensor:
        """Policy logits z_i [B, N, A], from each agent's own observation: π_i(a | o_i) = softmax(z_i)_a."""
        observations = self._checked(observations)
        inputs = self._with_agent_ids(observations)  # [B, N, D + N]
        flat = tf.reshape(inputs, [-1, self.observation_size + self.num_agents])  # [B·N, D + N]
        return tf.reshape(self.actor(flat), [-1, self.num_agents, self.num_actions])

    def distribution(self, observations: Any) -> tfd.Categorical:
        """π_i(· | o_i) for every copy and agent, a Categorical with batch shape [B, N]."""
        return tfd.Categorical(logits=self.logits(observations))

    def values(self, observations: Any) -> tf.Tensor:
        """The baseline of every agent [B, N]: V(s) repeated over agents, or V_i(o_i)."""
        observations = self._checked(observations)
        if self.critic == "centralized":
            joint = tf.reshape(observations, [-1, self.num_agents * self.observation_size])  # s [B, N·D]
            shared = tf.squeeze(self.value_network(joint), -1)  # V(s) [B]
            return tf.repeat(shared[:, None], self.num_agents, axis=1)  # [B, N]
        inputs = tf.reshape(self._with_agent_ids(observations), [-1, self.observation_size + self.num_agents])
        return tf.reshape(tf.squeeze(self.value_network(inputs), -1), [-1, self.num_agents])  # V_i(o_i) [B, N]

    def call(self, observations: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits [B, N, A], values [B, N])."""
        return self.logits(observations), self.values(observations)


# --------------------------------------------------------------------------------------------------
# Rollouts and advantages
# --------------------------------------------------------------------------------------------------


class CooperativeRollout(NamedTuple):
    """T steps of B copies with N agents, time-major NumPy arrays."""

    observations: np.ndarray  # [T, B, N, D] o^i_t
    actions: np.ndarray  # [T, B, N] int32 a^i_t
    log_probs: np.ndarray  # [T, B, N] log π_old(a^i_t | o^i_t)
    values: np.ndarray  # [T, B, N] V(s_t) or V_i(o^i_t)
    next_values: np.ndarray  # [T, B, N] the same critic on final_observations[t]
    final_observations: np.ndarray  # [T, B, N, D] what step t produced before any reset: o_{t+1} or an end's last
    team_rewards: np.ndarray  # [T, B] r_t
    terminated: np.ndarray  # [T, B] bool
    truncated: np.ndarray  # [T, B] bool


def _acting_function(model: CooperativeActorCritic) -> Any:
    """One compiled call per step: sample a ~ π(· | o) with a stateless seed; log π(a | o); the baseline."""

    @tf.function(reduce_retracing=True, autograph=False)
    def act(observations: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        logits, values = model(observations)  # [B, N, A], [B, N]
        actions = tf.random.stateless_categorical(tf.reshape(logits, [-1, model.num_actions]), 1, seed, tf.int32)
        actions = tf.reshape(actions, tf.shape(values))  # [B, N]
        log_probs = tfd.Categorical(logits=logits).log_prob(actions)  # [B, N]
        return actions, log_probs, values

    return act


def collect_rollout(
    env: ButtonRendezvousEnv,
    model: CooperativeActorCritic,
    observations: np.ndarray,
    num_steps: int,
    rng: np.random.Generator,
    act: Any = None,
) -> tuple[CooperativeRollout, np.ndarray]:
    """Run the stochastic per-agent policies for `num_steps` joint steps from `observations` [B, N, D].

    Returns the rollout and the observations to continue from. `next_values[t]` is the critic on
    `final_observations[t]`: V(s_{t+1}) where the episode goes on, V of the episode's last observation
    where it was truncated (read by GAE as the bootstrap), and unread where it terminated.
    `act` is a compiled acting function to reuse (built from `model` if None).
    """
    num_steps = positive_int(num_steps, "num_steps", "32")
    if observations.shape != (env.num_envs, env.num_agents, env.observation_size):
        raise ValueError(
            f"observations must have shape {(env.num_envs, env.num_agents, env.observation_size)} "
            f"(env.reset()'s), got {observations.shape}"
        )
    act = _acting_function(model) if act is None else act
    columns: dict[str, list[np.ndarray]] = {name: [] for name in CooperativeRollout._fields if name != "next_values"}
    for _ in range(num_steps):
        seed = tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)
        actions, log_probs, values = (x.numpy() for x in act(tf.constant(observations), seed))
        step = env.step(actions)
        columns["observations"].append(observations)
        columns["actions"].append(actions)
        columns["log_probs"].append(log_probs)
        columns["values"].append(values)
        columns["team_rewards"].append(step.team_rewards)
        columns["terminated"].append(step.terminated)
        columns["truncated"].append(step.truncated)
        columns["final_observations"].append(step.final_observations)
        observations = step.observations
    arrays = {name: np.stack(series) for name, series in columns.items()}
    finals = arrays["final_observations"].reshape(-1, env.num_agents, env.observation_size)  # [T·B, N, D]
    shape = (num_steps, env.num_envs, env.num_agents)
    arrays["next_values"] = model.values(finals).numpy().reshape(shape)  # one batched call
    return CooperativeRollout(**arrays), observations


def team_gae(
    team_rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any,
    *,
    gamma: float = 0.99,
    lambda_: float = 0.95,
) -> GAEOutput:
    """GAE of every agent on the shared team reward, with that agent's baseline, by one `tf_gae.gae` call.

        δ^i_t = r_t + γ (1 − terminated_t) V^i_{t+1} − V^i_t
        Â^i_t = δ^i_t + γλ (1 − terminated_t)(1 − truncated_t) Â^i_{t+1}

    with V^i = V(s) (centralized: the same for every agent) or V_i(o_i) (independent).

    Args:
      team_rewards: r_t [T, B], one reward per copy shared by its agents.
      values, next_values: V^i_t and V^i_{t+1} [T, B, N] (as :class:`CooperativeRollout`).
      terminated, truncated: [T, B] episode flags of the copies.

    Returns:
      `GAEOutput(advantages, returns)`, each [T, B, N] with the dtype of `team_rewards`.
    """
    team_rewards = tf.convert_to_tensor(team_rewards)
    values = tf.convert_to_tensor(values)
    if team_rewards.shape.rank != 2:
        raise ValueError(f"team_rewards must have shape [T, B] (time-major, one per copy), got {team_rewards.shape}")
    if values.shape.rank != 3 or values.shape[:2] != team_rewards.shape:
        raise ValueError(
            f"values must have shape [T, B, N] = {team_rewards.shape.as_list()} + [num_agents], got {values.shape}; "
            "pass one baseline per agent (repeat V(s) over agents for the centralized critic)"
        )
    num_steps, num_envs, num_agents = values.shape

    def per_agent(copy_series: Any, name: str) -> tf.Tensor:
        """[T, B] → [T, B·N]: the copy's value repeated for each of its agents (column b·N + i)."""
        series = tf.convert_to_tensor(copy_series)
        if series.shape != team_rewards.shape:
            raise ValueError(f"{name} must have shape [T, B] = {team_rewards.shape.as_list()}, got {series.shape}")
        return tf.reshape(tf.repeat(series[:, :, None], num_agents, axis=2), [num_steps, num_envs * num_agents])

    next_values = tf.convert_to_tensor(next_values)
    if next_values.shape != values.shape:
        raise ValueError(f"next_values must have the shape of values {values.shape.as_list()}, got {next_values.shape}")
    flat = [num_steps, num_envs * num_agents]
    output = gae(
        per_agent(team_rewards, "team_rewards"),
        tf.reshape(values, flat),
        tf.reshape(next_values, flat),
        per_agent(terminated, "terminated"),
        per_agent(truncated, "truncated"),
        gamma=gamma,
        lambda_=lambda_,
    )
    shape = [num_steps, num_envs, num_agents]
    return GAEOutput(tf.reshape(output.advantages, shape), tf.reshape(output.returns, shape))


def evaluate_team_return(
    model: CooperativeActorCritic | None,
    env_options: Mapping[str, Any] | None = None,
    *,
    episodes: int = 256,
    greedy: bool = False,
    seed: int = 12345,
) -> float:
    """Mean undiscounted team return Σ_t r_t of `episodes` episodes, played side by side (one per copy).

    The policy samples a^i ~ π_i(· | o_i) (`greedy=False`, the policy PPO trains) or takes argmax_a π_i
    (`greedy=True`); `model=None` is the uniformly random policy. The episodes' start states and the
    sampling seeds depend on `seed` only, so every evaluation with one seed plays the same start states.
    """
    episodes = positive_int(episodes, "episodes", "256")
    env = ButtonRendezvousEnv(num_envs=episodes, seed=seed, **dict(env_options or {}))
    rng = np.random.default_rng(seed + 1)
    observations = env.observe()
    returns = np.zeros(episodes)
    running = np.ones(episodes, bool)
    while running.any():
        if model is None:
            actions = rng.integers(0, env.num_actions, (episodes, env.num_agents))
        elif greedy:
            actions = tf.argmax(model.logits(observations), axis=-1).numpy()
        else:
            logits = tf.reshape(model.logits(observations), [-1, env.num_actions])
            seed_pair = tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)
            actions = tf.random.stateless_categorical(logits, 1, seed_pair).numpy().reshape(episodes, env.num_agents)
        step = env.step(actions)
        returns += np.where(running, step.team_rewards, 0.0)
        running &= ~(step.terminated | step.truncated)
        observations = step.observations
    return float(returns.mean())


# --------------------------------------------------------------------------------------------------
# PPO for the team
# --------------------------------------------------------------------------------------------------



@dataclass(frozen=True)
class CooperativePPOConfig:
    """PPO settings of :func:`train_cooperative`, the same for both critics; each field's `help` says what it is."""

    num_envs: int = _help("parallel copies of the environment (B)", default=16)
    n_steps: int = _help("joint steps per copy in one rollout (T); one update per B·T env steps", default=32)
    gamma: float = _help("discount γ in [0, 1]", default=0.99)
    lam: float = _help("GAE λ in [0, 1]", default=0.95)
    learning_rate: float = _help("Adam step size (actor and critic)", default=1e-3)
    n_epochs: int = _help("passes over each rollout", default=4)
    minibatch_size: int = _help("joint steps per minibatch (a rollout has B·T of them)", default=128)
    clip_range: float = _help("ε of the clipped surrogate", default=0.2)
    value_coef: float = _help("c_v, weight of the value loss", default=0.5)
    entropy_coef: float = _help("c_e, weight of the entropy bonus", default=0.01)
    max_grad_norm: float = _help("clip the global gradient norm to this", default=0.5)
    hidden_sizes: tuple[int, ...] = _help("hidden layer sizes of the actor and of the critic", default=(64, 64))

    def __post_init__(self) -> None:
        for name, example in (("num_envs", "16"), ("n_steps", "32"), ("n_epochs", "4"), ("minibatch_size", "128")):
            positive_int(getattr(self, name), name, example)
        for name in ("gamma", "lam"):
            value = finite_number(getattr(self, name), name, "0.95", minimum=0.0)
            if value > 1:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not 0 < finite_number(self.clip_range, "clip_range", "0.2") < 1:
            raise ValueError(f"clip_range must lie in (0, 1), got {self.clip_range}; PPO uses 0.1–0.3")
        for name, example in (("learning_rate", "1e-3"), ("max_grad_norm", "0.5")):
            if finite_number(getattr(self, name), name, example) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}; pass e.g. {name}={example}")
        for name in ("value_coef", "entropy_coef"):
            finite_number(getattr(self, name), name, "0.01", minimum=0.0)


class LearningCurve(NamedTuple):
    """Team return against env steps (one env step = one joint step of one copy, all N agents acting)."""

    critic: str
    seed: int
    env_steps: np.ndarray  # [K] int, 0 first
    team_return: np.ndarray  # [K] mean team return of the stochastic policy (evaluate_team_return, greedy=False)
    greedy_team_return: np.ndarray  # [K] the same start states, argmax actions
    training_successes: np.ndarray  # [K] successful training episodes (terminations) so far
    policy_entropy: np.ndarray  # [K] mean H(π_i(·|o_i)) in nats, last update's minibatches (uniform: ln 4 ≈ 1.386)
    wall_seconds: float  # training and evaluation, after the model is built
    model: CooperativeActorCritic  # the trained policies and critic


UPDATE_METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")
"""What an update reports: each a mean over its minibatch steps."""


def _update_function(model: CooperativeActorCritic, optimizer: keras.optimizers.Optimizer,
                     config: CooperativePPOConfig, seed: int) -> Any:  # fmt: skip
    """All epochs of minibatch PPO steps over one rollout, compiled; minibatches are of joint steps."""
    learner = Learner(model.trainable_variables, optimizer, max_grad_norm=config.max_grad_norm, seed=seed)

    def ppo_loss(batch):
        # observations [M, N, D]; actions, old_log_probs, advantages, returns [M, N]
        logits, values = model(batch["observations"])  # [M, N, A], [M, N]
        distribution = tfd.Categorical(logits=logits)
        log_probs = distribution.log_prob(batch["actions"])  # [M, N]
        # L^CLIP = −mean[min(ρ Â, clip(ρ, 1 ± ε) Â)] over every agent's sample
        surrogate = losses.clipped_surrogate(
            tf.reshape(log_probs, [-1]), tf.reshape(batch["log_probs"], [-1]), batch["advantages"], config.clip_range
        )
        value_loss = losses.value_loss(values, batch["returns"])  # L^V = mean[(V − R^λ)²]
        entropy = losses.mean_entropy(distribution.entropy())
        loss = surrogate.loss + config.value_coef * value_loss - config.entropy_coef * entropy
        return loss, dict(policy_loss=surrogate.loss, value_loss=value_loss, entropy=entropy, approx_kl=surrogate.approx_kl)

    @tf.function(jit_compile=True, autograph=False)
    def minibatch_step(minibatch):
        # observations [M, N, D]; actions, log_probs, advantages, returns [M, N]
        advantages = normalize_advantages(tf.reshape(minibatch["advantages"], [-1]))  # (Â − mean) / (std + ε) over M·N
        _, metrics, grad_norm, _ = learner.step(ppo_loss, dict(minibatch, advantages=advantages))
        return dict(metrics, grad_norm=grad_norm), tf.constant(True)

    @tf.function(autograph=False)
    def update(batch):
        # observations [S, N, D], the rest [S, N], S = B·T joint steps; minibatches of joint steps
        result = learner.minibatch_epochs(
            minibatch_step, batch, n_epochs=config.n_epochs, minibatch_size=config.minibatch_size,
            metric_names=UPDATE_METRICS,
        )  # fmt: skip
        return result.means()

    return update


def train_cooperative(
    critic: str = "centralized",
    total_steps: int = 100_000,
    seed: int = 0,
    *,
    config: CooperativePPOConfig | None = None,
    env_options: Mapping[str, Any] | None = None,
    num_evaluations: int = 10,
    evaluation_episodes: int = 256,
    evaluation_seed: int = 12345,
) -> LearningCurve:
    """PPO for every agent of :class:`ButtonRendezvousEnv`, with GAE on the team reward and the chosen critic.

    Each update: a rollout of `n_steps` joint steps in `num_envs` copies (stochastic policies);
    Â^i, R^i = :func:`team_gae` (centralized: V(s); independent: V_i(o_i)); `n_epochs` passes of
    compiled PPO steps on minibatches of `minibatch_size` joint steps on L = L^CLIP + c_v L^V − c_e H, summed over agents' samples.

    The learning curve is evaluated at env step 0 and after the first update at or past each of
    `num_evaluations` evenly spaced points up to `total_steps`: the mean team return of the stochastic
    policy over `evaluation_episodes` episodes whose start states depend on `evaluation_seed` only (the
    same for every run), and of the greedy policy on the same start states.
    `seed` seeds the networks, the training environment and the sampling; a run is reproducible on CPU.

    Known behaviour on the default task: the team is paid only when all N agents succeed, so a start state
    in which one agent's (position, button) pair has not been learned yet gives no signal at all; the policy
    can become near-deterministic first (even with zero reward the entropy falls, since normalised
    advantages of a zero reward are the critic's own errors scaled to unit variance) and then plateaus at
    the share of start states it solves, e.g. (4/6)³ ≈ 0.30 when buttons at both track ends are unsolved.
    """
    if critic not in CRITICS:
        raise ValueError(f"critic must be one of {CRITICS}, got {critic!r}")
    total_steps = positive_int(total_steps, "total_steps", "100_000")
    num_evaluations = positive_int(num_evaluations, "num_evaluations", "10")
    config = CooperativePPOConfig() if config is None else config
    if not isinstance(config, CooperativePPOConfig):
        raise ValueError(f"config must be a CooperativePPOConfig, got {type(config).__name__}")
    env_options = dict(env_options or {})
    if "num_envs" in env_options or "seed" in env_options:
        raise ValueError("env_options must not set num_envs or seed; use config.num_envs and seed=")
    env = ButtonRendezvousEnv(num_envs=config.num_envs, seed=seed, **env_options)
    keras.utils.set_random_seed(seed)
    model = CooperativeActorCritic(
        env.num_agents, env.observation_size, env.num_actions, critic, config.hidden_sizes, seed=seed
    )
    optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=1e-5)
    optimizer.build(model.trainable_variables)
    update = _update_function(model, optimizer, config, seed)
    act = _acting_function(model)
    rng = np.random.default_rng([seed, 1])

    def evaluate(greedy: bool) -> float:
        return evaluate_team_return(
            model, env_options, episodes=evaluation_episodes, greedy=greedy, seed=evaluation_seed
        )

    start = time.perf_counter()
    steps_per_update = config.num_envs * config.n_steps
    targets = iter(np.linspace(total_steps / num_evaluations, total_steps, num_evaluations))
    target = next(targets)
    env_steps, team_returns, greedy_returns = [0], [evaluate(False)], [evaluate(True)]
    successes, entropies = [0], [math.log(env.num_actions)]
    observations = env.reset()
    steps = successes_so_far = 0
    while steps < total_steps:
        rollout, observations = collect_rollout(env, model, observations, config.n_steps, rng, act)
        advantages, returns = team_gae(
            rollout.team_rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated,
            gamma=config.gamma, lambda_=config.lam,
        )  # fmt: skip
        flat = lambda x: tf.reshape(x, [steps_per_update, *x.shape[2:]])  # noqa: E731  [T, B, ...] → [T·B, ...]
        metrics = update(dict(
            observations=flat(tf.constant(rollout.observations)), actions=flat(tf.constant(rollout.actions)),
            log_probs=flat(tf.constant(rollout.log_probs)), advantages=flat(advantages), returns=flat(returns),
        ))  # fmt: skip
        steps += steps_per_update
        successes_so_far += int(rollout.terminated.sum())
        if steps >= target or steps >= total_steps:
            env_steps.append(steps)
            team_returns.append(evaluate(False))
            greedy_returns.append(evaluate(True))
            successes.append(successes_so_far)
            entropies.append(float(metrics["entropy"]))
            while steps >= target:
                target = next(targets, math.inf)
    return LearningCurve(
        critic, seed, np.array(env_steps), np.array(team_returns), np.array(greedy_returns), np.array(successes),
        np.array(entropies),
        time.perf_counter() - start, model,
    )  # fmt: skip
