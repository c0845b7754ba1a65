"""Chapter 3 — the algorithm step by step (the article's section 3), on small problems, with numbers.

Run it:  python -m chapters.ch3_algorithm [--quick] [--out DIR] [--seed S]

The article lists three steps. Done right, with the library's own parts:

  1. Compute advantages with the current value function. On one short episode of a seeded random
     tabular MDP (tf_gae.mdp) and a deliberately wrong V, print r_t, V(s_t), V(s_{t+1}), δ_t, Â_t and the
     λ-return R^λ_t = Â_t + V(s_t), all from tf_gae.gae / tf_gae.td_residuals:
         δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)      Â_t = Σ_{l≥0} (γλ)^l δ_{t+l}
  2. Fit the value function by gradient descent on the λ-return targets: a tabular V (one number per
     state) regressed with Adam on L_V = mean_t (V(s_t) − R^λ_t)², the targets recomputed with the current
     V before every step (steps 1 and 2 alternate). The RMS error against the exact V^π
     (tf_gae.mdp.policy_evaluation, a linear solve) is printed before and after (figure).
     2b. Their order on a batch (GAE paper §6.1: Â with the V from before the batch, then fit V): over
     thousands of independent batches, Â from a V first fitted on the same batch cancels within every
     state (Σ_{t: s_t = s} Â_t = 0 at the fit's fixed point), and the batch's policy gradient, compared
     with the exact g^γ (linear solves), keeps only ~45% of it with one episode per batch, ~80% with five
     and ~97% with a hundred (1–1.5% lost, by the paired 95% interval); Â from the previous batch's V is
     unbiased at λ = 1.
  3. Update the policy with the advantage-weighted log-likelihood gradient,
         L_π = −mean_t[ log π_θ(a_t|s_t) · Â_t ]     (Â gradient-stopped; tf_gae.trainers.base.Trainer.loss_terms)
     first as REINFORCE with a learned baseline (GAE with λ = 1: Â_t = G_t − V(s_t)), then as A2C
     (GAE with λ = 0.95 on 8-step rollouts): tf_gae.trainers on CartPole-v1, episode return before and
     after, and one progress row's losses (figure of both learning curves).

V is not pre-trained (as the article has it): the trainers' critic starts from its random initialisation and
learns in the same updates as π; the explained variance of its predictions is printed for both runs.

Gradient descent appears twice, and only twice: it fits V (step 2) and improves π (step 3). GAE itself
(step 1) is a fixed linear function of the rewards and V with nothing to optimise — the article's
"GAE is solved by gradient descent" is wrong.

References: Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (the algorithm of its §6: step π along the
GAE-weighted gradient, with Â computed before V is refitted; it fits V to discounted Monte-Carlo returns
with a trust region, eqs. 28–30, where our trainers, as PPO's implementations do, fit V to λ-returns); Williams 1992 (REINFORCE); Sutton & Barto, 2nd ed.
2018, §12.1 (λ-return) and §13.4 (REINFORCE with baseline); Mnih et al. 2016 (A2C/A3C).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tf_gae._tf import tf  # first: TensorFlow imported once, without its start-up noise
import keras  # noqa: E402
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tf_gae
from tf_gae import mdp as tabular
from chapters._contract import parse_chapter_args, print_exercises
from tf_gae.trainers import A2CConfig, A2CTrainer, ReinforceConfig, ReinforceTrainer

__all__ = [
    "GAMMA",
    "LAMBDA",
    "small_mdp",
    "evaluation_policy",
    "initial_values",
    "AdvantageTable",
    "advantage_table",
    "ValueFit",
    "fit_value_function",
    "rms_error",
    "batch_fitted_values",
    "OrderingResult",
    "ordering_experiment",
    "TrainingRun",
    "train_reinforce",
    "train_a2c",
    "plot_value_fit",
    "plot_learning_curves",
    "EXERCISES",
    "main",
]

FIGURE_NAMES = ("ch3_value_fit.png", "ch3_learning_curves.png")
GAMMA = 0.9
"""Discount of the tabular MDP of steps 1-2."""
LAMBDA = 0.95
"""GAE λ of steps 1-2 (and A2C's default)."""
ORDERING_BATCHES = (1, 5, 20, 100)
"""Episodes per batch in the ordering experiment of (2b)."""
EXERCISES = (
    "(derive) With λ = 1, show that the V step 2 converges to on a batch is, in each state, the mean of the\n"
    "returns G_t over the batch's visits to it. [exercise_1(batch, num_states, γ)]",
    "(compute) With λ = 1 and V fitted first on a batch of one episode, which steps' advantages are exactly 0?\n"
    "[exercise_2(states)]",
    "(modify and predict) With five episodes per batch, does fitting V first cost more of the gradient at\n"
    "λ = 0 or at λ = 1? Predict, then run ordering_experiment(0, λ, 5, 4000). [exercise_3()]",
)
"""Printed at the end of the walk-through; answers in chapters/answers/ch3.py, checked by tests/test_exercises.py."""
_DPI = 120


# ==================================================================================================
# The small problem of steps 1 and 2.
# ==================================================================================================


def small_mdp(seed: int = 0) -> tabular.TabularMDP:
    """A seeded random MDP: 8 states (7 ordinary + 1 terminal), 3 actions, γ = 0.9, episodes ~10 steps."""
    return tabular.random_mdp(num_states=8, num_actions=3, gamma=GAMMA, seed=seed, terminal_probability=0.1)


def evaluation_policy(mdp: tabular.TabularMDP, seed: int = 0) -> np.ndarray:
    """The fixed policy π whose value is estimated, a seeded softmax of Normal(0, 1) logits, `[S, A]`."""
    return tabular.random_policy(mdp, seed + 1)


def initial_values(mdp: tabular.TabularMDP, seed: int = 0) -> np.ndarray:
    """A deliberately wrong "current" V: Normal(0, 1) per ordinary state, 0 on the terminal state, `[S]`."""
    values = np.random.default_rng(seed + 2).normal(size=mdp.num_states)
    return np.where(mdp.terminal, 0.0, values)


def rms_error(values: np.ndarray, exact: np.ndarray, mdp: tabular.TabularMDP) -> float:
    """sqrt(mean_s (V(s) − V^π(s))²) over the ordinary (non-terminal) states."""
    live = ~mdp.terminal
    return float(np.sqrt(np.mean((values[live] - exact[live]) ** 2)))


# ==================================================================================================
# Step 1: advantages with the current value function.
# ==================================================================================================


@dataclass(frozen=True)
class AdvantageTable:
    """One episode of the small MDP with every quantity of step 1, each `[T]` (float64)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    values: np.ndarray
    """V(s_t) of the current (wrong) value function."""
    next_values: np.ndarray
    """V(s_{t+1}); the terminal state's value (0) where the episode terminates — gae does not read it."""
    terminated: np.ndarray
    truncated: np.ndarray
    deltas: np.ndarray
    """δ_t from tf_gae.td_residuals."""
    advantages: np.ndarray
    """Â_t from tf_gae.gae."""
    returns: np.ndarray
    """λ-return R^λ_t = Â_t + V(s_t), from tf_gae.gae."""
    gamma: float
    lambda_: float


def advantage_table(
    seed: int = 0, values: np.ndarray | None = None, max_steps: int = 10, lambda_: float = LAMBDA
) -> AdvantageTable:
    """Step 1 on one sampled episode (at most `max_steps` steps, truncated after that) of `small_mdp(seed)`.

    `values` defaults to `initial_values(mdp, seed)`. The episode is the first of a seeded batch that is
    at least 5 steps long, so the table has something to show.
    """
    mdp = small_mdp(seed)
    policy = evaluation_policy(mdp, seed)
    values = initial_values(mdp, seed) if values is None else np.asarray(values, np.float64)
    batch = tabular.sample_trajectories(mdp, policy, num_episodes=64, max_steps=max_steps, seed=seed + 3)
    lengths = batch.lengths
    n = int(np.argmax(lengths >= min(5, max_steps)))
    length = int(lengths[n])
    states, next_states = batch.states[:length, n], batch.next_states[:length, n]  # [T]
    rewards = batch.rewards[:length, n]
    terminated, truncated = batch.terminated[:length, n], batch.truncated[:length, n]
    v, nv = values[states], values[next_states]  # [T]
    deltas = tf_gae.td_residuals(rewards, v, nv, terminated, gamma=mdp.gamma).numpy()
    out = tf_gae.gae(rewards, v, nv, terminated, truncated, gamma=mdp.gamma, lambda_=lambda_)
    return AdvantageTable(
        states=states, actions=batch.actions[:length, n], rewards=rewards, values=v, next_values=nv,
        terminated=terminated, truncated=truncated, deltas=deltas,
        advantages=out.advantages.numpy(), returns=out.returns.numpy(), gamma=mdp.gamma, lambda_=lambda_,
    )


# ==================================================================================================
# Step 2: fit V by gradient descent on the λ-return targets.
# ==================================================================================================


@dataclass
class ValueFit:
    """The result of `fit_value_function`; curves are recorded before step 0 and after every step."""

    exact: np.ndarray
    """V^π by linear solve, `[S]`."""
    initial: np.ndarray
    """V before the first gradient step, `[S]`."""
    fitted: np.ndarray
    """V after the last gradient step, `[S]`."""
    steps: np.ndarray
    """0, 1, ..., num_steps."""
    rms_errors: np.ndarray
    """RMS error of V against V^π at each entry of `steps`."""
    losses: np.ndarray
    """L_V = mean (V(s_t) − R^λ_t)² at each gradient step (targets from the V before that step), `[num_steps]`."""
    num_transitions: int
    num_episodes: int
    learning_rate: float
    rms_initial: float = field(init=False)
    rms_final: float = field(init=False)

    def __post_init__(self) -> None:
        self.rms_initial = float(self.rms_errors[0])
        self.rms_final = float(self.rms_errors[-1])


def fit_value_function(
    seed: int = 0,
    num_episodes: int = 1000,
    num_steps: int = 300,
    learning_rate: float = 0.05,
    lambda_: float = LAMBDA,
) -> ValueFit:
    """Alternate step 1 and step 2 on a fixed batch of episodes of `small_mdp(seed)` under its policy.

    Each iteration: R^λ = tf_gae.gae(r, V(s), V(s'), ...).returns with the current V (a constant:
    gae stops gradients), then one Adam step on L_V = mean over real steps of (V(s_t) − R^λ_t)².
    V is a table, one tf.Variable entry per state, starting from `initial_values`.
    """
    mdp = small_mdp(seed)
    policy = evaluation_policy(mdp, seed)
    exact = tabular.policy_evaluation(mdp, policy)
    batch = tabular.sample_trajectories(mdp, policy, num_episodes=num_episodes, max_steps=200, seed=seed + 4)
    initial = initial_values(mdp, seed)
    table = tf.Variable(initial, dtype=tf.float64, name="value_table")  # [S]
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    states = tf.constant(batch.states)  # [T, N]
    next_states = tf.constant(batch.next_states)  # [T, N]
    valid = tf.constant(batch.valid, tf.float64)  # [T, N]
    count = tf.reduce_sum(valid)

    @tf.function
    def step() -> tf.Tensor:
        v, nv = tf.gather(table, states), tf.gather(table, next_states)  # [T, N]
        # Step 1: λ-return targets with the current V (gradient-stopped inside gae).
        targets = tf_gae.gae(
            batch.rewards, v, nv, batch.terminated, batch.truncated, gamma=mdp.gamma, lambda_=lambda_
        ).returns
        # Step 2: one gradient step on the squared error to those targets (padding masked out).
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(valid * tf.square(tf.gather(table, states) - targets)) / count
        # tf.gather's gradient is sparse (IndexedSlices, one slice per transition); make it dense so Adam
        # takes one ordinary step per state instead of one per repeated index.
        gradient = tf.convert_to_tensor(tape.gradient(loss, table))  # [S]
        optimizer.apply_gradients([(gradient, table)])
        return loss

    errors = [rms_error(initial, exact, mdp)]
    losses = []
    for _ in range(num_steps):
        losses.append(float(step()))
        errors.append(rms_error(table.numpy(), exact, mdp))
    return ValueFit(
        exact=exact, initial=initial, fitted=table.numpy(), steps=np.arange(num_steps + 1),
        rms_errors=np.array(errors), losses=np.array(losses), num_transitions=int(batch.valid.sum()),
        num_episodes=num_episodes, learning_rate=learning_rate,
    )


# ==================================================================================================
# Between steps 1 and 2: their order (GAE paper §6.1).
# ==================================================================================================


def _batch_advantages(batch: tabular.Trajectories, tables: np.ndarray, batch_of: np.ndarray, gamma: float,
                      lambda_: float) -> np.ndarray:
    """Â `[T, N]` of tf_gae.gae, each episode with the value table of its batch: `tables` `[K, S]`, `batch_of` `[N]`."""
    values, next_values = tables[batch_of, batch.states], tables[batch_of, batch.next_states]  # [T, N]
    return tf_gae.gae(batch.rewards, values, next_values, batch.terminated, batch.truncated,
                      gamma=gamma, lambda_=lambda_).advantages.numpy()


def batch_fitted_values(batch: tabular.Trajectories, batch_of: np.ndarray, num_batches: int, num_states: int,
                        gamma: float, lambda_: float) -> np.ndarray:
    """The V each batch's own step 2 converges to, `[K, S]`: repeated λ-return regression stops where

        ∂/∂V(s) mean_t (V(s_t) − R^λ_t)² = −(2/n) Σ_{t: s_t = s} Â_t(V) = 0   for every state s visited,

    and Â(V) is affine in V, so this is one linear system per batch (built from tf_gae.gae on the unit
    tables e_s). A state a batch never visits as s_t keeps V = 0; the batch reads it only as the bootstrap
    of a truncated step (none here: episodes of small_mdp end by termination long before max_steps).
    ValueError if a batch's system is singular (e.g. γ = 1 with truncated episodes, where V + c leaves
    every Â unchanged).
    """
    index = (batch_of[None, :] * num_states + batch.states)[batch.valid]  # (batch, state) of every real step

    def state_sums(advantages: np.ndarray) -> np.ndarray:  # Σ_{t: s_t = s} Â_t per batch, [K, S]
        return np.bincount(index, advantages[batch.valid], minlength=num_batches * num_states).reshape(
            num_batches, num_states)

    zero = np.zeros((num_batches, num_states))
    offset = state_sums(_batch_advantages(batch, zero, batch_of, gamma, lambda_))  # [K, S] at V = 0
    system = np.zeros((num_batches, num_states, num_states))  # [K, s, s']: ∂ (state sum s) / ∂ V(s')
    for column in range(num_states):
        unit = zero.copy()
        unit[:, column] = 1.0
        system[:, :, column] = state_sums(_batch_advantages(batch, unit, batch_of, gamma, lambda_)) - offset
    unvisited = np.bincount(index, minlength=num_batches * num_states).reshape(num_batches, num_states) == 0
    system[unvisited] = 0.0
    system[unvisited, np.nonzero(unvisited)[1]] = 1.0  # V(s) = 0 where s is not visited
    offset[unvisited] = 0.0
    conditions = np.linalg.cond(system)  # [K]
    if not np.all(np.isfinite(conditions)) or conditions.max() > 1e12:
        raise ValueError(f"the value fit of batch {int(np.argmax(conditions))} is singular (condition number "
                         f"{conditions.max():.3g}): no unique V makes every state's advantages sum to 0 there")
    return np.linalg.solve(system, -offset[..., None])[..., 0]


@dataclass(frozen=True)
class OrderingResult:
    """Advantages computed before and after fitting V on the same batch, over many independent batches."""

    lambda_: float
    batch_episodes: int
    num_batches: int
    num_states_fitted: int
    """The entries of the tabular V (the ordinary states)."""
    spread_before: float
    """RMS of Â_t over every step: Â from the V fitted on the previous batch (the paper's order)."""
    spread_after: float
    """The same with V first fitted on this batch (to step 2's fixed point), then Â."""
    largest_state_sum_after: float
    """max over batches and states of |Σ_{t: s_t = s} Â_t| after the fit: 0 up to rounding."""
    bias_before: float
    """‖mean over batches of ĝ − g^γ‖ / ‖g^γ‖, ĝ = (1/N) Σ_episodes Σ_t ∇_θ log π(a_t|s_t) Â_t."""
    bias_after: float
    noise_floor: float
    """√(tr Cov[ĝ] / K) / ‖g^γ‖ of the 'before' estimate: the relative error sampling alone produces."""
    length_before: float
    """(mean ĝ · g^γ) / ‖g^γ‖²: the share of the true gradient the average estimate carries (1 = all)."""
    length_after: float
    length_stderr: float
    """The standard error of those two shares (the larger of the two), over the K batches."""
    shrinkage: float
    """length_before − length_after, measured on the same batches (paired)."""
    shrinkage_stderr: float
    """Its standard error over the K batches."""


def ordering_experiment(seed: int = 0, lambda_: float = 1.0, batch_episodes: int = 10,
                        num_batches: int = 1000) -> OrderingResult:
    """Step 1 before step 2 on each batch, or after it: `num_batches` independent batches of `small_mdp(seed)`.

    The exact target is g^γ = Σ_s d(s) Σ_a π ∇log π A^{π,γ} (tf_gae.mdp, linear solves), what
    ĝ = Σ_t ∇log π(a_t|s_t) Â_t estimates without bias when Â is γ-just (λ = 1 with any V that does not
    depend on the batch).
    """
    mdp = small_mdp(seed)
    policy = evaluation_policy(mdp, seed)
    target = tabular.gradient_from_advantages(tabular.state_visits(mdp, policy, gamma=1.0), policy,
                                              tabular.advantages(mdp, policy))  # g^γ, [S, A]: visits not discounted
    batch = tabular.sample_trajectories(mdp, policy, num_batches * batch_episodes, max_steps=500, seed=seed + 5)
    batch_of = np.arange(batch.num_episodes) // batch_episodes  # [N]: which batch each episode belongs to
    fitted = batch_fitted_values(batch, batch_of, num_batches, mdp.num_states, mdp.gamma, lambda_)  # [K, S]
    previous = np.roll(fitted, 1, axis=0)  # batch k's "old" V: the one fitted on batch k − 1
    before = _batch_advantages(batch, previous, batch_of, mdp.gamma, lambda_)  # [T, N]
    after = _batch_advantages(batch, fitted, batch_of, mdp.gamma, lambda_)

    def batch_gradients(advantages: np.ndarray) -> np.ndarray:  # [K, S·A]: mean of the episodes' ĝ per batch
        per_episode = tabular.score_function_gradients(batch, policy, advantages).reshape(batch.num_episodes, -1)
        return per_episode.reshape(num_batches, batch_episodes, -1).mean(axis=1)

    scale = float(np.linalg.norm(target))
    g_before, g_after = batch_gradients(before), batch_gradients(after)
    index = (batch_of[None, :] * mdp.num_states + batch.states)[batch.valid]
    sums = np.bincount(index, after[batch.valid], minlength=num_batches * mdp.num_states)

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x[batch.valid] ** 2)))

    share_before, share_after = g_before @ target.ravel() / scale**2, g_after @ target.ravel() / scale**2  # [K]

    return OrderingResult(
        lambda_=float(lambda_), batch_episodes=batch_episodes, num_batches=num_batches,
        num_states_fitted=int(np.sum(~mdp.terminal)),
        spread_before=rms(before), spread_after=rms(after), largest_state_sum_after=float(np.max(np.abs(sums))),
        bias_before=float(np.linalg.norm(g_before.mean(axis=0) - target.ravel())) / scale,
        bias_after=float(np.linalg.norm(g_after.mean(axis=0) - target.ravel())) / scale,
        noise_floor=float(np.sqrt(np.sum(g_before.var(axis=0, ddof=1)) / num_batches)) / scale,
        length_before=float(np.mean(share_before)), length_after=float(np.mean(share_after)),
        length_stderr=float(max(share_before.std(ddof=1), share_after.std(ddof=1)) / np.sqrt(num_batches)),
        shrinkage=float(np.mean(share_before - share_after)),
        shrinkage_stderr=float((share_before - share_after).std(ddof=1) / np.sqrt(num_batches)),
    )


