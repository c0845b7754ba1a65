"""Chapter 5 — the article's TensorFlow project, done right (the article's section 5).

Run it:  python -m chapters.ch5_practice [--quick] [--out DIR] [--seed S] [--workers N] [--cache DIR]
README figures:  python -m chapters.ch5_practice --out docs/figures      (about 4 + 7 min on 2 cores)

The article's section 5 promises a TensorFlow project and shows code that does not run. This chapter is
that project, on the library's trainers, measured the way the field measures agents: several seeds,
deterministic evaluation at fixed budgets, median and interquartile range, and the numbers written down.

  1. The code path of one update, with the library's lines named (printed first, with the numbers of
     one real A2C update): rollout → tf_gae.gae → losses → optimizer step.
  2. REINFORCE-with-baseline (λ = 1), A2C with GAE (λ = 0.95) and PPO with GAE (λ = 0.8, RL Zoo's
     settings) on CartPole-v1 and Acrobot-v1, 20 seeds each; every 5,120 env steps the policy's mode is
     evaluated on 20 episodes with the task in the graph (tf_gae.evaluation; figure: median and
     interquartile range over seeds).
  3. A λ sweep for A2C at γ = 0.99, λ ∈ {0, 0.5, 0.8, 0.9, 0.95, 0.98, 1}: the area under the learning
     curve (mean evaluation return over training) and the env steps until the evaluation first reaches
     the task's threshold (475 on CartPole-v1, −100 on Acrobot-v1), read with 95% bootstrap intervals
     over seeds (tf_gae.stats). It is a contrast, not the paper's setting: inside 8-step rollouts no
     advantage reaches further than 8 steps, so λ has little room to matter.
  4. A markdown table of final returns, steps to solve and areas.
  5. The GAE paper's cart-pole protocol (§6.3.1, Fig. 2) as far as our trainers follow it: batches of 8
     whole episodes, GAE(γ, λ) inside each episode, V trained in the same update; a first-order step, not
     TRPO, and our batch size, policy network, task version and budget, not the paper's. The γ × λ grid, γ ∈ {0.95, 0.98, 0.99, 0.995, 1} × λ ∈ {0, 0.36, 0.9, 0.92, 0.96, 0.98, 0.99, 1},
     20 seeds per cell, 50,000 env steps each, through tf_gae.sweep (one compiled program per γ): learning
     curves at γ = 0.99 (median and interquartile range), a heatmap of the final training return with
     95% bootstrap intervals, and verdicts computed from the intervals — "cannot tell" where they overlap.
     The paper found intermediate λ, about 0.92–0.98, best.

The runs of one algorithm on one task (every seed and every λ) go through one compiled program, as
tf_gae.sweep's agents do: A2C's 140 runs per task side by side along an agent axis (tf_gae.agent_axis:
one batched program trains and evaluates them all), PPO's and REINFORCE's one after another, each run's
fresh state loaded into a host trainer and trained there. The groups, and after them the paper grid's
jobs, go to one pool of `--workers` processes (default: one per core; started before the walk-through,
so that their start-up overlaps it), and each finished group or grid job is cached as JSON under
`--cache`, so an interrupted study resumes where it stopped.

References: Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (§6.3.1, Fig. 2: cart-pole); Mnih et al. 2016
(A2C); Schulman et al. 2017, arXiv:1707.06347 (PPO); Williams 1992 (REINFORCE); Henderson et al.,
"Deep Reinforcement Learning that Matters", AAAI 2018 (why several seeds).
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from chapters._contract import parse_chapter_args, print_exercises
from tf_gae.parallel import Batch, Workers

__all__ = [
    "Task",
    "Job",
    "TASKS",
    "LAMBDAS",
    "ALGORITHMS",
    "study_jobs",
    "study_groups",
    "group_key",
    "run_group",
    "on_grid",
    "submit_study",
    "study_results",
    "area_under_curve",
    "steps_to_threshold",
    "summarize",
    "results_table",
    "plot_learning_curves",
    "plot_lambda_sweep",
    "walk_through",
    "EXERCISES",
    "main",
]

FIGURE_NAMES = ("ch5_learning_curves.png", "ch5_lambda_sweep.png")
TABLE_NAME = "ch5_results.md"
PAPER_FIGURE_NAMES = ("ch5_paper_curves.png", "ch5_paper_grid.png")
PAPER_TABLE_NAME = "ch5_paper_grid.md"
PAPER_GAMMAS = (0.95, 0.98, 0.99, 0.995, 1.0)
PAPER_LAMBDAS = (0.0, 0.36, 0.9, 0.92, 0.96, 0.98, 0.99, 1.0)
PAPER_BUDGET, PAPER_EVERY = 50_000, 2_500
QUICK_PAPER_GAMMAS, QUICK_PAPER_LAMBDAS = (0.99,), (0.0, 0.96, 1.0)
QUICK_PAPER_BUDGET, QUICK_PAPER_EVERY = 4_000, 2_000
EVAL_SEED = 10_000
NUM_SEEDS = 20
LAMBDAS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 1.0)
"""The λ of the sweep (A2C, γ = 0.99)."""
QUICK_LAMBDAS = (0.0, 0.95, 1.0)
PAPER_BEST_LAMBDAS = (0.92, 0.98)
"""The range of λ that learned fastest in the GAE paper's cart-pole experiment (§6.3.1)."""
ALGORITHMS = {"reinforce": "REINFORCE with baseline (λ = 1)", "a2c": "A2C with GAE", "ppo": "PPO with GAE (λ = 0.8)"}
A2C_LAMBDA = 0.95
"""A2C's default λ: its learning curve in the comparison is the sweep's λ = 0.95 runs."""
EXERCISES = (
    "(compute) Inside an 8-step A2C rollout, what weight does Â_t put on δ_{t+7} at γ = 0.99 with λ = 0.95, and\n"
    "with λ = 1? What does that say about sweeping λ with 8-step rollouts? [exercise_1()]",
    "(derive) Write GAE(γ, λ = 1) at the first step of an n-step rollout that no episode end interrupts, in\n"
    "terms of the rewards, V(s_0) and the bootstrap V(s_n). [exercise_2(rewards, V(s_0), V(s_n), γ)]",
    "(compute) A2C with its defaults and total_steps = 100,000: how many updates, and how many env steps\n"
    "really? [exercise_3()]",
)
"""Printed at the end of the walk-through; answers in chapters/answers/ch5.py, checked by tests/test_exercises.py."""
_DPI = 90


