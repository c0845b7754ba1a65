"""Our trainers beside Stable-Baselines3 on RL Zoo's tuned settings: throughput and returns.

    python -m benchmarks.agents [--seeds 0,1,2,3,4] [--workers 2] [--configs a2c_cartpole,ppo_cartpole,ppo_pendulum]
                                [--out-dir benchmarks/results] [--skip-throughput]

Needs `pip install ".[bench]"` (Stable-Baselines3, which brings PyTorch).

Configurations (RL Zoo's hyperparameters; both libraries get the same ones, the same seeds and budgets):
- A2C CartPole-v1: 8 envs, n_steps 5, γ 0.99, λ 1.0, RMSprop lr 7e-4; budget 100,000 env steps.
- PPO CartPole-v1: 8 envs, n_steps 32, minibatch 256, λ 0.8, γ 0.98, 20 epochs, lr 1e-3 → 0 and clip
  0.2 → 0 linearly; budget 49,920 env steps (195 rollouts; the largest whole number within 50k).
- PPO Pendulum-v1: 4 envs, n_steps 1024, minibatch 64, λ 0.95, γ 0.9, 10 epochs, lr 1e-3, clip 0.2;
  budget 196,608 env steps (48 rollouts within 200k). The zoo adds gSDE (state-dependent exploration,
  SB3 only); SB3 is run both without it (the same algorithm as ours) and with it, and says so.
Common: separate 64-64 tanh MLPs, orthogonal init, value coefficient 0.5, entropy 0, grad-norm clip 0.5.
tf_gae runs twice: with the task in the graph (tf_gae.envs, its default for these ids: each training call
between two progress rows is one XLA program) and with gymnasium's environments (`env_backend="gymnasium"`,
stepped in Python as SB3 steps them).

Measured:
1. Throughput — one process, one run at a time, ours and SB3 alternating, 5 repeats of a throughput budget
   after a warm-up; medians and ratios. A2C's is its whole budget: a fifth of it is ten training calls of
   ours, over too soon to time (one scheduling hiccup would move the rate by tens of percent). Each run's
   wall time is split the same way for both libraries into setup (construction plus the first update:
   ours traces and XLA-compiles its graphs there) and the training rate after it (env steps per second);
   the end-to-end rate, setup included, is reported too. Each library runs with one intra-op thread, its
   fastest setting for networks this small (torch with 2 threads was erratic on this machine, 10–60×
   slower at times).
   Then sweeps (A2C and PPO on CartPole-v1): tf_gae.sweep of 8 λ × 4 seeds at the full budget, side by
   side and one after another, alternating, wall time from the call to its return.
2. Returns — every (configuration, library, seed) trains to the full budget in its own process (`--workers`
   at once; wall time does not matter here). Evaluation: deterministic policy (argmax / mean), 20 episodes
   seeded 10,000…10,019, at 10 evenly spaced budgets after whole updates; evaluation time is not training
   time. Per-run results are cached as JSON under `<out-dir>/agents_runs/`, so an interrupted run resumes.
Writes `<out-dir>/agents.md` (tables) and `<out-dir>/agents.png` (learning curves: median and interquartile
band over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

# torch's compiler stack (torch._dynamo, which loads triton's native library) must be loaded BEFORE
# TensorFlow: loaded after it, it segfaults (TF 2.21 + torch 2.14 here). SB3's optimizers import
# torch._dynamo lazily, so it is imported up front, then TensorFlow.
import torch  # noqa: E402,I001
import torch._dynamo  # noqa: E402,F401

import tf_gae._tf  # noqa: E402,F401

EVAL_EPISODES = 20
EVAL_SEED = 10_000
NUM_EVAL_POINTS = 10

CONFIGS: dict[str, dict[str, Any]] = {
    "a2c_cartpole": dict(
        algo="a2c", env_id="CartPole-v1", budget=100_000, throughput_budget=100_000,
        num_envs=8, n_steps=5, gamma=0.99, lam=1.0, learning_rate=7e-4,
    ),
    "ppo_cartpole": dict(
        algo="ppo", env_id="CartPole-v1", budget=49_920, throughput_budget=20_480,
        num_envs=8, n_steps=32, batch_size=256, gamma=0.98, lam=0.8, n_epochs=20, learning_rate=1e-3,
        clip_range=0.2, anneal=True,
    ),
    "ppo_pendulum": dict(
        algo="ppo", env_id="Pendulum-v1", budget=196_608, throughput_budget=49_152,
        num_envs=4, n_steps=1024, batch_size=64, gamma=0.9, lam=0.95, n_epochs=10, learning_rate=1e-3,
        clip_range=0.2, anneal=False,
    ),
}  # fmt: skip
OURS = ["tf_gae", "tf_gae_gymnasium"]  # environments in the graph (the default for these ids); gymnasium's
LIBRARIES = {
    "a2c_cartpole": [*OURS, "sb3"], "ppo_cartpole": [*OURS, "sb3"], "ppo_pendulum": [*OURS, "sb3", "sb3_gsde"],
}  # fmt: skip
LABELS = {
    "tf_gae": "tf_gae, env in the graph", "tf_gae_gymnasium": "tf_gae, gymnasium env", "sb3": "Stable-Baselines3",
    "sb3_gsde": "Stable-Baselines3 + gSDE (zoo)",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------- evaluation


def evaluate(act: Callable[[np.ndarray], np.ndarray], env_id: str) -> float:
    """Mean return of the deterministic policy over EVAL_EPISODES seeded episodes (same protocol for both)."""
    from tf_gae.runs import episode_returns

    return float(np.mean(episode_returns(act, env_id, EVAL_EPISODES, EVAL_SEED)))


def eval_points(spec: dict[str, Any]) -> list[int]:
    per_update = spec["num_envs"] * spec["n_steps"]
    updates = spec["budget"] // per_update
    return sorted({round(updates * k / NUM_EVAL_POINTS) * per_update for k in range(1, NUM_EVAL_POINTS + 1)})


# ---------------------------------------------------------------------------------------------- the two libraries


class Setup:
    """Splits a run's wall time into one-time setup and the steady training rate, the same way for both
    libraries: setup = construction + first update (ours traces and XLA-compiles its graphs there, SB3
    builds its networks); rate = env steps after the first update ÷ the time they took."""

    def __init__(self, started: float, spec: dict[str, Any]) -> None:
        self.started = started
        self.first_update_done: float | None = None
        self.steps_per_update = spec["num_envs"] * spec["n_steps"]

    def update_done(self) -> None:
        if self.first_update_done is None:
            self.first_update_done = time.perf_counter()

    def finish(self, steps: int) -> dict[str, float]:
        ended = time.perf_counter()
        return dict(
            setup_s=self.first_update_done - self.started,
            steps_per_s=(steps - self.steps_per_update) / (ended - self.first_update_done),
            end_to_end_s=ended - self.started,
        )


def train_ours(spec: dict[str, Any], seed: int, budget: int, points: list[int] | None, env_backend: str):
    """Train tf_gae's trainer on `env_backend`'s environments; returns (train seconds, env steps, eval curve
    [(env_steps, return)], timing)."""
    from tf_gae._tf import tf
    from tf_gae.trainers import A2CConfig, A2CTrainer, PPOConfig, PPOTrainer

    constructed = time.perf_counter()
    config = (A2CConfig if spec["algo"] == "a2c" else PPOConfig)(
        **trainer_settings(spec), env_id=spec["env_id"], total_steps=budget, seed=seed, lam=spec["lam"],
        env_backend=env_backend,
        # A progress row after every update where the curve is evaluated at fixed budgets; otherwise the
        # library's default of one row per ~2,000 steps (SB3 logs every 100 A2C / 1 PPO update by default).
        log_every_steps=spec["num_envs"] * spec["n_steps"] if points else 2_000,
    )  # fmt: skip
    trainer = (A2CTrainer if spec["algo"] == "a2c" else PPOTrainer)(config)
    setup = Setup(constructed, spec)
    mode = tf.function(lambda obs: trainer.model.mode(obs), reduce_retracing=True)
    act = lambda observations: mode(tf.constant(observations)).numpy()  # noqa: E731  batched
    curve: list[tuple[int, float]] = []
    eval_seconds = 0.0
    pending = list(points or [])

    def on_row(row: dict[str, Any]) -> None:
        nonlocal eval_seconds
        if pending and row["env_steps"] >= pending[0]:
            pending.pop(0)
            start = time.perf_counter()
            curve.append((int(row["env_steps"]), evaluate(act, spec["env_id"])))
            eval_seconds += time.perf_counter() - start

    start = time.perf_counter()
    trainer.train(on_row=on_row, on_update=lambda steps, recent: setup.update_done())
    seconds = time.perf_counter() - start - eval_seconds
    steps = int(trainer.env_steps.numpy())
    trainer.close()
    return seconds, steps, curve, setup.finish(steps)


def train_sb3(spec: dict[str, Any], seed: int, budget: int, points: list[int] | None, gsde: bool = False):
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)  # torch with 2 threads is erratic here (10–60× slower at times); 1 is its best
    setup = Setup(time.perf_counter(), spec)
    env = make_vec_env(spec["env_id"], n_envs=spec["num_envs"], seed=seed)
    common = dict(
        n_steps=spec["n_steps"], gamma=spec["gamma"], gae_lambda=spec["lam"], ent_coef=0.0, vf_coef=0.5,
        max_grad_norm=0.5, seed=seed, device="cpu", verbose=0,
    )  # fmt: skip
    if spec["algo"] == "a2c":
        model = A2C("MlpPolicy", env, learning_rate=spec["learning_rate"], **common)
    else:
        linear = lambda start: (lambda remaining: remaining * start)  # noqa: E731  SB3 schedules get 1 → 0
        extra = dict(use_sde=True, sde_sample_freq=4) if gsde else {}
        model = PPO(
            "MlpPolicy", env, batch_size=spec["batch_size"], n_epochs=spec["n_epochs"],
            learning_rate=linear(spec["learning_rate"]) if spec["anneal"] else spec["learning_rate"],
            clip_range=linear(spec["clip_range"]) if spec["anneal"] else spec["clip_range"], **common, **extra,
        )  # fmt: skip
    act = lambda observations: model.predict(observations, deterministic=True)[0]  # noqa: E731  batched
    curve: list[tuple[int, float]] = []
    pending = list(points or [])

    class EvalAtBudgets(BaseCallback):
        eval_seconds = 0.0

        def _on_rollout_start(self) -> None:  # after the previous update: same moment as our progress rows
            if self.num_timesteps > 0:
                setup.update_done()
            if pending and self.num_timesteps >= pending[0]:
                pending.pop(0)
                start = time.perf_counter()
                curve.append((int(self.num_timesteps), evaluate(act, spec["env_id"])))
                EvalAtBudgets.eval_seconds += time.perf_counter() - start

        def _on_step(self) -> bool:
            return True

    callback = EvalAtBudgets()
    start = time.perf_counter()
    model.learn(budget, callback=callback)
    seconds = time.perf_counter() - start - EvalAtBudgets.eval_seconds
    if pending and model.num_timesteps >= pending[0]:  # the final budget, after the last update
        curve.append((int(model.num_timesteps), evaluate(act, spec["env_id"])))
    env.close()
    return seconds, int(model.num_timesteps), curve, setup.finish(int(model.num_timesteps))


def run(config: str, library: str, seed: int, budget: int | None = None, evaluate_curve: bool = True):
    spec = CONFIGS[config]
    budget = spec["budget"] if budget is None else budget
    points = eval_points(spec) if evaluate_curve else None
    if library in OURS:
        return train_ours(spec, seed, budget, points, "tensorflow" if library == "tf_gae" else "gymnasium")
    return train_sb3(spec, seed, budget, points, gsde=library == "sb3_gsde")


# ---------------------------------------------------------------------------------------------- phases


def throughput_phase(configs: list[str], repeats: int = 5) -> dict[str, dict[str, list[dict[str, float]]]]:
    from tf_gae.parallel import one_thread_each

    one_thread_each()  # must precede TensorFlow's first op (main() calls this phase before anything else runs)
    timings: dict[str, dict[str, list[dict[str, float]]]] = {}
    for config in configs:
        spec = CONFIGS[config]
        timings[config] = {library: [] for library in LIBRARIES[config]}
        for library in LIBRARIES[config]:  # warm-up: imports, torch's first calls
            run(config, library, seed=100, budget=spec["num_envs"] * spec["n_steps"] * 2, evaluate_curve=False)
        for repeat in range(repeats):
            for library in LIBRARIES[config]:
                *_, timing = run(config, library, seed=repeat, budget=spec["throughput_budget"], evaluate_curve=False)
                timings[config][library].append(timing)
                print(
                    f"  throughput {config} {library} #{repeat}: {timing['steps_per_s']:,.0f} steps/s after "
                    f"{timing['setup_s']:.2f} s of setup",
                    file=sys.stderr,
                    flush=True,
                )
    return timings


SWEEP_LAMBDAS = (0.8, 0.9, 0.92, 0.95, 0.97, 0.98, 0.99, 1.0)
SWEEP_SEEDS = 4


def trainer_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """A configuration's hyperparameters as our trainers' configs take them, λ, budget and seed aside (each
    run and each sweep gives those its own)."""
    settings = dict(
        num_envs=spec["num_envs"], n_steps=spec["n_steps"], gamma=spec["gamma"], learning_rate=spec["learning_rate"],
        value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5,
    )  # fmt: skip
    if spec["algo"] == "a2c":
        return dict(settings, optimizer="rmsprop", normalize_advantages=False)
    return dict(settings, optimizer="adam", minibatch_size=spec["batch_size"], n_epochs=spec["n_epochs"],
                clip_range=spec["clip_range"], anneal_lr=spec["anneal"], anneal_clip=spec["anneal"])  # fmt: skip


def sweep_phase(config: str) -> dict[str, Any]:
    """tf_gae.sweep of 8 λ × 4 seeds of a configuration (its settings, the full budget each), written to a
    temporary folder as a user's would be: wall time from the call to its return, compilation included. Three
    sweeps alternate in this process: side by side (agent_axis=True), one after another (agent_axis=False), side
    by side again; the report gives the median of the two side-by-side times and the one-after-another time."""
    import tempfile

    import tf_gae

    spec = CONFIGS[config]
    times: dict[bool, list[float]] = {True: [], False: []}
    for agent_axis in (True, False, True):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = tf_gae.sweep(spec["env_id"], spec["algo"], seeds=range(SWEEP_SEEDS),
                                  grid={"lam": list(SWEEP_LAMBDAS)}, out_dir=Path(folder) / "sweep", progress=False,
                                  agent_axis=agent_axis, total_steps=spec["budget"],
                                  **trainer_settings(spec))  # fmt: skip
            times[agent_axis].append(time.perf_counter() - started)
            assert result.agent_axis == agent_axis, "the sweep did not train the way it was asked to"
        seconds = times[agent_axis][-1]
        print(f"  {config} sweep (agent_axis={agent_axis}): {len(result.agents)} agents in {seconds:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    steps = sum(agent.summary()["env_steps"] for agent in result.agents)
    late = {
        label: [m.summary()["last_quarter_return_mean"] for m in members] for label, members in result.groups().items()
    }
    return dict(agents=len(result.agents), env_steps=steps, seconds=statistics.median(times[True]),
                seconds_one_by_one=times[False][0], last_quarter_returns=late)  # fmt: skip


SWEEP_CONFIGS = ("a2c_cartpole", "ppo_cartpole")
"""The configurations the benchmark sweeps (rates["sweep"][config])."""


def returns_phase(configs: list[str], seeds: list[int], workers: int, cache: Path) -> dict[tuple[str, str, int], dict]:
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(c, lib, s) for c in configs for lib in LIBRARIES[c] for s in seeds]

    def job(item):
        config, library, seed = item
        path = cache / f"{config}__{library}__s{seed}.json"
        if not path.exists():
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "benchmarks.agents", "--job", f"{config},{library},{seed}", "--job-out", str(path)],
                check=True,
            )
            print(f"  {config} {library} seed {seed}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        return item, json.loads(path.read_text())

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(job, jobs))


# ---------------------------------------------------------------------------------------------- report


def summarise(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}, {max(values):.1f}]"


def report(configs, seeds, rates, results, out_dir: Path) -> str:
    import tensorflow as tf
    import torch
    import stable_baselines3

    lines = [
        f"Same machine ({platform.machine()}, {os.cpu_count()} cores), Python {platform.python_version()}, TensorFlow "
        f"{tf.__version__}, torch {torch.__version__}, Stable-Baselines3 {stable_baselines3.__version__}. "
        f"Seeds {', '.join(map(str, seeds))}. Evaluation: deterministic policy, {EVAL_EPISODES} episodes seeded "
        f"{EVAL_SEED}+i; returns are median [min, max] over seeds.",
        "",
    ]
    if rates:
        each = [f"{CONFIGS[config]['throughput_budget']:,}" for config in configs]
        budgets = " and ".join(filter(None, [", ".join(each[:-1]), each[-1]]))  # "a, b and c"
        lines += [
            "**Throughput** (median of 5 runs, one at a time, one thread each). *Setup* is the one-time cost: "
            "construction plus the first update (ours traces its graphs and XLA-compiles them there: the whole "
            "training call with the env in the graph, the gradient steps with gymnasium's; SB3 builds its "
            "networks). *Steps/s* is the training rate after it. *End to end* is the whole run's rate at the "
            f"throughput budget ({budgets} steps), setup included.",
            "",
            "| configuration | library | steps/s | ÷ SB3 | setup (s) | end to end (steps/s) | ÷ SB3 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for config in configs:
            budget = CONFIGS[config]["throughput_budget"]

            def medians(library: str) -> tuple[float, float, float]:
                runs = rates[config][library]
                return (
                    statistics.median(r["steps_per_s"] for r in runs),
                    statistics.median(r["setup_s"] for r in runs),
                    statistics.median(budget / r["end_to_end_s"] for r in runs),
                )

            sb3_rate, _, sb3_end = medians("sb3")
            for library in LIBRARIES[config]:
                rate, setup, end = medians(library)
                lines.append(
                    f"| {config} | {LABELS[library]} | {rate:,.0f} | {rate / sb3_rate:.2f}× | {setup:.2f} | "
                    f"{end:,.0f} | {end / sb3_end:.2f}× |"
                )
        lines.append("")
    sweeps = {config: rates["sweep"][config] for config in SWEEP_CONFIGS
              if config in rates and config in rates.get("sweep", {})} if rates else {}  # fmt: skip
    if sweeps:
        lambdas = ", ".join(f"{lam:g}" for lam in SWEEP_LAMBDAS)
        lines += [
            f"**Sweeps** — `tf_gae.sweep` of each configuration above (its settings), λ ∈ {{{lambdas}}} × "
            f"{SWEEP_SEEDS} seeds, the configuration's full budget each, trained side by side along the agent axis "
            "(`agent_axis=True`, median of two) and one after another through one program (`agent_axis=False`), every agent's run "
            "directory written: the wall time from the call to its return, construction and compilation included. "
            "SB3 has no sweep; its time is the same env steps at its steady rate above (estimated, not run).",
            "",
            "| configuration | agents | env steps | tf_gae side by side (s) | one after another (s) | env steps/s | "
            "SB3 at its rate (s) | ÷ |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for config, sweep in sweeps.items():
            sb3_rate = statistics.median(r["steps_per_s"] for r in rates[config]["sb3"])
            lines.append(
                f"| {config} | {sweep['agents']} | {sweep['env_steps']:,} | {sweep['seconds']:.1f} | "
                f"{sweep['seconds_one_by_one']:.1f} | {sweep['env_steps'] / sweep['seconds']:,.0f} | "
                f"{sweep['env_steps'] / sb3_rate:,.0f} | {sweep['env_steps'] / sb3_rate / sweep['seconds']:.1f}× |"
            )
        lines.append("")
    lines += ["**Returns at fixed budgets** (deterministic evaluation):", ""]
    for config in configs:
        points = eval_points(CONFIGS[config])
        shown = [points[len(points) // 4 - 1], points[len(points) // 2 - 1], points[-1]]
        lines += [f"*{config}* ({CONFIGS[config]['env_id']}):", ""]
        lines += ["| library | " + " | ".join(f"{p:,} steps" for p in shown) + " |", "|---|" + "---:|" * len(shown)]
        for library in LIBRARIES[config]:
            cells = []
            for point in shown:
                values = [dict(map(tuple, results[(config, library, s)]["curve"])).get(point) for s in seeds]
                values = [v for v in values if v is not None]
                cells.append(summarise(values) if values else "—")
            lines.append(f"| {LABELS[library]} | " + " | ".join(cells) + " |")
        lines.append("")
    table = "\n".join(lines)
    (out_dir / "agents.md").write_text(table + "\n")
    figure(configs, seeds, results, out_dir / "agents.png")
    return table


def figure(configs, seeds, results, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(configs), 4.2))
    FigureCanvasAgg(fig)
    colors = {"tf_gae": "tab:blue", "tf_gae_gymnasium": "tab:purple", "sb3": "tab:orange", "sb3_gsde": "tab:green"}
    for index, config in enumerate(configs):
        axis = fig.add_subplot(1, len(configs), index + 1)
        points = eval_points(CONFIGS[config])
        for library in LIBRARIES[config]:
            curves = [dict(map(tuple, results[(config, library, s)]["curve"])) for s in seeds]
            matrix = np.array([[curve.get(p, np.nan) for p in points] for curve in curves])
            axis.plot(points, np.nanmedian(matrix, axis=0), color=colors[library], label=f"{LABELS[library]} (median)")
            low, high = np.nanpercentile(matrix, [25, 75], axis=0)  # interquartile band over seeds
            axis.fill_between(points, low, high, color=colors[library], alpha=0.2)
        axis.set_title(f"{config.split('_')[0].upper()} on {CONFIGS[config]['env_id']} ({len(seeds)} seeds)")
        axis.set_xlabel("environment steps")
        axis.set_ylabel(f"evaluation return ({EVAL_EPISODES} episodes, deterministic)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    fig.suptitle("tf_gae beside Stable-Baselines3 on RL Zoo settings (line: median; band: interquartile over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--skip-throughput", action="store_true", help="reuse the throughput and sweep timings saved last time")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--job-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:  # a worker: one (configuration, library, seed) to the full budget
        config, library, seed = args.job.split(",")
        seconds, steps, curve, _ = run(config, library, int(seed))
        temporary = args.job_out.with_suffix(".tmp")
        temporary.write_text(json.dumps(dict(seconds=seconds, steps=steps, curve=curve)))
        os.replace(temporary, args.job_out)
        return 0
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown --configs {unknown}; choose from {list(CONFIGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rates_path = args.out_dir / "agents_throughput.json"
    if args.skip_throughput and rates_path.exists():
        rates = json.loads(rates_path.read_text())
    elif args.skip_throughput:
        rates = {}
    else:
        print("benchmark: throughput, one run at a time", file=sys.stderr)
        rates = throughput_phase(configs)
        rates["sweep"] = {}
        for config in (c for c in SWEEP_CONFIGS if c in configs):
            print(f"benchmark: a sweep of {config}, side by side and one after another", file=sys.stderr)
            rates["sweep"][config] = sweep_phase(config)
        rates_path.write_text(json.dumps(rates, indent=1))
    print(f"benchmark: returns, {args.workers} runs at a time", file=sys.stderr)
    results = returns_phase(configs, seeds, args.workers, args.out_dir / "agents_runs")
    print(report(configs, seeds, rates, results, args.out_dir))
    print(f"\nwrote {args.out_dir / 'agents.md'} and {args.out_dir / 'agents.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