# ==================================================================================================
# Step 3: the policy update — REINFORCE with baseline, then A2C.
# ==================================================================================================


@dataclass
class TrainingRun:
    """Progress rows of one short training run on CartPole-v1."""

    name: str
    config: dict
    rows: list[dict]
    seconds: float
    return_before: float = field(init=False)
    """Mean episode return over the episodes that ended in the first progress row (≈ the initial policy)."""
    return_after: float = field(init=False)
    """Mean episode return over the episodes that ended in the last progress row."""

    def __post_init__(self) -> None:
        self.return_before = float(self.rows[0]["episode_return_mean"])
        self.return_after = float(self.rows[-1]["episode_return_mean"])

    @property
    def env_steps(self) -> np.ndarray:
        return np.array([r["env_steps"] for r in self.rows])

    @property
    def episode_returns(self) -> np.ndarray:
        return np.array([r["episode_return_mean"] for r in self.rows])


def _train(trainer_class, config, name: str) -> TrainingRun:
    start = time.perf_counter()
    trainer = trainer_class(config)
    rows: list[dict] = []
    try:
        trainer.train(on_row=rows.append)
    finally:
        trainer.close()
    return TrainingRun(name, config.to_dict(), rows, time.perf_counter() - start)


def train_reinforce(total_steps: int = 12_288, seed: int = 0, log_every_steps: int = 1024) -> TrainingRun:
    """REINFORCE with a learned baseline: ReinforceConfig defaults (λ = 1, 8 whole episodes per update, Adam 1e-2)."""
    config = ReinforceConfig(total_steps=total_steps, seed=seed, log_every_steps=log_every_steps)
    return _train(ReinforceTrainer, config, "REINFORCE with baseline (λ = 1)")