@dataclass(frozen=True)
class Task:
    env_id: str
    threshold: float
    """Evaluation return that counts as solved (gymnasium's reward_threshold for the task)."""
    budget: int
    """Env steps per run: a multiple of `eval_every` and of A2C's and PPO's rollouts (64 and 256 steps)."""
    eval_every: int
    eval_episodes: int = 20


TASKS = (Task("CartPole-v1", 475.0, 102_400, 5_120), Task("Acrobot-v1", -100.0, 102_400, 5_120))
QUICK_TASKS = (Task("CartPole-v1", 475.0, 4_096, 2_048, 10),)  # the full study adds Acrobot-v1


@dataclass(frozen=True)
class Job:
    """One training run: an algorithm (its library defaults, λ overridden for the sweep) on a task."""

    algo: str
    task: Task
    seed: int
    lam: float | None = None  # None: the algorithm's default

    @property
    def lam_text(self) -> str:
        return "default" if self.lam is None else f"{self.lam:g}"

    @property
    def protocol(self) -> str:
        """The key's part that every run of a group shares: budget, evaluation, environments, trainer kind."""
        task = self.task
        from tf_gae.config import CONFIGS  # no TensorFlow import

        config_class = CONFIGS[self.algo]
        backend = config_class(env_id=task.env_id).backend  # which environments the runs step
        episodes = "_episodes" if config_class.episodic else ""  # REINFORCE on whole episodes
        return f"_steps{task.budget}_every{task.eval_every}x{task.eval_episodes}_{backend}{episodes}"

    @property
    def key(self) -> str:
        return f"{self.algo}_{self.task.env_id}_lam{self.lam_text}_seed{self.seed}{self.protocol}"

    @property
    def side_by_side(self) -> bool:
        """Whether its group trains along an agent axis (tf_gae.agent_axis takes A2C; the others train one
        after another through one program)."""
        return self.algo == "a2c"


def study_jobs(tasks: Sequence[Task], seeds: Sequence[int], lambdas: Sequence[float]) -> list[Job]:
    """The λ sweep (A2C) and the REINFORCE and PPO runs, longest first (so the pool ends evenly)."""
    jobs = []
    for task in tasks:
        for seed in seeds:
            jobs += [Job("ppo", task, seed), Job("reinforce", task, seed)]
            jobs += [Job("a2c", task, seed, lam) for lam in lambdas]
    return jobs


# ==================================================================================================
# One run (in a worker process).
# ==================================================================================================


def _trainer(job: Job) -> Any:
    from tf_gae.trainers import ALGORITHMS as TRAINERS

    config_class, trainer_class = TRAINERS[job.algo]
    overrides = {} if job.lam is None else {"lam": job.lam}
    config = config_class(
        env_id=job.task.env_id,
        total_steps=job.task.budget,
        seed=job.seed,
        log_every_steps=job.task.eval_every,
        **overrides,
    )
    return trainer_class(config)


