"""Run many independent training runs over the cores, each result cached as JSON. Used by chapters 5 and 6.

A study of seeds × settings is embarrassingly parallel. TensorFlow is not fork-safe, so workers are
*spawned* processes, each set to one intra-op and one inter-op thread (several small-network runs side
by side are faster than one run with every core). Each finished run is written atomically to
`<cache_dir>/<key>.json` and read back instead of rerun, so a killed study resumes where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from tf_gae._tf import tf

__all__ = ["run_cached", "one_thread_each"]


def one_thread_each() -> None:
    """Give TensorFlow one intra-op and one inter-op thread (call before its first op)."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _run_one(item: tuple[Callable[[Any], dict[str, Any]], Any, str]) -> tuple[str, dict[str, Any]]:
    function, job, path = item
    cached = Path(path)
    if cached.exists():
        return path, json.loads(cached.read_text())
    result = function(job)
    temporary = cached.with_suffix(".tmp")
    temporary.write_text(json.dumps(result))
    os.replace(temporary, cached)  # a killed run never leaves half a result behind
    return path, result


def run_cached(
    function: Callable[[Any], dict[str, Any]],
    jobs: Sequence[Any],
    keys: Sequence[str],
    cache_dir: Path,
    workers: int,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """`[function(job) for job in jobs]`, computed by `workers` processes (in this one if `workers` ≤ 1).

    `function` must be importable by name (a module-level function) and return a JSON-serialisable dict;
    `keys[i]` names job i's cache file. `on_result` sees each result as it arrives (cached ones first).
    Results come back in the order of `jobs`.
    """
    if len(keys) != len(jobs) or len(set(keys)) != len(keys):
        raise ValueError("keys must give every job its own name (one key per job, no repeats)")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    items = [(function, job, str(cache_dir / f"{key}.json")) for job, key in zip(jobs, keys)]
    by_path: dict[str, dict[str, Any]] = {}

    def arrived(path: str, result: dict[str, Any]) -> None:
        by_path[path] = result
        if on_result is not None:
            on_result(result)

    for item in items:  # cached results first: no worker needed for them
        if Path(item[2]).exists():
            arrived(*_run_one(item))
    pending = [item for item in items if item[2] not in by_path]
    if workers <= 1 or len(pending) <= 1:  # in this process, with its own thread settings
        for item in pending:
            arrived(*_run_one(item))
    else:
        context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
        with context.Pool(min(workers, len(pending)), initializer=one_thread_each) as pool:
            for path, result in pool.imap_unordered(_run_one, pending):
                arrived(path, result)
    return [by_path[item[2]] for item in items]
