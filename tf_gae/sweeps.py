"""Many runs at once: seeds × a grid of γ, λ and learning rates, every agent trained by one compiled program.

    result = tf_gae.sweep("CartPole-v1", algo="a2c", seeds=range(8), grid={"lam": [0.9, 0.95, 1.0]},
                          total_steps=100_000, out_dir="sweeps/lam")
    result.summary()        # one row per agent: its settings, its seed, its returns
    result.agents[3].agent  # agent 3's policy and value function (predict, evaluate)

How. Each agent starts from its own trainer's freshly initialised state — weights, optimizer slots, the
sampling and shuffling generators, the environments, its γ, λ and learning rate: its solo run's start.
Then, in one of two ways:

- Side by side (A2C, or PPO whose minibatch size divides its rollout; the package's MLPs and no running
  statistics: `tf_gae.agent_axis.refusal`): the
  agents' states are stacked along a leading agent axis and one compiled program trains them all at once
  (:class:`tf_gae.agent_axis.AgentAxis`): one batched matmul per layer, one environment step for every
  agent's environments, each agent's own random streams, γ, λ, learning rate, means, gradient clipping and
  optimizer step. Agent k's progress rows are its solo run's to float32 rounding (XLA adds a batched
  program's terms in another order); computing in float64 they are equal bit for bit (tests/test_agent_axis.py).
- One after another (every other sweep, PPO's unless asked otherwise: SIDE_BY_SIDE_BY_DEFAULT, or
  `agent_axis=False`): the settings a sweep varies are variables of
  the trainer's graph (`Trainer.hyperparameters`), so a host trainer compiles one program and each agent's
  state is loaded into it (`Trainer.load_state`), trained to its end there, and copied back: agent k's run
  is the solo run `tf_gae.train(env, seed=k, lam=...)` number for number (tests/test_sweep.py).

Either way compilation is paid once, and with `out_dir` each agent writes the same run directory as
`tf_gae.train` (config.json, progress.csv, checkpoints/, tb/, its learning curve), which `tf-gae train
--resume` continues; it is checkpointed at most every CHECKPOINT_EVERY_S seconds and at its end, not with
every row. The sweep adds `summary.csv` and `sweep.png` (median and interquartile band over seeds, one
curve per setting).

An agent whose loss or weights become NaN or infinite (TrainingDiverged in a solo run) is recorded as
diverged, with the reason, and the sweep goes on with the others: one after another the next agent loads
its own state; side by side the program never mixes agents, so the diverged agent's NaNs stay in its own
slices while it stops writing rows and checkpoints (tests/test_sweep.py checks a neighbour's rows against
its solo run in float64).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from tf_gae.config import SWEEPABLE, ConfigError

__all__ = ["sweep", "Sweep", "SweepAgent", "SUMMARY_COLUMNS", "SIDE_BY_SIDE_BY_DEFAULT", "agent_name"]

SUMMARY_COLUMNS = [
    "name", "seed", *SWEEPABLE, "env_steps", "episodes", "final_return_mean", "last_quarter_return_mean",
    "wall_time_s", "run_dir", "diverged",
]  # fmt: skip
"""summary.csv: one row per agent. `final_return_mean` is its last progress row's episode_return_mean,
`last_quarter_return_mean` the mean of episode_return_mean over its last quarter of rows (NaN rows skipped),
`wall_time_s` its own training time (side by side: the whole training's time divided by the agents),
`diverged` empty for an agent that trained to its end, else why it stopped (its loss or weights became NaN
or infinite; its rows and checkpoints are those from before)."""

_SYMBOLS = {"gamma": "γ", "lam": "λ", "learning_rate": "lr"}

SIDE_BY_SIDE_BY_DEFAULT = ("a2c",)
"""The algorithms whose sweeps train side by side unless told otherwise (agent_axis=None). PPO's agents can
(agent_axis=True); they stay one after another by default because benchmarks/agents.py measured them slower
side by side on two cores (README): PPO's update is a few large minibatch steps, not A2C's many small
kernels, and one after another each agent is its solo run bit for bit."""

CHECKPOINT_EVERY_S = 10.0
"""An agent's run directory gets a checkpoint with a progress row at most this often, and with its last row.
A short agent's run takes a second or two, and a checkpoint with each of its rows cost as much as its
training; a resumed agent (`tf-gae train --resume`) continues from its newest checkpoint, its later rows cut."""


@dataclass
class SweepAgent:
    """One agent of a sweep: its grid values, its seed, the trained agent and its progress rows."""

    settings: dict[str, float]  # the grid's value of each swept setting, for this agent
    seed: int
    config: Any  # its configuration (the algorithm's, e.g. tf_gae.trainers.A2CConfig)
    agent: Any  # tf_gae.api.Agent (predict, evaluate); None if it diverged
    rows: list[dict[str, Any]]  # its progress rows (= its progress.csv when written)
    run_dir: Path | None
    wall_time_s: float
    diverged: str = ""  # why it stopped before its end (TrainingDiverged's message); "" if it did not

    @property
    def name(self) -> str:
        return agent_name(self.settings, self.seed)

    def summary(self) -> dict[str, Any]:
        """Its summary.csv row (SUMMARY_COLUMNS)."""
        returns = np.array([row["episode_return_mean"] for row in self.rows], np.float64)
        last_quarter = returns[len(returns) - max(1, len(returns) // 4) :]
        last_quarter = last_quarter[np.isfinite(last_quarter)]
        last = self.rows[-1] if self.rows else {}
        return dict(
            name=self.name,
            seed=self.seed,
            **{name: getattr(self.config, name) for name in SWEEPABLE},
            env_steps=last.get("env_steps", 0),
            episodes=sum(row["episodes"] for row in self.rows),
            final_return_mean=last.get("episode_return_mean", math.nan),
            last_quarter_return_mean=float(last_quarter.mean()) if last_quarter.size else math.nan,
            wall_time_s=round(self.wall_time_s, 3),
            run_dir="" if self.run_dir is None else str(self.run_dir),
            diverged=self.diverged,
        )


@dataclass
class Sweep:
    """What :func:`sweep` returns: every agent in grid order (settings first, then seeds), and where it wrote."""

    agents: list[SweepAgent]
    out_dir: Path | None
    wall_time_s: float  # the whole sweep, construction and compilation included
    agent_axis: bool = False  # the agents trained side by side along an agent axis (else one after another)

    def summary(self) -> list[dict[str, Any]]:
        return [agent.summary() for agent in self.agents]

    def groups(self) -> dict[str, list[SweepAgent]]:
        """The agents of each setting (grid point), keyed by its label, e.g. "λ=0.9"."""
        groups: dict[str, list[SweepAgent]] = {}
        for agent in self.agents:
            groups.setdefault(setting_label(agent.settings), []).append(agent)
        return groups


def agent_name(settings: dict[str, float], seed: int) -> str:
    """The agent's folder name: its settings and seed, e.g. "lam=0.9__s3" (or "s3" with no grid)."""
    parts = ",".join(f"{name}={value:g}" for name, value in settings.items())
    return f"{parts}__s{seed}" if parts else f"s{seed}"


def setting_label(settings: dict[str, float]) -> str:
    """A grid point for people: "λ=0.9, γ=0.99" ("all agents" with no grid)."""
    return ", ".join(f"{_SYMBOLS.get(name, name)}={value:g}" for name, value in settings.items()) or "all agents"


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    try:
        seeds = list(seeds)
    except TypeError:
        raise ConfigError(f"seeds must be a list of whole numbers, e.g. seeds=range(8), got {seeds!r}") from None
    if not seeds:
        raise ConfigError("seeds is empty; pass at least one seed, e.g. seeds=range(8)")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
            raise ConfigError(f"seeds must be whole numbers in [0, 2^31), got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(
            f"seeds repeat ({seeds}); each seed once (an agent with the same seed and settings is the same run)", ("seeds",)
        )
    return [int(seed) for seed in seeds]


def _check_grid(grid: dict[str, Any] | None) -> dict[str, list[float]]:
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise ConfigError(f"grid must be a dict of setting → list of values, e.g. {{'lam': [0.9, 1.0]}}, got {grid!r}")
    checked = {}
    for name, values in grid.items():
        if name not in SWEEPABLE:
            raise ConfigError(
                f"grid can vary {', '.join(SWEEPABLE)} (one compiled program takes them as variables), not {name!r}; "
                "for other settings run one sweep per value"
            )
        values = list(values) if isinstance(values, (list, tuple, range, np.ndarray)) else [values]
        if not values:
            raise ConfigError(f"{name} has no value in the grid; give it at least one", (name,))
        if len(set(values)) != len(values):
            raise ConfigError(f"{name} repeats a value in the grid ({values}); give each value once", (name,))
        checked[name] = [float(value) for value in values]
    return checked


def sweep(
    env: str = "CartPole-v1",
    algo: str | None = None,
    *,
    seeds: Iterable[int] = (0,),
    grid: dict[str, Iterable[float]] | None = None,
    out_dir: str | Path | None = None,
    eval_episodes: int = 0,
    progress: bool = True,
    agent_axis: bool | None = None,
    **hyperparameters: Any,
) -> Sweep:
    """Train every combination of `seeds` × `grid` as independent agents through one compiled program.

    Args:
      env: an id with an in-graph version (`tf_gae.envs.registered()`: CartPole-v1, Acrobot-v1, Pendulum-v1,
        MountainCar-v0, MountainCarContinuous-v0); sweeps run with the environment in the graph.
      algo: "ppo" (default), "a2c" or "reinforce".
      seeds: the seeds of every grid point, e.g. range(20).
      grid: setting → values, over `gamma`, `lam` and `learning_rate` (every combination is a grid point).
      out_dir: a new (or empty) folder: one run directory per agent, named like "lam=0.9__s3", plus
        summary.csv and sweep.png. None keeps everything in memory.
      eval_episodes: deterministic evaluation episodes of each agent at its end (eval.json), 0 = none.
      progress: a progress bar or one line per agent on stderr, and a summary.
      agent_axis: True: train the agents side by side along an agent axis when they allow it (A2C or PPO,
        the package's MLPs, no running statistics: :func:`tf_gae.agent_axis.refusal`); False: one after
        another; None (default): side by side for the algorithms of SIDE_BY_SIDE_BY_DEFAULT (A2C), where
        they allow it, one after another for the others.
      **hyperparameters: the settings every agent shares (fields of the algorithm's configuration).

    Returns:
      A :class:`Sweep`: `agents` (settings, seed, configuration, the trained `Agent`, progress rows, and why
      it diverged if it did: its `Agent` is then None and its run directory keeps its last good checkpoint),
      `summary()`.

    Raises:
      ConfigError (ValueError): a bad seed, grid, hyperparameter or environment, before anything is written.
    """
    from tf_gae.api import DEFAULT_ALGO, make_config

    started = time.perf_counter()
    algo = algo or DEFAULT_ALGO
    seeds = _check_seeds(seeds)
    grid = _check_grid(grid)
    for name in ("seed", "env_id"):
        if name in hyperparameters:
            fix = "pass seeds=[...]" if name == "seed" else "pass the environment as env"
            raise ConfigError(f"{name} is not a shared hyperparameter of a sweep; {fix}")
    for name in grid:
        if name in hyperparameters:
            raise ConfigError(f"{name} is both in grid and given as {name}={hyperparameters[name]!r}; give it once")
    if agent_axis is not None and not isinstance(agent_axis, bool):
        raise ConfigError(f"agent_axis must be True, False or None (the algorithm's default), got {agent_axis!r}")
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
        raise ConfigError(f"eval_episodes must be a whole number ≥ 0, got {eval_episodes!r}")
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]  # every grid point
    plan = [(settings, seed) for settings in points for seed in seeds]
    configs = [make_config(algo, dict(hyperparameters, env_id=env, seed=seed, **settings)) for settings, seed in plan]
    if configs[0].backend != "tensorflow":
        from tf_gae.envs import registered

        raise ConfigError(
            f"a sweep runs with the environment in the graph: {env!r} "
            + ("is asked for with env_backend 'gymnasium'" if env in registered() else "has no in-graph version")
            + f"; sweep one of {', '.join(registered())}, or train runs one by one with tf_gae.train",
            ("env_backend",),
        )
    out = None
    if out_dir is not None:
        from tf_gae.runs import RunDirectory

        out = RunDirectory.check_new(out_dir)
        for settings, seed in plan:
            RunDirectory.check_new(out / agent_name(settings, seed))

    say = (lambda text: print(f"tf-gae sweep: {text}", file=sys.stderr, flush=True)) if progress else (lambda text: None)
    shape = " × ".join(
        [f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}"]
        + [f"{len(values)} {_SYMBOLS.get(name, name)}" for name, values in grid.items()]
    )
    from tf_gae.agent_axis import refusal
    from tf_gae.trainers import ALGORITHMS

    trainer_class = ALGORITHMS[algo][1]
    trainers = [trainer_class(config) for config in configs]  # each agent's initial state: its solo run's start
    if agent_axis is False:
        reason = "as asked"
    elif agent_axis is None and algo not in SIDE_BY_SIDE_BY_DEFAULT:
        reason = f"{algo}'s default; agent_axis=True or --side-by-side trains them side by side"
    else:
        reason = refusal(trainers)  # None where they can train side by side
    how = "side by side along an agent axis" if reason is None else f"one after another ({reason})"
    say(
        f"{len(plan)} agents ({shape}) of {algo} on {env}, {trainers[0].planned_steps:,} env steps each "
        f"({trainers[0].describe_rollout()} per update), {how}{'' if out is None else f', into {out}'}"
    )
    run_dirs = [None if out is None else out / agent_name(settings, seed) for settings, seed in plan]
    try:
        train = _train_side_by_side if reason is None else _train_one_by_one
        agents = train(algo, plan, configs, trainers, run_dirs, eval_episodes, say, progress)
    finally:
        for trainer in trainers:
            trainer.close()
    result = Sweep(agents, out, time.perf_counter() - started, reason is None)
    summaries = {agent.name: agent.summary() for agent in agents}  # once: the console and summary.csv read them
    total_steps = sum(summary["env_steps"] for summary in summaries.values())
    # each setting's agents that trained to their end, and how many of its agents diverged
    finished = {label: ([m for m in members if not m.diverged], sum(1 for m in members if m.diverged))
                for label, members in result.groups().items()}  # fmt: skip
    if out is not None:
        _write_summary(list(summaries.values()), out / "summary.csv")
        written = f"; wrote {out / 'summary.csv'}" + _plot(finished, out / "sweep.png", env, algo, len(seeds))
    else:
        written = ""
    lost = sum(count for _, count in finished.values())
    say(
        f"{len(agents)} agents{f' ({lost} diverged)' if lost else ''}, {total_steps:,} env steps in "
        f"{result.wall_time_s:.1f} s ({total_steps / result.wall_time_s:,.0f} env steps/s, compilation included){written}"
    )
    for label, (members, diverged_here) in finished.items():
        late = np.array([summaries[m.name]["last_quarter_return_mean"] for m in members], np.float64)
        late = late[np.isfinite(late)]
        lost_here = f"; {diverged_here} diverged" if diverged_here else ""
        if late.size:
            low, median, high = np.percentile(late, [25, 50, 75])
            say(f"  {label}: return over the last quarter, median {median:.1f} (interquartile {low:.1f}–{high:.1f}, "
                f"{late.size} seed{'s' if late.size > 1 else ''}{lost_here})")  # fmt: skip
        elif lost_here:
            say(f"  {label}: every seed diverged")
    return result