def study_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs one compiled program runs: the same algorithm on the same task (seed and λ are variables of
    the program, tf_gae.sweep's mechanism), largest group first (so two workers end about together)."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.algo, job.task.env_id), []).append(job)
    return sorted(groups.values(), key=len, reverse=True)


def group_key(jobs: Sequence[Job]) -> str:
    """The cache name of a group: its algorithm, task, λ values, seeds and evaluation protocol."""
    first = jobs[0]
    lams = "-".join(sorted({job.lam_text for job in jobs}))
    seeds = sorted({job.seed for job in jobs})
    seed_text = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else "-".join(map(str, seeds))
    way = "_agent-axis" if first.side_by_side else ""
    return f"{first.algo}_{first.task.env_id}_lam{lams}_seeds{seed_text}{first.protocol}_ingraph-eval{way}"


def run_group(jobs: Sequence[Job]) -> dict[str, Any]:
    """Train every job of a group (:func:`study_groups`) through one compiled program, each from its own
    trainer's fresh state (its solo run's start): A2C's side by side along an agent axis
    (tf_gae.agent_axis.AgentAxis), the others one after another in a host trainer. After every progress row
    (and at step 0) the policy's mode is evaluated on `eval_episodes` episodes with the task in the graph
    (tf_gae.evaluation.InGraphEvaluator, start states from EVAL_SEED; every agent of an axis at once).
    Returns {"results": one dict per job: its evaluation curve, training rows and seconds}."""
    trainers = [_trainer(job) for job in jobs]
    try:
        run = _run_side_by_side if jobs[0].side_by_side else _run_one_by_one
        return dict(results=run(jobs, trainers))
    finally:
        for trainer in trainers:
            trainer.close()


def _run_side_by_side(jobs: Sequence[Job], trainers: Sequence[Any]) -> list[dict[str, Any]]:
    from tf_gae.agent_axis import AgentAxis
    from tf_gae.evaluation import InGraphEvaluator

    task = jobs[0].task
    started = time.perf_counter()
    axis = AgentAxis(trainers)
    evaluator = InGraphEvaluator(axis.model, task.env_id, task.eval_episodes, EVAL_SEED)
    curves: list[list[float]] = [[] for _ in jobs]
    rows: list[list[dict[str, float]]] = [[] for _ in jobs]
    steps: list[int] = []
    eval_seconds = 0.0

    def evaluate(env_steps: int) -> None:  # every agent at once: A2C's agents reach each row together
        nonlocal eval_seconds
        start = time.perf_counter()
        steps.append(env_steps)
        for curve, value in zip(curves, evaluator().mean(axis=1)):
            curve.append(float(value))
        eval_seconds += time.perf_counter() - start
        if len(steps) % 5 == 0 and env_steps < task.budget:  # progress of a long group (from its worker)
            print(f"    ({jobs[0].algo} {task.env_id}: {len(jobs)} runs side by side at {env_steps:,} of "
                  f"{task.budget:,} env steps, {time.perf_counter() - started:.0f} s)", flush=True)

    def on_row(index: int, row: dict[str, float]) -> None:
        rows[index].append({name: float(value) for name, value in row.items()})
        if index == 0:
            evaluate(int(row["env_steps"]))

    evaluate(0)
    axis.train(on_row=on_row)
    share = (time.perf_counter() - started - eval_seconds) / len(jobs)
    return [
        _result(job, float(trainer.config.lam), steps, curve, agent_rows, share, eval_seconds / len(jobs))
        for job, trainer, curve, agent_rows in zip(jobs, trainers, curves, rows)
    ]


def _run_one_by_one(jobs: Sequence[Job], trainers: Sequence[Any]) -> list[dict[str, Any]]:
    from tf_gae.evaluation import InGraphEvaluator

    task = jobs[0].task
    started = time.perf_counter()
    host = trainers[0]  # the first job's own trainer, compiled on its first call, serves every job after it
    evaluator = InGraphEvaluator(host.model, task.env_id, task.eval_episodes, EVAL_SEED)
    results = []
    for job, own in zip(jobs, trainers):
        results.append(_run_on_host(job, own, host, evaluator))
        if len(results) % 20 == 0 and len(results) < len(jobs):  # progress of a long group (from its worker)
            print(f"    ({jobs[0].algo} {task.env_id}: {len(results)}/{len(jobs)} runs, "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
    return results


def _run_on_host(job: Job, own: Any, host: Any, evaluator: Any) -> dict[str, Any]:
    started = time.perf_counter()
    host.load_state(own)  # the job's initial state, as its solo run would start (the first job: its own)
    steps: list[int] = []
    returns: list[float] = []
    rows: list[dict[str, float]] = []
    eval_seconds = 0.0

    def evaluate(env_steps: int) -> None:
        nonlocal eval_seconds
        start = time.perf_counter()
        steps.append(env_steps)
        returns.append(float(np.mean(evaluator())))
        eval_seconds += time.perf_counter() - start

    def on_row(row: dict[str, float]) -> None:
        rows.append({name: float(value) for name, value in row.items()})
        evaluate(int(row["env_steps"]))

    evaluate(0)
    host.train(on_row=on_row)
    train_seconds = time.perf_counter() - started - eval_seconds
    return _result(job, float(host.config.lam), steps, returns, rows, train_seconds, eval_seconds)


def _result(job: Job, lam: float, steps: Sequence[int], returns: Sequence[float], rows: list[dict[str, float]],
            train_seconds: float, eval_seconds: float) -> dict[str, Any]:  # fmt: skip
    grid = list(range(0, job.task.budget + 1, job.task.eval_every))
    steps, returns = on_grid(steps, returns, grid)  # whole episodes (REINFORCE) pass each point by < a batch
    return dict(key=job.key, algo=job.algo, env_id=job.task.env_id, seed=job.seed, lam=lam, steps=steps,
                returns=returns, rows=rows, train_seconds=train_seconds, eval_seconds=eval_seconds)  # fmt: skip


def on_grid(steps: Sequence[int], returns: Sequence[float], grid: Sequence[int]) -> tuple[list[int], list[float]]:
    """The evaluation curve on `grid`: at each point, the first evaluation made at or after it. A trainer
    whose rows fall on the grid (A2C, PPO) keeps its curve as it is; REINFORCE's rows come after the
    update that passes each point, and one update can pass two."""
    indices = np.searchsorted(np.asarray(steps), np.asarray(grid), side="left")
    if len(steps) == 0 or indices[-1] >= len(steps):
        raise ValueError(f"no evaluation at or after step {grid[-1]} (evaluated at {list(steps)})")
    return list(grid), [returns[i] for i in indices]


def submit_study(jobs: Sequence[Job], cache_dir: Path, workers: Workers) -> Batch:
    """Queue every group of `jobs` (:func:`study_groups`) on `workers`; cached groups are read back."""
    groups = study_groups(jobs)
    return workers.submit(run_group, groups, [group_key(g) for g in groups], cache_dir)


def study_results(jobs: Sequence[Job], batch: Batch) -> list[dict[str, Any]]:
    """Every job's result, in the order of `jobs`, as its group's run finishes (`batch`, from
    :func:`submit_study`); one console line per finished group."""
    started = time.perf_counter()
    groups = study_groups(jobs)
    done = 0

    def report(group: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        results = group["results"]
        first = results[0]
        finals = np.array([r["returns"][-1] for r in results])
        print(
            f"  [{done:2d}/{len(groups)}] {first['algo']} {first['env_id']}: {len(results)} runs, final evaluation "
            f"median {np.median(finals):7.1f} ({sum(r['train_seconds'] for r in results):.0f} s training, "
            f"{time.perf_counter() - started:.0f} s elapsed)",
            flush=True,
        )

    finished = batch.results(on_result=report)
    by_key = {result["key"]: result for group in finished for result in group["results"]}
    return [by_key[job.key] for job in jobs]


# ==================================================================================================
# Measures of a learning curve.
# ==================================================================================================


def area_under_curve(steps: Sequence[float], returns: Sequence[float]) -> float:
    """Mean evaluation return over training: the trapezoid ∫ R d(steps) divided by the steps covered.

    Higher is better and it rewards learning early, not only ending well (Fig. 2 of the GAE paper plots
    cart-pole's curves). Needs at least two points with increasing steps.
    """
    steps = np.asarray(steps, np.float64)
    returns = np.asarray(returns, np.float64)
    if steps.ndim != 1 or steps.shape != returns.shape or len(steps) < 2:
        raise ValueError(f"steps and returns must be 1-D of equal length ≥ 2, got {steps.shape} and {returns.shape}")
    widths = np.diff(steps)
    if np.any(widths <= 0):
        raise ValueError("steps must increase strictly")
    return float(np.sum(widths * (returns[1:] + returns[:-1]) / 2.0) / (steps[-1] - steps[0]))


def steps_to_threshold(steps: Sequence[float], returns: Sequence[float], threshold: float) -> float:
    """The first evaluated env step whose return is ≥ `threshold`; `inf` if the run never got there."""
    for step, value in zip(steps, returns):
        if value >= threshold:
            return float(step)
    return math.inf


@dataclass
class Summary:
    """One (task, algorithm, λ) cell over seeds."""

    env_id: str
    algo: str
    lam: float
    seeds: list[int]
    steps: np.ndarray  # [P] evaluation steps, shared by the seeds
    returns: np.ndarray  # [S, P]
    areas: np.ndarray  # [S]
    solve_steps: np.ndarray  # [S], inf where never solved

    @property
    def final(self) -> np.ndarray:
        return self.returns[:, -1]

    @property
    def solved(self) -> int:
        return int(np.sum(np.isfinite(self.solve_steps)))

    @property
    def median_solve_steps(self) -> float:
        return float(np.median(self.solve_steps))  # inf when half or more never solved


def summarize(results: Iterable[dict[str, Any]], tasks: Sequence[Task]) -> list[Summary]:
    """Group runs by (task, algorithm, λ) and compute each seed's area and steps to the task's threshold."""
    thresholds = {task.env_id: task.threshold for task in tasks}
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["env_id"], result["algo"], result["lam"]), []).append(result)
    summaries = []
    for (env_id, algo, lam), runs in groups.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        steps = np.asarray(runs[0]["steps"], np.float64)
        for run in runs:
            if not np.array_equal(run["steps"], steps):
                raise ValueError(f"{algo} on {env_id}: seeds were evaluated at different steps")
        returns = np.asarray([run["returns"] for run in runs], np.float64)
        summaries.append(
            Summary(
                env_id=env_id,
                algo=algo,
                lam=lam,
                seeds=[run["seed"] for run in runs],
                steps=steps,
                returns=returns,
                areas=np.array([area_under_curve(steps, r) for r in returns]),
                solve_steps=np.array([steps_to_threshold(steps, r, thresholds[env_id]) for r in returns]),
            )
        )
    return summaries


def _find(summaries: Sequence[Summary], env_id: str, algo: str, lam: float | None = None) -> Summary | None:
    for summary in summaries:
        if summary.env_id == env_id and summary.algo == algo and (lam is None or summary.lam == lam):
            return summary
    return None


def _sweep(summaries: Sequence[Summary], env_id: str) -> list[Summary]:
    return sorted((s for s in summaries if s.env_id == env_id and s.algo == "a2c"), key=lambda s: s.lam)


def _label(summary: Summary) -> str:
    return f"A2C with GAE (λ = {summary.lam:g})" if summary.algo == "a2c" else ALGORITHMS[summary.algo]


def _steps_text(value: float) -> str:
    return "not within budget" if math.isinf(value) else f"{value:,.0f}"


def results_table(summaries: Sequence[Summary], tasks: Sequence[Task]) -> str:
    """Markdown: per task and (algorithm, λ), final evaluation, steps to the threshold and area."""
    lines = [
        f"Deterministic evaluation (the policy's mode), {tasks[0].eval_episodes} episodes seeded {EVAL_SEED}+i, every "
        f"{tasks[0].eval_every:,} env steps; {len(summaries[0].seeds)} seeds per row. Final and area: "
        "median [interquartile range] over seeds; steps to solve: median over seeds of the first evaluation at or above "
        "the threshold (a seed that never got there counts as not within budget).",
        "",
    ]
    for task in tasks:
        lines += [
            f"**{task.env_id}** (threshold {task.threshold:g}, budget {task.budget:,} env steps)",
            "",
            "| algorithm | final evaluation | steps to solve (median) | solved seeds | area under curve |",
            "|---|---:|---:|---:|---:|",
        ]
        rows = [s for s in summaries if s.env_id == task.env_id and s.algo != "a2c"]
        rows = sorted(rows, key=lambda s: list(ALGORITHMS).index(s.algo)) + _sweep(summaries, task.env_id)
        for s in rows:
            lines.append(
                f"| {_label(s)} | {_median_iqr(s.final)} | "
                f"{_steps_text(s.median_solve_steps)} | {s.solved}/{len(s.seeds)} | "
                f"{_median_iqr(s.areas)} |"
            )
        lines.append("")
    return "\n".join(lines)


# ==================================================================================================
# Figures.
# ==================================================================================================


def _median_iqr(values: np.ndarray) -> str:
    """'median [25th, 75th percentile]' of per-seed values, as the table and the figures show them."""
    low, median, high = np.percentile(values, [25, 50, 75])
    return f"{median:.1f} [{low:.1f}, {high:.1f}]"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curves(summaries: Sequence[Summary], tasks: Sequence[Task], out_dir: Path) -> Path:
    """One panel per task: median and interquartile range over seeds of each algorithm's evaluation return."""
    fig = _figure(5.6 * len(tasks), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    for axis, task in zip(axes, tasks):
        curves = [_find(summaries, task.env_id, algo, A2C_LAMBDA if algo == "a2c" else None) for algo in ALGORITHMS]
        for color, summary in enumerate(c for c in curves if c is not None):
            low, median, high = np.percentile(summary.returns, [25, 50, 75], axis=0)  # [P] each, never past a return
            axis.plot(summary.steps, median, color=f"C{color}", lw=1.8, label=_label(summary))
            axis.fill_between(summary.steps, low, high, color=f"C{color}", alpha=0.18)
        axis.axhline(task.threshold, color="k", ls="--", lw=0.8, label=f"solved ({task.threshold:g})")
        axis.set_title(task.env_id)
        axis.set_xlabel("environment steps")
        axis.set_ylabel(f"evaluation return ({task.eval_episodes} episodes, mode of π)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small", loc="best")
    seeds = len(summaries[0].seeds)
    fig.suptitle(f"Three policy-gradient trainers with GAE: median and interquartile range over {seeds} seeds")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[0]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plot_lambda_sweep(summaries: Sequence[Summary], tasks: Sequence[Task], out_dir: Path) -> Path:
    """Per task: area under the curve and steps to solve (median, interquartile range) against λ."""
    fig = _figure(5.2 * len(tasks), 7.4)
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for column, task in enumerate(tasks):
        sweep = _sweep(summaries, task.env_id)
        lambdas = np.array([s.lam for s in sweep])
        area_axis, steps_axis = axes[0, column], axes[1, column]
        for axis in (area_axis, steps_axis):
            axis.axvspan(*PAPER_BEST_LAMBDAS, color="C2", alpha=0.15, label="best λ in the GAE paper (§6.3.1)")
            axis.set_xlabel("GAE λ")
            axis.grid(alpha=0.3)
        low, median, high = np.percentile([s.areas for s in sweep], [25, 50, 75], axis=1)  # [L] each
        area_axis.errorbar(lambdas, median, yerr=[median - low, high - median], color="C1", marker="o", capsize=3,
                           label="median, interquartile range over seeds")  # fmt: skip
        area_axis.set_ylabel("area under the curve (mean evaluation return)")
        area_axis.set_title(f"A2C on {task.env_id}, γ = 0.99: how well it learned")
        area_axis.legend(fontsize="small")
        budget = task.budget
        # never solved counts as the budget; [L] each
        lows, medians, highs = np.percentile([np.minimum(s.solve_steps, budget) for s in sweep], [25, 50, 75], axis=1)
        steps_axis.errorbar(
            lambdas, medians, yerr=[medians - lows, highs - medians], color="C0", marker="o", capsize=3,
            label="median, interquartile range over seeds",
        )
        steps_axis.axhline(budget, color="k", ls=":", lw=0.8, label=f"budget ({budget:,}; never solved)")
        unsolved = [f"{s.lam:g}: {len(s.seeds) - s.solved}" for s in sweep if s.solved < len(s.seeds)]
        if unsolved:  # a legend line of its own (labels at the points overlapped where λ values crowd)
            steps_axis.plot([], [], " ", label=f"seeds never solved, by λ: {', '.join(unsolved)}")
        steps_axis.set_ylim(top=budget * 1.45)  # room above the budget line for the legend
        steps_axis.set_ylabel(f"env steps until evaluation ≥ {task.threshold:g}")
        steps_axis.set_title("how fast it learned (lower is better)")
        steps_axis.legend(fontsize="small", loc="upper right")
    seeds = len(_sweep(summaries, tasks[0].env_id)[0].seeds)
    fig.suptitle(f"The λ sweep: A2C with GAE, {seeds} seeds per λ")
    fig.tight_layout()
    path = out_dir / FIGURE_NAMES[1]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


# ==================================================================================================
# The walk-through: the code path of one update, with one real update's numbers.
# ==================================================================================================


def _where(function: Any) -> str:
    """`path:line` of a library function, found by inspection (so it stays right when the code moves)."""
    function = inspect.unwrap(function)
    path = Path(inspect.getsourcefile(function)).resolve()
    try:
        path = path.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{path}:{inspect.getsourcelines(function)[1]}"


def _line_of(function: Any, text: str) -> str:
    """`path:line` of the first line of `function` that contains `text`."""
    lines, first = inspect.getsourcelines(inspect.unwrap(function))
    for offset, line in enumerate(lines):
        if text in line:
            return f"{_where(function).rsplit(':', 1)[0]}:{first + offset}"
    raise ValueError(f"{text!r} not in {function.__qualname__}")


def walk_through(seed: int) -> dict[str, float]:
    """Print the code path from rollout to optimizer step, running each part of one A2C update."""
    import tf_gae
    import tf_gae.losses
    from tf_gae.advantages import gae
    from tf_gae.learner import Learner
    from tf_gae.rollout import RolloutCollector
    from tf_gae.trainers import A2CConfig, A2CTrainer
    from tf_gae.trainers.base import Trainer

    trainer = A2CTrainer(A2CConfig(seed=seed, total_steps=64))
    config = trainer.config
    try:
        print("The code path of one A2C update (A2CConfig defaults; every line below ran just now)")
        print(f"  1. Rollout  {_where(RolloutCollector.collect_graph)}  RolloutCollector.collect_graph")
        print(f"     T = {config.n_steps} steps of B = {config.num_envs} CartPole-v1 envs in one graph: π samples a_t, the")
        print("     env steps (SAME_STEP autoreset), V(s_t) is kept; next_values = V(final obs) at truncations.")
        rollout = trainer.collector.collect()
        print(f"     observations {tuple(rollout.observations.shape)}, rewards {tuple(rollout.rewards.shape)}, "
              f"values {tuple(rollout.values.shape)}; env 0: rewards {np.round(rollout.rewards[:, 0].numpy(), 2)}")
        print(f"     env 0: V(s_t) {np.round(rollout.values[:, 0].numpy(), 3)}")
        print(f"  2. Advantages  {_where(Trainer.advantages_and_returns)}  → tf_gae.gae  {_where(gae)}")
        print(f"     δ_t = r_t + γ(1 − term_t) V(s_t+1) − V(s_t),  Â_t = δ_t + γλ(1 − done_t) Â_t+1  "
              f"(γ = {config.gamma}, λ = {config.lam}); R^λ_t = Â_t + V(s_t); both gradient-stopped.")
        advantages, returns = trainer.advantages_and_returns(Trainer.rollout_tensors(rollout))
        print(f"     env 0: Â_t {np.round(advantages[:, 0].numpy(), 3)}")
        print(f"     env 0: R^λ_t {np.round(returns[:, 0].numpy(), 3)}")
        print(f"  3. Losses  {_line_of(Trainer.loss_terms, 'policy_loss = ')}  Trainer.loss_terms")
        print("     L_π = −mean(log π(a_t|s_t) · Â_t),  L_V = mean((V(s_t) − R^λ_t)²),  L = L_π + c_v L_V − c_e H")
        print(f"  4. Optimizer step  {_line_of(Learner.step, 'apply_gradients')}  Learner.step")
        print(f"     ∇L by GradientTape, clipped to global norm {config.max_grad_norm}, applied by {config.optimizer} "
              f"(lr {config.learning_rate}) unless non-finite.")
        before = [v.numpy().copy() for v in trainer.model.trainable_variables]
        metrics = trainer.update(rollout)
        change = math.sqrt(sum(float(np.sum((v.numpy() - b) ** 2)) for v, b in zip(trainer.model.trainable_variables, before)))
        print(f"     this update: L_π {metrics['policy_loss']:+.4f}, L_V {metrics['value_loss']:.4f}, entropy "
              f"{metrics['entropy']:.4f}, |∇L| {metrics['grad_norm']:.3f} → parameters moved by {change:.4f} (L2)")
        print(f"  PPO's step replaces 3: the clipped surrogate  {_where(tf_gae.losses.clipped_surrogate)}, over "
              f"several shuffled minibatch epochs per rollout  {_where(Learner.minibatch_epochs)}  Learner.minibatch_epochs.")
        print("  GAE (step 2) has nothing to optimise; gradient descent happens only in step 4.\n")
        print("The update as training runs it (printed from the library's source, not a copy):")
        for function in (Trainer._gradient_step_graph, Trainer._losses, Trainer.loss_terms):
            print(f"  {_where(function)}")
            for line in inspect.getsource(function).splitlines():
                print(f"  | {line}")
        print("  flat_batch runs tf_gae.gae on the [T, B] rollout (step 2) and flattens it; Trainer.train calls this\n"
              "  once per rollout, several rollouts per graph call between two progress rows.\n")
        return dict(metrics, parameter_change=change)
    finally:
        trainer.close()


# ==================================================================================================
# The chapter.
# ==================================================================================================


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    return parse_chapter_args("chapters.ch5_practice", __doc__.splitlines()[0], "CartPole-v1 only, 2 seeds, 3 λ, 4,096 steps per run (under a minute)", argv, study=True)


def _verdict(summaries: Sequence[Summary], task: Task) -> str:
    """The A2C sweep on `task`, read from intervals: the λ with the largest mean area under the curve against
    λ = 0 and λ = 1, each a 95% bootstrap interval over seeds; overlapping intervals say "cannot tell"."""
    from tf_gae.stats import bootstrap_interval, compare

    sweep = _sweep(summaries, task.env_id)
    intervals = {s.lam: bootstrap_interval(s.areas) for s in sweep}
    best = max(sweep, key=lambda s: np.mean(s.areas))
    parts = [f"{task.env_id}: the largest mean area is at λ = {best.lam:g}: {np.mean(best.areas):.1f} "
             f"[{intervals[best.lam][0]:.1f}, {intervals[best.lam][1]:.1f}]"]
    for s in sweep:
        if s.lam in (0.0, 1.0) and s.lam != best.lam:
            parts.append(f"λ = {s.lam:g}: {np.mean(s.areas):.1f} [{intervals[s.lam][0]:.1f}, {intervals[s.lam][1]:.1f}], "
                         + compare(f"λ={best.lam:g}", intervals[best.lam], f"λ={s.lam:g}", intervals[s.lam]))
    return "; ".join(parts) + "."


# ==================================================================================================
# The GAE paper's protocol: whole episodes, the γ × λ grid, intervals over seeds.
# ==================================================================================================


@dataclass(frozen=True)
class GridJob:
    """Every λ × seed at one γ: one tf_gae.sweep (one compiled program), REINFORCE-style whole episodes."""

    gamma: float
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]
    budget: int
    every: int

    @property
    def key(self) -> str:
        lams = "-".join(f"{lam:g}" for lam in self.lambdas)
        return (f"paper_reinforce_CartPole-v1_gamma{self.gamma:g}_lam{lams}_seeds{self.seeds[0]}-{self.seeds[-1]}"
                f"_steps{self.budget}_every{self.every}")


def run_grid_job(job: GridJob) -> dict[str, Any]:
    """Train the job's agents (tf_gae.sweep, in memory) and return each one's training-return curve on the
    grid every, 2·every, …, budget (the first progress row at or after each point)."""
    import tf_gae

    result = tf_gae.sweep("CartPole-v1", "reinforce", seeds=job.seeds, grid={"lam": list(job.lambdas)}, gamma=job.gamma,
                          total_steps=job.budget, log_every_steps=job.every, progress=False)
    grid = list(range(job.every, job.budget + 1, job.every))
    runs = []
    for agent in result.agents:
        steps = [int(row["env_steps"]) for row in agent.rows]
        returns = [float(row["episode_return_mean"]) for row in agent.rows]
        runs.append(dict(gamma=job.gamma, lam=agent.settings["lam"], seed=agent.seed, steps=grid,
                         returns=on_grid(steps, returns, grid)[1], seconds=agent.wall_time_s))
    return dict(key=job.key, runs=runs, seconds=result.wall_time_s)


MEASURES = {"area": "mean training return over the whole run (how fast it learned)",
            "final": "mean training return over the run's last quarter (where it ended)"}
"""The two measures of a run in the grid, each a mean over seeds with a 95% bootstrap interval."""


@dataclass(frozen=True)
class GridCell:
    """One (γ, λ) of the grid over seeds: training-return curves and the two MEASURES with their intervals."""

    gamma: float
    lam: float
    seeds: list[int]
    steps: np.ndarray  # [P]
    curves: np.ndarray  # [S, P]: mean return of the episodes of each progress interval
    values: dict[str, np.ndarray]  # measure -> [S], one number per seed
    intervals: dict[str, tuple[float, float]]  # measure -> 95% percentile-bootstrap interval of the mean

    def mean(self, measure: str = "area") -> float:
        return float(np.mean(self.values[measure]))


def grid_cell(gamma: float, lam: float, seeds: list[int], steps: Sequence[int], curves: np.ndarray) -> GridCell:
    """A cell from its seeds' curves `[S, P]`: area = the mean of each curve (its points are evenly spaced),
    final = the mean of its last quarter; each with its bootstrap interval over seeds."""
    from tf_gae.stats import bootstrap_interval

    values = {"area": curves.mean(axis=1), "final": curves[:, -max(1, curves.shape[1] // 4):].mean(axis=1)}
    return GridCell(float(gamma), float(lam), list(seeds), np.asarray(steps), curves, values,
                    {name: bootstrap_interval(v) for name, v in values.items()})


def submit_paper_grid(gammas: Sequence[float], lambdas: Sequence[float], seeds: Sequence[int], budget: int,
                      every: int, cache_dir: Path, workers: Workers) -> Batch:  # fmt: skip
    """Queue one GridJob per γ on `workers`; cached ones are read back."""
    jobs = [GridJob(float(g), tuple(float(x) for x in lambdas), tuple(seeds), budget, every) for g in gammas]
    return workers.submit(run_grid_job, jobs, [job.key for job in jobs], cache_dir)


def paper_grid(gammas: Sequence[float], lambdas: Sequence[float], batch: Batch) -> list[GridCell]:
    """One GridCell per (γ, λ), as the GridJobs of `batch` (:func:`submit_paper_grid`) finish."""
    started = time.perf_counter()

    def report(result: dict[str, Any]) -> None:
        print(f"  {result['key']}: {len(result['runs'])} runs in {result['seconds']:.0f} s "
              f"({time.perf_counter() - started:.0f} s elapsed)", flush=True)

    finished = batch.results(on_result=report)
    cells = []
    for gamma in gammas:
        for lam in lambdas:
            runs = sorted((r for f in finished for r in f["runs"] if r["gamma"] == gamma and r["lam"] == lam),
                          key=lambda r: r["seed"])
            cells.append(grid_cell(gamma, lam, [r["seed"] for r in runs], runs[0]["steps"],
                                   np.array([r["returns"] for r in runs], np.float64)))
    return cells


def _cell(cells: Sequence[GridCell], gamma: float, lam: float) -> GridCell:
    return next(c for c in cells if c.gamma == gamma and c.lam == lam)


def paper_verdict(cells: Sequence[GridCell], measure: str = "area") -> list[str]:
    """Sentences computed from the intervals of `measure`: per γ, the best λ against λ = 0 and λ = 1; then
    whether the paper's finding (an intermediate λ beats both ends) holds, γ by γ. Overlap: "cannot tell"."""
    from tf_gae.stats import compare

    lines, agree, unclear = [], [], []
    for gamma in sorted({c.gamma for c in cells}):
        row = [c for c in cells if c.gamma == gamma]
        best = max(row, key=lambda c: c.mean(measure))
        low, high = best.intervals[measure]
        parts = [f"γ = {gamma:g}: best λ = {best.lam:g}, {best.mean(measure):.1f} [{low:.1f}, {high:.1f}]"]
        beaten = 0  # ends whose interval lies wholly below the best λ's
        for end in (0.0, 1.0):
            if end != best.lam and any(c.lam == end for c in row):
                other = _cell(cells, gamma, end)
                beaten += low > other.intervals[measure][1]
                verdict = compare(f"λ={best.lam:g}", best.intervals[measure], f"λ={end:g}", other.intervals[measure])
                parts.append(f"λ = {end:g}: {other.mean(measure):.1f}, {verdict}")
        lines.append("; ".join(parts))
        (agree if 0.0 < best.lam < 1.0 and beaten == 2 else unclear).append(gamma)
    top = max(cells, key=lambda c: c.mean(measure))
    lines.append(f"best cell: γ = {top.gamma:g}, λ = {top.lam:g}, {top.mean(measure):.1f} "
                 f"[{top.intervals[measure][0]:.1f}, {top.intervals[measure][1]:.1f}]")
    if agree:
        lines.append(f"the paper's finding, an intermediate λ better than both λ = 0 and λ = 1, holds by non-overlapping "
                     f"intervals at γ ∈ {{{', '.join(f'{g:g}' for g in agree)}}}")
    if unclear:
        lines.append(f"at γ ∈ {{{', '.join(f'{g:g}' for g in unclear)}}} it does not show: the best λ is an end, or we "
                     "cannot tell it from one")
    return lines


def paper_table(cells: Sequence[GridCell], budget: int) -> str:
    """Markdown: for each measure, mean [95% bootstrap interval] per (γ, λ)."""
    gammas = sorted({c.gamma for c in cells})
    lambdas = sorted({c.lam for c in cells})
    seeds = len(cells[0].seeds)
    lines = [
        f"REINFORCE-style updates on batches of 8 whole CartPole-v1 episodes with GAE(γ, λ) inside each episode and V "
        f"trained in the same update; {budget:,} env steps per run, {seeds} seeds per cell. Each cell: mean over seeds "
        "and its 95% percentile-bootstrap interval.",
    ]
    for measure, text in MEASURES.items():
        lines += [
            "",
            f"**{measure}**: {text}",
            "",
            "| γ \\ λ | " + " | ".join(f"{lam:g}" for lam in lambdas) + " |",
            "|---|" + "---:|" * len(lambdas),
        ]
        for gamma in gammas:
            row = [_cell(cells, gamma, lam) for lam in lambdas]
            lines.append(f"| {gamma:g} | " + " | ".join(
                f"{c.mean(measure):.0f} [{c.intervals[measure][0]:.0f}, {c.intervals[measure][1]:.0f}]" for c in row) + " |")
    return "\n".join(lines)


def plot_paper_curves(cells: Sequence[GridCell], gamma: float, out_dir: Path) -> Path:
    """Learning curves at `gamma`, one per λ: median and interquartile band over seeds of the training return."""
    from matplotlib import colormaps

    row = sorted((c for c in cells if c.gamma == gamma), key=lambda c: c.lam)
    fig = _figure(8.4, 5.0)
    axis = fig.subplots()
    colors = colormaps["viridis"](np.linspace(0.0, 0.95, len(row)))
    for color, cell in zip(colors, row):
        low, median, high = np.percentile(cell.curves, [25, 50, 75], axis=0)  # never past a return's maximum
        axis.plot(cell.steps, median, color=color, lw=1.8, label=f"λ = {cell.lam:g}")
        axis.fill_between(cell.steps, low, high, color=color, alpha=0.12)
    axis.set_xlabel("environment steps (whole episodes, 8 per update)")
    axis.set_ylabel("training return (mean over the episodes of each interval)")
    axis.set_ylim(0, 510)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", ncol=2, loc="upper left")
    axis.set_title(f"CartPole-v1, GAE paper's protocol, γ = {gamma:g}: median and interquartile range over "
                   f"{len(row[0].seeds)} seeds", fontsize=10)
    fig.tight_layout()
    path = out_dir / PAPER_FIGURE_NAMES[0]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plot_paper_grid(cells: Sequence[GridCell], out_dir: Path) -> Path:
    """Heatmaps of both measures over (γ, λ), each cell annotated with its mean and interval."""
    gammas = sorted({c.gamma for c in cells})
    lambdas = sorted({c.lam for c in cells})
    fig = _figure(1.2 * len(lambdas) + 2.8, 2 * (0.72 * len(gammas) + 1.4))
    for axis, measure in zip(fig.subplots(2, 1), MEASURES):
        means = np.array([[_cell(cells, g, lam).mean(measure) for lam in lambdas] for g in gammas])  # [G, L]
        image = axis.imshow(means, cmap="viridis", vmin=0, vmax=500, aspect="auto")
        for i, gamma in enumerate(gammas):
            for j, lam in enumerate(lambdas):
                cell = _cell(cells, gamma, lam)
                low, high = cell.intervals[measure]
                axis.text(j, i, f"{cell.mean(measure):.0f}\n[{low:.0f}, {high:.0f}]", ha="center", va="center",
                          fontsize=7, color="white" if cell.mean(measure) < 300 else "black")
        axis.set_xticks(range(len(lambdas)), [f"{lam:g}" for lam in lambdas])
        axis.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
        axis.set_xlabel("GAE λ")
        axis.set_ylabel("discount γ")
        fig.colorbar(image, ax=axis).set_label("return (CartPole-v1, max 500)")
        axis.set_title(f"{measure}: {MEASURES[measure]}", fontsize=9)
    fig.suptitle(f"CartPole-v1, the GAE paper's protocol: mean over {len(cells[0].seeds)} seeds [95% bootstrap interval]",
                 fontsize=10)
    fig.tight_layout()
    path = out_dir / PAPER_FIGURE_NAMES[1]
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    tasks = QUICK_TASKS if args.quick else TASKS
    lambdas = QUICK_LAMBDAS if args.quick else LAMBDAS
    seeds = [args.seed + i for i in range(2 if args.quick else NUM_SEEDS)]

    gammas, paper_lambdas = (QUICK_PAPER_GAMMAS, QUICK_PAPER_LAMBDAS) if args.quick else (PAPER_GAMMAS, PAPER_LAMBDAS)
    budget, every = (QUICK_PAPER_BUDGET, QUICK_PAPER_EVERY) if args.quick else (PAPER_BUDGET, PAPER_EVERY)

    print("Chapter 5 — the TensorFlow project, done right")
    print("=" * 78)
    with Workers(args.workers, start_now=True) as workers:  # their start-up overlaps the walk-through
        walk_through(args.seed)
        jobs = study_jobs(tasks, seeds, lambdas)
        print(f"The study: {len(jobs)} training runs ({', '.join(t.env_id for t in tasks)}; seeds {seeds}; A2C at "
              f"λ ∈ {{{', '.join(f'{x:g}' for x in lambdas)}}}; REINFORCE and PPO at their defaults), "
              f"{tasks[0].budget:,} env steps each, {args.workers} at a time; cache {args.cache}")
        cached = sum(len(g) for g in study_groups(jobs) if (args.cache / f"{group_key(g)}.json").exists())
        study = submit_study(jobs, args.cache, workers)
        # queued behind the study: a worker that finds no study group left takes up the grid
        grid = submit_paper_grid(gammas, paper_lambdas, seeds, budget, every, args.cache, workers)
        results = study_results(jobs, study)
        summaries = summarize(results, tasks)

        table = results_table(summaries, tasks)
        (args.out / TABLE_NAME).write_text(table + "\n")
        print("\n" + table)
        print("The A2C λ sweep (mean area under the curve, 95% bootstrap interval over seeds):")
        for task in tasks:
            print("  " + _verdict(summaries, task))
        weight = lambda lam: (0.99 * lam) ** 7  # noqa: E731  the weight on δ_{t+7} inside an 8-step rollout
        print(f"  A contrast, not the paper's setting: with 8-step rollouts no advantage reaches past the rollout, so the\n"
              f"  weight on δ_(t+7) is {weight(0.95):.2f} at λ = 0.95 and {weight(1.0):.2f} at λ = 1 — λ has little room to matter.")

        print("\nThe GAE paper's cart-pole protocol (§6.3.1, Fig. 2), as our trainers follow it: every update is a batch of")
        print("whole episodes (8, each to its end), Â = GAE(γ, λ) inside each episode, and V is trained in the same update")
        print("on the λ-returns. What differs from the paper, said plainly: the step is first-order (Adam on the policy-")
        print("gradient loss), not TRPO's trust region; V takes one gradient step per batch, not a trust-region regression;")
        print("and the batch (8 episodes), the policy ((64, 64) MLP), the task (CartPole-v1, 500-step limit) and the budget")
        print("(env steps, not iterations) are ours, not the paper's.")
        print(f"γ ∈ {{{', '.join(f'{g:g}' for g in gammas)}}} × λ ∈ {{{', '.join(f'{x:g}' for x in paper_lambdas)}}} × "
              f"{len(seeds)} seeds, {budget:,} env steps each:")
        cells = paper_grid(gammas, paper_lambdas, grid)
    grid_table = paper_table(cells, budget)
    (args.out / PAPER_TABLE_NAME).write_text(grid_table + "\n")
    print("\n" + grid_table + "\n")
    print("What the paper reported: on cart-pole the best results came at intermediate λ, about 0.92–0.98 (§6.3.1).")
    for measure, text in MEASURES.items():
        print(f"What the intervals say, {measure} — {text}:")
        for line in paper_verdict(cells, measure):
            print("  - " + line)
    paper_figures = [plot_paper_curves(cells, 0.99 if 0.99 in gammas else gammas[0], args.out), plot_paper_grid(cells, args.out)]
    print()
    print_exercises("chapters.ch5_practice", EXERCISES)
    figures = [plot_learning_curves(summaries, tasks, args.out), plot_lambda_sweep(summaries, tasks, args.out)]
    train_seconds = sum(r["train_seconds"] for r in results)
    print(f"\n{len(results)} runs ({cached} read from the cache; {train_seconds / 60:.1f} min of training summed "
          f"over workers when they ran); this invocation took {time.perf_counter() - started:.0f} s.")
    print("Wrote " + ", ".join(str(p) for p in [*figures, args.out / TABLE_NAME, *paper_figures, args.out / PAPER_TABLE_NAME]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