def train_a2c(total_steps: int = 12_288, seed: int = 0, log_every_steps: int = 1024) -> TrainingRun:
    """A2C with GAE: A2CConfig defaults (λ = 0.95, 8 envs × 8 steps, Adam 1e-3)."""
    config = A2CConfig(total_steps=total_steps, seed=seed, log_every_steps=log_every_steps)
    return _train(A2CTrainer, config, "A2C with GAE (λ = 0.95)")


# ==================================================================================================
# Figures.
# ==================================================================================================


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)  # no pyplot: no global backend, nothing left open
    return fig


def plot_value_fit(fit: ValueFit, out_dir: Path) -> Path:
    """Figure: RMS error of V against V^π and the value loss, against Adam steps; V^π vs fitted V per state."""
    fig = _figure(11.0, 4.6)
    curve, bars = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=(1.4, 1.0)))
    curve.plot(fit.steps, fit.rms_errors, color="C0", lw=1.8, label="RMS error of V against exact V^π")
    curve.plot(fit.steps[1:], fit.losses, color="C1", lw=1.4, label="value loss mean (V(s_t) − R^λ_t)²")
    curve.set_yscale("log")
    curve.set_xlabel("Adam steps on the value loss")
    curve.set_ylabel("error, loss (reward units, squared for the loss)")
    curve.set_title("Step 2: fitting V on λ-return targets")
    curve.grid(True, which="both", alpha=0.3)
    curve.legend(fontsize="small")
    live = np.arange(len(fit.exact) - 1)  # the ordinary states; the last one is terminal (small_mdp)
    width = 0.27
    bars.bar(live - width, fit.initial[live], width, color="C7", label="initial V")
    bars.bar(live, fit.fitted[live], width, color="C0", label=f"V after {fit.steps[-1]} steps")
    bars.bar(live + width, fit.exact[live], width, color="C3", label="exact V^π (linear solve)")
    bars.axhline(0.0, color="k", lw=0.6)
    bars.set_xticks(live)
    bars.set_xlabel("state s")
    bars.set_ylabel("V(s) (discounted return)")
    bars.set_title("Values per state")
    bars.legend(fontsize="small")
    fig.suptitle(
        f"Gradient descent fits V: RMS error {fit.rms_initial:.3f} → {fit.rms_final:.3f} "
        f"({fit.num_episodes} episodes, γ = {GAMMA}, λ = {LAMBDA})"
    )
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[0]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plot_learning_curves(runs: Sequence[TrainingRun], out_dir: Path, seed: int) -> Path:
    """Figure: mean episode return of each progress row against environment steps, one line per trainer."""
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    for i, run in enumerate(runs):
        ax.plot(run.env_steps, run.episode_returns, color=f"C{i}", lw=1.8, marker="o", ms=3, label=run.name)
    ax.set_xlabel("environment steps (all 8 environments)")
    ax.set_ylabel("mean return of episodes ended in the interval")
    ax.set_title(f"Step 3: policy-gradient updates on CartPole-v1 (seed {seed})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[1]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# The walk-through.
# ==================================================================================================


def _row_summary(row: dict) -> str:
    return (f"policy loss {row['policy_loss']:+.4f}, value loss {row['value_loss']:.3f}, "
            f"entropy {row['entropy']:.4f} (ln 2 = {math.log(2):.4f}), "
            f"explained variance {row['explained_variance']:+.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_chapter_args(
        "chapters.ch3_algorithm",
        __doc__.splitlines()[0],
        "short training runs and a smaller batch (under 30 s)",
        argv,
    )
    start = time.perf_counter()
    num_episodes, num_fit_steps = (1000, 300) if args.quick else (4000, 600)
    ordering_episodes = 4000 if args.quick else 40_000
    reinforce_steps, a2c_steps = (12_288, 12_288) if args.quick else (100_352, 100_352)

    print("Chapter 3 — the algorithm step by step")
    print("=" * 78)
    mdp = small_mdp(args.seed)
    policy = evaluation_policy(mdp, args.seed)
    exact = tabular.policy_evaluation(mdp, policy)
    current = initial_values(mdp, args.seed)
    print(f"Problem for steps 1-2: {mdp!r}, γ = {mdp.gamma}, a fixed random policy π;")
    print(f"exact V^π by linear solve (tf_gae.mdp.policy_evaluation) = {np.array2string(exact[:-1], precision=3)}")
    print(f"current (wrong) V, Normal(0, 1) per state          = {np.array2string(current[:-1], precision=3)}")
    print(f"RMS error of the current V: {rms_error(current, exact, mdp):.3f}\n")

    print(f"(1) Compute advantages with the current V (tf_gae.td_residuals, tf_gae.gae; γ = {GAMMA}, λ = {LAMBDA})")
    print("    δ_t = r_t + γ (1 − term_t) V(s_{t+1}) − V(s_t);   Â_t = Σ_l (γλ)^l δ_{t+l} = δ_t + γλ Â_{t+1};")
    print("    λ-return R^λ_t = Â_t + V(s_t), the regression target of step 2")
    table = advantage_table(args.seed, current)
    end = "terminated" if table.terminated[-1] else "truncated (time limit: bootstraps from V(s_T))"
    print(f"    one sampled episode, {len(table.rewards)} steps, {end}:")
    print("      t   s  a     r_t     V(s_t)  V(s_t+1)      δ_t       Â_t     R^λ_t")
    for t in range(len(table.rewards)):
        nv = "      —" if table.terminated[t] else f"{table.next_values[t]:+7.3f}"
        print(f"     {t:2d}  {table.states[t]:2d}  {table.actions[t]}  {table.rewards[t]:+7.3f}  "
              f"{table.values[t]:+8.3f}  {nv:>8s}  {table.deltas[t]:+8.3f}  {table.advantages[t]:+8.3f}  "
              f"{table.returns[t]:+8.3f}")
    print("    Nothing here is learned: Â is a fixed linear function of (r, V) for given γ, λ and episode ends.\n")

    print("(2) Fit V by gradient descent on the λ-return targets")
    print("    repeat: R^λ ← tf_gae.gae(r, V(s), V(s'), ...).returns   (step 1 again, with the current V; a constant)")
    print("            V   ← V − Adam ∇_V mean_t (V(s_t) − R^λ_t)²        (one gradient step)")
    fit = fit_value_function(args.seed, num_episodes=num_episodes, num_steps=num_fit_steps)
    print(f"    {fit.num_episodes} episodes ({fit.num_transitions:,} transitions) sampled once; tabular V, "
          f"Adam lr = {fit.learning_rate}, {num_fit_steps} steps")
    print("      step   value loss   RMS error of V vs V^π")
    shown = sorted({0, 10, 25, 50, 100, 200, num_fit_steps // 2, num_fit_steps - 1} & set(range(num_fit_steps)))
    for s in shown:
        print(f"     {s + 1:5d}   {fit.losses[s]:10.4f}   {fit.rms_errors[s + 1]:.4f}")
    print(f"    RMS error of V against exact V^π: {fit.rms_initial:.3f} before → {fit.rms_final:.4f} after "
          f"({fit.rms_initial / fit.rms_final:.0f}× smaller)")
    print(f"    fitted V = {np.array2string(fit.fitted[:-1], precision=3)}")
    print(f"    exact  V^π = {np.array2string(fit.exact[:-1], precision=3)}")
    print("    The loss stops falling at the variance of the λ-returns around V^π, not at 0; the remaining")
    print("    error in V is the sampling error of a finite batch.")
    value_path = plot_value_fit(fit, args.out)
    print(f"    figure: {value_path}\n")

    print("(2b) Which comes first on a batch: step 1 (Â) or step 2 (fit V)?  The GAE paper (§6.1) computes Â with")
    print("    the V from before this batch and fits V afterwards: a V fitted on the same batch has partly memorised")
    print("    its returns, so δ_t and Â_t shrink toward 0 (a V that fitted the batch exactly would make them all 0).")
    print("    Here: many independent batches of N episodes under the fixed π. 'before': Â with the V fitted on the")
    print("    previous batch; 'after': V first fitted on this batch — to the point step 2's Adam steps head for,")
    print("    where Σ_{t: s_t = s} Â_t = 0 in every state s (one linear solve) — then Â. Each batch's gradient")
    print("    ĝ = (1/N) Σ_episodes Σ_t ∇log π(a_t|s_t) Â_t is compared with the exact g^γ (linear solves);")
    print("    'share' = (E[ĝ] · g^γ) / ‖g^γ‖², the part of the true gradient the average estimate carries.")
    print("       λ      N   batches   RMS of Â before → after   share before → after (± s.e.)   lost to the fit, 95% CI")
    orderings = []
    for lam in (1.0, LAMBDA):
        for batch_episodes in ORDERING_BATCHES:
            result = ordering_experiment(args.seed, lam, batch_episodes, ordering_episodes // batch_episodes)
            orderings.append(result)
            low = result.shrinkage - 1.96 * result.shrinkage_stderr
            high = result.shrinkage + 1.96 * result.shrinkage_stderr
            verdict = f"{low:.3f} to {high:.3f}" + ("" if low > 0 else " (cannot tell)")
            print(f"    {lam:5.2f}  {batch_episodes:5d}   {result.num_batches:6,}     {result.spread_before:6.3f} → "
                  f"{result.spread_after:6.3f}         {result.length_before:5.3f} → {result.length_after:5.3f} "
                  f"(± {result.length_stderr:.3f})   {verdict}")
    worst = orderings[0]
    print(f"    after the fit, |Σ_{{t: s_t = s}} Â_t| ≤ {max(r.largest_state_sum_after for r in orderings):.0e} in every"
          " state of every batch: the advantages of each state cancel.")
    print(f"    With one episode per batch (~10 steps for V's {worst.num_states_fitted} entries) the fit keeps only "
          f"{worst.length_after:.0%} of the gradient. The loss")
    print("    shrinks as the batch grows relative to what V can memorise "
          f"({orderings[len(ORDERING_BATCHES) - 1].shrinkage:.1%} of it at {ORDERING_BATCHES[-1]} episodes), and 'before' is")
    z_before = max(abs(r.length_before - 1.0) / r.length_stderr for r in orderings if r.lambda_ == 1.0)
    print(f"    unbiased at λ = 1 (γ-just: its V does not depend on the batch; its shares are within {z_before:.1f} s.e. of 1,")
    print("    all rows drawn from the same episodes). A neural critic has far more parameters than this table, which")
    print("    is why the trainers compute Â and the λ-return targets first, then take the gradient steps.\n")

    print("(3) Update the policy along the advantage-weighted log-likelihood gradient (tf_gae.trainers)")
    print("    L = −mean[log π_θ(a_t|s_t) · Â_t] + c_v mean[(V_φ(s_t) − R^λ_t)²]   (Â, R^λ from step 1, held fixed)")
    print("    So one update does step 2 (the value term) and step 3 (the policy term) with one optimiser.")
    runs = []
    for trainer, steps, note in (
        (train_reinforce, reinforce_steps,
         "λ = 1: Â_t = G_t − V(s_t), the return to the episode's end minus the baseline; 8 whole episodes "
         "per update; normalised Â"),
        (train_a2c, a2c_steps, "λ = 0.95: GAE on 8 envs × 8-step rollouts, one update per 64 env steps"),
    ):
        run = trainer(steps, args.seed)
        runs.append(run)
        last = run.rows[-1]
        print(f"    {run.name} on CartPole-v1, {steps:,} env steps ({run.seconds:.1f} s)")
        print(f"      {note}")
        print(f"      episode return: {run.return_before:.1f} in the first {run.rows[0]['env_steps']} steps → "
              f"{run.return_after:.1f} in the last {last['env_steps'] - run.rows[-2]['env_steps']} steps "
              f"({len(run.rows)} progress rows)")
        num_updates = last["updates"] - run.rows[-2]["updates"]
        print(f"      last row ({num_updates} update{'s' if num_updates != 1 else ''}, averaged): {_row_summary(last)}")
    print("    The critic is not pre-trained (the article's \"pre-trained V\"): V_φ starts from its random initialisation")
    print("    and learns in the same updates as π, from the value term; the explained variance of its predictions,")
    print("    1 − Var[R − V] / Var[R] over each row's batches, goes from the first row to the last:")
    print("      " + "; ".join(f"{r.rows[0]['explained_variance']:+.2f} → {r.rows[-1]['explained_variance']:+.2f} "
                               f"({r.name.split(' (')[0]})" for r in runs) + ".")
    print("    (REINFORCE's value loss is large because its targets are whole Monte-Carlo returns; the policy")
    print("    loss is near 0 because Â is normalised to mean 0 — neither is a measure of progress: the return is.)")
    curve_path = plot_learning_curves(runs, args.out, args.seed)
    print(f"    figure: {curve_path}\n")

    print("Where the article is wrong in this section")
    print("  - GAE is not \"solved by gradient descent\". Step 1 has no parameters; gradient descent fits V (step 2)")
    print("    and improves π (step 3). The λ-return targets of step 2 are step 1's output plus V.")
    print("  - V is not pre-trained: it learns alongside π, in the same updates. What matters is the order inside")
    print(f"    an update: Â from the V before this batch's fit; fitted first on one episode, V keeps "
          f"{orderings[0].length_after:.0%} of the gradient.")
    print()
    print_exercises("chapters.ch3_algorithm", EXERCISES)
    print("Summary")
    print(f"  step 1: δ, Â and R^λ of a {len(table.rewards)}-step episode with a wrong V (γ = {GAMMA}, λ = {LAMBDA})")
    print(f"  step 2: V fitted on λ-returns, RMS error to exact V^π {fit.rms_initial:.3f} → {fit.rms_final:.4f}")
    print("  step 3: " + "; ".join(f"{r.name.split(' (')[0]} return {r.return_before:.1f} → {r.return_after:.1f}"
                                   for r in runs))
    print(f"  figures written to {args.out}/: {value_path.name}, {curve_path.name}")
    print(f"  ({'quick' if args.quick else 'full'} run, seed {args.seed}, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