def _plot(finished: dict[str, tuple[list[SweepAgent], int]], path: Path, env: str, algo: str, num_seeds: int) -> str:
    """sweep.png of the agents that trained to their end (`finished`: setting → those agents, and how many
    diverged), one curve per setting; what was written, for the console: " and <path>", or why no figure."""
    from tf_gae.api import reward_threshold
    from tf_gae.plotting import plot_sweep

    groups = {label + (f", {lost} diverged" if lost else ""): [m.run_dir for m in members]
              for label, (members, lost) in finished.items() if members}  # fmt: skip
    if not groups:
        return ", and no sweep.png: every agent diverged"
    title = f"{env} — {algo}: {len(groups)} setting{'s' if len(groups) > 1 else ''} × {num_seeds} seeds"
    all_diverged = [label for label, (members, _) in finished.items() if not members]
    if all_diverged:  # the legend hides nothing: a setting without a curve is named
        title += f"\nnot shown, every seed diverged: {', '.join(all_diverged)}"
    try:
        plot_sweep(groups, path, title=title, threshold=reward_threshold(env))
    except ValueError as error:  # e.g. agents too short for their curves to share a range of env steps
        return f", and no sweep.png: {error}"
    return f" and {path}"



def _train_one_by_one(
    algo: str, plan: list[tuple[dict[str, float], int]], configs: list[Any], trainers: list[Any],
    run_dirs: list[Path | None], eval_episodes: int, say: Callable[[str], None], progress: bool,
) -> list[SweepAgent]:
    """Every agent in turn through one host trainer's compiled program: its initial state loaded into the
    host (`Trainer.load_state`), trained to its end there, and copied back; its run is its solo run exactly.
    An agent that diverges is recorded as such and the next one goes on (each starts from its own state)."""
    from tf_gae.api import Agent, _train
    from tf_gae.trainers import TrainingDiverged

    host = trainers[0].__class__(configs[0])  # its program is compiled on its first call and serves every agent
    agents: list[SweepAgent] = []
    try:
        for index, ((settings, seed), config, own, run_dir) in enumerate(zip(plan, configs, trainers, run_dirs)):
            agent_started = time.perf_counter()
            host.load_state(own)
            rows: list[dict[str, Any]] = []
            try:
                _train(algo, config, None, run_dir, eval_episodes, False, None, trainer=host, rows=rows,
                       checkpoint_every_s=CHECKPOINT_EVERY_S)  # fmt: skip
            except TrainingDiverged as error:
                trained, diverged = None, str(error)
            else:
                own.load_state(host)  # its final state, in its own trainer, for its Agent
                trained, diverged = Agent(own.model, config, algo, int(own.env_steps.numpy()), run_dir), ""
            seconds = time.perf_counter() - agent_started
            agent = SweepAgent(settings, seed, config, trained, rows, run_dir, seconds, diverged)
            agents.append(agent)
            late = agent.summary()["last_quarter_return_mean"]
            outcome = f"diverged: {diverged}" if diverged else f"return {late:.1f} over its last quarter"
            say(f"[{index + 1}/{len(plan)}] {agent.name}: {outcome} ({seconds:.1f} s)")
    finally:
        host.close()
    return agents


