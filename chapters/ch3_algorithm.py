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
  3. Update the policy with the advantage-weighted log-likelihood gradient,
         L_π = −mean_t[ log π_θ(a_t|s_t) · Â_t ]     (Â gradient-stopped; tf_gae.trainers.base.Trainer._losses)
     first as REINFORCE with a learned baseline (GAE with λ = 1: Â_t = G_t − V(s_t)), then as A2C
     (GAE with λ = 0.95 on 8-step rollouts): tf_gae.trainers on CartPole-v1, episode return before and
     after, and one progress row's losses (figure of both learning curves).

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
from chapters._contract import parse_chapter_args
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
    "TrainingRun",
    "train_reinforce",
    "train_a2c",
    "plot_value_fit",
    "plot_learning_curves",
    "main",
]

FIGURE_NAMES = ("ch3_value_fit.png", "ch3_learning_curves.png")
GAMMA = 0.9
"""Discount of the tabular MDP of steps 1-2."""
LAMBDA = 0.95
"""GAE λ of steps 1-2 (and A2C's default)."""
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
    print("    (REINFORCE's value loss is large because its targets are whole Monte-Carlo returns; the policy")
    print("    loss is near 0 because Â is normalised to mean 0 — neither is a measure of progress: the return is.)")
    curve_path = plot_learning_curves(runs, args.out, args.seed)
    print(f"    figure: {curve_path}\n")

    print("Where the article is wrong in this section")
    print("  - GAE is not \"solved by gradient descent\". Step 1 has no parameters; gradient descent fits V (step 2)")
    print("    and improves π (step 3). The λ-return targets of step 2 are step 1's output plus V.")
    print()
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
