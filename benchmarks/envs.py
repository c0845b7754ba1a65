"""Synchronous against asynchronous vector environments: environment steps per second.

    python -m benchmarks.envs [--repeats 7] [--out benchmarks/results/envs.md]
    python -m benchmarks.envs --quick [--out PATH]      # a tiny run; writes nothing without --out

For each environment (CartPole-v1: cheap; Pendulum-v1: a little costlier; HalfCheetah-v5, MuJoCo: costly)
and n ∈ {2, 4, 8} copies, `make_vector_env(env_id, n, asynchronous=False)` (SyncVectorEnv: every env in
this process, one after another) against `asynchronous=True` (AsyncVectorEnv: one subprocess per env,
actions and results over pipes and shared memory), both with SAME_STEP autoreset, measured two ways:

- raw: `env.step` with random actions sampled beforehand from the seeded action space (the same actions
  for both kinds, so their final observations must agree — checked);
- collector: `RolloutCollector.collect()` with an untrained `build_actor_critic` model, i.e. what training
  sees: the policy in a TensorFlow graph, the environment stepped from it (the same model and seed for
  both kinds, so their rollouts must agree — checked).

Each figure is environment steps (n × vector steps) per second, from the median of `--repeats` timed calls
after a warm-up call, all in one process; TensorFlow gets one intra-op and one inter-op thread. Writes a
markdown table and a paragraph, derived from the numbers, on when each kind wins.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from tf_gae._tf import tf
from tf_gae.measure import vector_env_rates

ENVS = ("CartPole-v1", "Pendulum-v1", "HalfCheetah-v5")
NUM_ENVS = (2, 4, 8)
FULL = dict(num_envs=NUM_ENVS, raw_steps=200, rollout_steps=256)  # vector steps per timed call
QUICK = dict(num_envs=(2,), raw_steps=20, rollout_steps=16)


def use_one_thread() -> None:
    """One intra-op and one inter-op thread for TensorFlow, before its first op."""
    from tf_gae.parallel import one_thread_each

    try:
        one_thread_each()
    except RuntimeError as error:  # the eager context already exists
        raise SystemExit(f"benchmark: could not limit TensorFlow to one thread ({error})") from error


def _busy(iterations: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - start


def effective_parallelism(cores: int, iterations: int = 2_000_000, repeats: int = 3) -> float:
    """How many cores' worth of CPU `cores` busy processes get right now (≤ cores; less on a loaded machine).

    Median over `repeats` of cores × (one process's time alone) ÷ (wall time of `cores` processes at once).
    """
    import multiprocessing

    if cores < 2:
        return 1.0
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        pool.map(_busy, [1000] * cores)  # start the workers
        ratios = []
        for _ in range(repeats):
            alone = _busy(iterations)
            start = time.perf_counter()
            pool.map(_busy, [iterations] * cores, chunksize=1)
            ratios.append(cores * alone / (time.perf_counter() - start))
    return max(1.0, min(float(cores), statistics.median(ratios)))


def overhead_per_env_step(row: dict, parallelism: float) -> float:
    """Seconds the asynchronous kind adds per environment step beyond perfectly parallel physics.

    Sync takes n·c per vector step (c = one env's step); async, with `parallelism` cores' worth of CPU, at best
    n·c / min(n, parallelism). The rest, divided by n, is what the subprocess round trip costs (pipes, shared
    memory, waking the worker, context switches).
    """
    n = row["n"]
    env_step = 1 / row["raw_sync"]  # c, seconds per env step (sync)
    async_vector_step = n / row["raw_async"]
    return (async_vector_step - n * env_step / min(n, parallelism)) / n


def paragraph(rows: list[dict], cores: int, parallelism: float) -> str:
    us = lambda seconds: f"{seconds * 1e6:.0f} µs"  # noqa: E731
    span = lambda values: us(values[0]) if len(values) == 1 else f"{us(min(values))}–{us(max(values))}"  # noqa: E731
    ratio = lambda row, kind: row[f"{kind}_async"] / row[f"{kind}_sync"]  # noqa: E731
    cells = [(row, kind) for row in rows for kind in ("raw", "collector")]
    wins = [(row, kind) for row, kind in cells if ratio(row, kind) > 1]
    best_row, best_kind = max(cells, key=lambda cell: ratio(*cell))
    costs = {}  # seconds per env step, synchronously, at the fastest n
    for row in rows:
        costs[row["env"]] = min(costs.get(row["env"], np.inf), 1 / row["raw_sync"])
    costliest = max(costs, key=costs.get)
    cheapest = [row for row in rows if row["env"] == min(costs, key=costs.get)]
    overheads = [overhead_per_env_step(row, parallelism) for row in cheapest]

    text = [f"**When each wins on {cores} cores.** "]
    if wins:
        won = ", ".join(f"{row['env']} n={row['n']} ({kind})" for row, kind in wins)
        text.append(f"Asynchronous wins in {len(wins)} of {len(cells)} cells ({won}); ")
    else:
        text.append(f"Synchronous wins in all {len(cells)} cells; ")
    text.append(
        f"async's best is {ratio(best_row, best_kind):.2f}× ({best_row['env']}, n={best_row['n']}, {best_kind}). "
        f"One env step costs {', '.join(f'{env} {us(c)}' for env, c in costs.items())} in this process. "
        f"Async must pay for a subprocess round trip on every step — about {span(overheads)} per env step here "
        f"(from {cheapest[0]['env']}: async time minus perfectly parallel sync time, per env"
    )
    if len(overheads) > 1 and overheads[-1] > 1.2 * overheads[0]:
        text.append(f"; more with more envs, as n processes take turns on {cores} cores")
    text.append(
        ") — and can win back at most the part of the physics that runs in parallel: "
        f"{cores} busy processes got {parallelism:.2f} cores' worth of CPU during this run"
    )
    if parallelism < 1.1:
        text.append(
            " (other jobs held the rest), so there was no spare core for async's parallelism to use and it could "
            "only add its overhead. "
        )
    else:
        break_even = [parallelism / (parallelism - 1) * o for o in overheads]
        text.append(
            f", so async breaks even only once one env step costs more than {parallelism / (parallelism - 1):.1f}× "
            f"the overhead, about {span(break_even)}; "
        )
        if costs[costliest] < min(break_even):
            below = "far below" if costs[costliest] < 0.5 * min(break_even) else "below"
            text.append(f"even {costliest} ({us(costs[costliest])}) is {below} that. ")
        else:
            text.append(f"{costliest} ({us(costs[costliest])}) is past it. ")
    closer = [row for row in rows if abs(ratio(row, "collector") - 1) < abs(ratio(row, "raw") - 1)]
    text.append(
        f"In {len(closer)} of {len(rows)} rows the collector's async ÷ sync is closer to 1 than the raw one, as expected: "
        "both kinds also pay the same policy forward pass in the main process, which does not overlap the "
        "environments' work (the collector acts, then waits for the step), so the round trip is a smaller share"
    )
    exceptions = [f"{row['env']} n={row['n']}" for row in rows if row not in closer]
    if exceptions:
        text.append(f" (not in {', '.join(exceptions)}: timings on a loaded machine vary from run to run)")
    text.append(". ")
    if wins:
        text.append("Turn `asynchronous_envs` on only where it wins above.")
    else:
        text.append(
            "So on this shared two-core machine keep `asynchronous_envs` off for these environments: it can pay "
            "only for environments "            "whose step costs several times the round trip (heavier simulators, rendering, pixel observations), "
            "on cores that are actually free."
        )
    return "".join(text)


def markdown(rows: list[dict], settings: dict, repeats: int, load: str, parallelism: tuple[float, float]) -> str:
    try:
        import mujoco  # only for its version; gymnasium[mujoco] is a bench/test extra

        mujoco_version = mujoco.__version__
    except ImportError:
        mujoco_version = "not installed"
    cores = os.cpu_count() or 1
    per_second = lambda x: f"{x:,.0f}"  # noqa: E731
    lines = [
        f"Environment steps per second (n × vector steps ÷ seconds), median of {repeats} timed calls after a warm-up, "
        f"one process, TensorFlow on 1 intra-op / 1 inter-op thread. Raw: {settings['raw_steps']} `env.step` calls "
        f"with seeded random actions per timed call; collector: one `RolloutCollector.collect()` of "
        f"{settings['rollout_steps']} steps with an untrained `build_actor_critic` model. Sync and async outputs were "
        f"checked to agree. {platform.processor() or platform.machine()}, {cores} cores, shared with other jobs: "
        f"load average {load} at start; {cores} busy processes got {parallelism[0]:.2f} cores' worth of CPU before "
        f"the run and {parallelism[1]:.2f} after it. Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"gymnasium {gym.__version__}, MuJoCo {mujoco_version}, NumPy {np.__version__}.",
        "",
        "| environment | n | raw sync | raw async | raw async ÷ sync | collector sync | collector async | collector async ÷ sync |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['env']} | {row['n']} | {per_second(row['raw_sync'])} | {per_second(row['raw_async'])} "
            f"| {row['raw_async'] / row['raw_sync']:.2f}× | {per_second(row['collector_sync'])} "
            f"| {per_second(row['collector_async'])} | {row['collector_async'] / row['collector_sync']:.2f}× |"
        )
    lines += ["", paragraph(rows, cores, statistics.mean(parallelism))]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (≥ 5)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (n=2, few steps); writes only with --out")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/envs.md (none with --quick)")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    use_one_thread()
    settings = QUICK if args.quick else FULL
    out = args.out if args.out is not None or args.quick else Path("benchmarks/results/envs.md")
    cores = os.cpu_count() or 1
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print("benchmark: synchronous against asynchronous vector environments", file=sys.stderr)
    parallelism_before = effective_parallelism(cores)
    rows = vector_env_rates(ENVS, args.repeats, settings["num_envs"], settings["raw_steps"], settings["rollout_steps"])
    if not rows:
        raise SystemExit("benchmark: no environment could be made")
    parallelism = (parallelism_before, effective_parallelism(cores))
    table = markdown(rows, settings, args.repeats, load, parallelism)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
    print(table)
    if out is not None:
        print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