def _train_side_by_side(
    algo: str, plan: list[tuple[dict[str, float], int]], configs: list[Any], trainers: list[Any],
    run_dirs: list[Path | None], eval_episodes: int, say: Callable[[str], None], progress: bool,
) -> list[SweepAgent]:
    """Every agent at once along an agent axis (:class:`tf_gae.agent_axis.AgentAxis`), each writing its own
    run directory as `tf_gae.train` would; an agent's wall time is its share of the whole. An agent that
    diverges stops writing (no checkpoint of its non-finite state) while the others go on."""
    from tf_gae.agent_axis import AgentAxis
    from tf_gae.api import (Agent, ProgressBar, TrainingInterrupted, _create_run, _finish_run,
                            _interrupt_between_chunks, _Recording)  # fmt: skip
    from tf_gae.trainers import TrainingDiverged

    started = time.perf_counter()
    axis = AgentAxis(trainers)
    rows: list[list[dict[str, Any]]] = [[] for _ in plan]
    runs, recordings = [], []
    for trainer, config, run_dir, agent_rows in zip(trainers, configs, run_dirs, rows):
        run, checkpoints = (None, None) if run_dir is None else _create_run(algo, config, trainer, run_dir)
        runs.append(run)  # a checkpoint with a row is saved from the agent's trainer, brought up to date first
        recordings.append(_Recording(run, checkpoints, trainer.progress_columns, CHECKPOINT_EVERY_S, agent_rows, axis.unload))
    diverged: dict[int, str] = {}  # agent → why it stopped

    def on_diverged(index: int, error: TrainingDiverged) -> None:
        diverged[index] = str(recordings[index].diverged(error))

    bar = ProgressBar(trainers[0].planned_steps) if progress else None
    try:
        with _interrupt_between_chunks() as interrupted:
            axis.train(on_row=lambda k, row: recordings[k].on_row(row), on_update=bar and bar.update,
                       should_stop=interrupted, on_diverged=on_diverged)  # fmt: skip
        for index, recording in enumerate(recordings):
            if index not in diverged:
                recording.end()
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted at {int(axis.env_steps.numpy()):,} env steps of every agent; each run directory keeps its "
            "last checkpoint and continues with: tf-gae train --resume --run-dir DIR"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        for recording in recordings:
            recording.close()
    share = (time.perf_counter() - started) / len(plan)
    agents = []
    for index, ((settings, seed), config, trainer, run, run_dir, agent_rows) in enumerate(
        zip(plan, configs, trainers, runs, run_dirs, rows)
    ):
        trained = None
        if index in diverged:
            say(f"{agent_name(settings, seed)} diverged: {diverged[index]}")
        else:
            trained = Agent(trainer.model, config, algo, int(trainer.env_steps.numpy()), run_dir)
            _finish_run(trained, run, eval_episodes, lambda text: None)
        if run is not None:
            run.unlock()
        agents.append(SweepAgent(settings, seed, config, trained, agent_rows, run_dir, share, diverged.get(index, "")))
    return agents


def _write_summary(summaries: list[dict[str, Any]], path: Path) -> None:
    from tf_gae.runs import _atomic_write_text

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summaries:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    _atomic_write_text(path, text.getvalue())
