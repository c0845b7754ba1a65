"""Measuring the library's throughput: the pieces benchmarks/ and chapter 8 share. Chapter 8.

- :func:`median_time`: the median wall time of a call over repeats, after a warm-up call;
- :func:`synthetic_rollout`: a seeded random [T, B] rollout (rewards, values, flags) to time GAE on;
- :func:`vector_env_rates`: environment steps per second of gymnasium's SyncVectorEnv against AsyncVectorEnv,
  raw (`env.step`) and through :class:`tf_gae.rollout.RolloutCollector`, with the two kinds checked to agree.

Timings depend on the machine and on what else runs on it; nothing here asserts one.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

__all__ = ["median_time", "synthetic_rollout", "vector_env_rates", "environment_available", "AGREEMENT_TOLERANCE", "SEED"]

SEED = 0
AGREEMENT_TOLERANCE = 1e-6
"""Largest difference allowed between a synchronous and an asynchronous run of the same seeded steps: both
step the same environments with the same actions, so anything above float32 rounding is a real difference."""


def median_time(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` timed calls of `function` after one untimed call (warm-up, compilation)."""
    function()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        if isinstance(result, (tuple, list)) and hasattr(result[0], "numpy") and not isinstance(result[0], np.ndarray):
            result[0].numpy()  # make sure the work is done
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic_rollout(num_steps: int, num_envs: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(rewards, values, next_values, terminated, truncated), each [T, B]: normal floats, rare episode ends."""
    rng = np.random.default_rng(seed)
    shape = (num_steps, num_envs)
    rewards = rng.normal(size=shape).astype(np.float32)
    values = rng.normal(size=shape).astype(np.float32)
    next_values = rng.normal(size=shape).astype(np.float32)
    terminated = rng.random(shape) < 0.005  # bool flags, as gymnasium returns them
    truncated = (rng.random(shape) < 0.002) & ~terminated
    return rewards, values, next_values, terminated, truncated


def environment_available(env_id: str) -> bool:
    """Whether `env_id` can be made here (False, with a note on stderr, when a dependency is missing)."""
    try:
        gym.make(env_id).close()
    except gym.error.DependencyNotInstalled as error:
        print(f"skipping {env_id} ({error})", file=sys.stderr)
        return False
    return True


def _check_agree(what: str, sync_value: np.ndarray, async_value: np.ndarray) -> None:
    error = float(np.max(np.abs(np.asarray(sync_value, np.float64) - np.asarray(async_value, np.float64))))
    if not error <= AGREEMENT_TOLERANCE:
        raise RuntimeError(f"{what}: asynchronous differs from synchronous by {error:.3g}")


def _measure(env_id: str, num_envs: int, model, action_space, repeats: int, raw_steps: int, rollout_steps: int) -> dict:
    """One row: `num_envs` copies of `env_id`, sync then async, the same seeded actions and the same model."""
    from tf_gae.rollout import RolloutCollector, make_vector_env

    row: dict = dict(env=env_id, n=num_envs)
    batch_space = gym.vector.utils.batch_space(action_space, num_envs)
    batch_space.seed(SEED)
    actions = [batch_space.sample() for _ in range(raw_steps * (repeats + 1))]  # warm-up + timed calls
    final = {}
    for kind, asynchronous in (("sync", False), ("async", True)):
        env = make_vector_env(env_id, num_envs, asynchronous=asynchronous)
        try:
            env.reset(seed=SEED)
            chunks = iter([actions[i : i + raw_steps] for i in range(0, len(actions), raw_steps)])
            last = {}

            def raw_steps_call():
                for action in next(chunks):
                    last["observation"] = env.step(action)[0]

            seconds = median_time(raw_steps_call, repeats)
            row[f"raw_{kind}"] = num_envs * raw_steps / seconds
            collector = RolloutCollector(env, model, num_steps=rollout_steps, seed=SEED)  # resets env (SEED) on first use
            rollouts = []

            def collect_call():
                rollouts[:] = [collector.collect()]

            seconds = median_time(collect_call, repeats)
            row[f"collector_{kind}"] = num_envs * rollout_steps / seconds
            final[kind] = (last["observation"], rollouts[-1].observations.numpy(), rollouts[-1].next_values.numpy())
        finally:
            env.close()
    names = ("raw observation", "rollout observations", "rollout next_values")
    for name, sync_value, async_value in zip(names, final["sync"], final["async"]):
        _check_agree(f"{env_id} n={num_envs} {name}", sync_value, async_value)
    return row


def vector_env_rates(
    env_ids: Sequence[str], repeats: int, num_envs: Sequence[int], raw_steps: int, rollout_steps: int
) -> list[dict]:
    """One row per (available env, n): env steps per second, raw and through the collector, sync and async."""
    from tf_gae.models import build_actor_critic

    rows = []
    for env_id in env_ids:
        if not environment_available(env_id):
            continue
        probe = gym.make(env_id)
        model = build_actor_critic(probe.observation_space, probe.action_space, seed=SEED)  # untrained
        action_space = probe.action_space
        probe.close()
        for n in num_envs:
            row = _measure(env_id, n, model, action_space, repeats, raw_steps, rollout_steps)
            rows.append(row)
            print(
                f"  {env_id:>15} n={n}: raw {row['raw_sync']:,.0f} sync / {row['raw_async']:,.0f} async steps/s, "
                f"collector {row['collector_sync']:,.0f} / {row['collector_async']:,.0f}",
                file=sys.stderr,
                flush=True,
            )
    return rows
