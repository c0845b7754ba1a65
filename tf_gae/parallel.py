"""Run many independent training runs over the cores, each result cached as JSON. Used by chapters 5, 6 and 8.

A study of seeds × settings is embarrassingly parallel. TensorFlow is not fork-safe, so workers are
*spawned* processes, each set to one intra-op and one inter-op thread (several small-network runs side
by side are faster than one run with every core). Each finished run is written atomically to
`<cache_dir>/<key>.json` and read back instead of rerun, so a killed study resumes where it stopped.

:func:`run_cached` runs one batch of jobs on processes of its own. :class:`Workers` keeps the processes for
several batches: a batch submitted while an earlier one runs is queued behind it and taken up by whichever
worker is free first, so one batch's last long job does not leave the other cores idle; started before the
work is known, the workers' start-up (importing TensorFlow) overlaps the program's own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tf_gae._tf import tf

__all__ = ["run_cached", "one_thread_each", "Workers", "Batch"]

Item = tuple[Callable[[Any], dict[str, Any]], Any, str]  # (function, job, cache path)


def one_thread_each() -> None:
    """Give TensorFlow one intra-op and one inter-op thread (call before its first op)."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _run_one(item: Item) -> tuple[str, dict[str, Any]]:
    function, job, path = item
    cached = Path(path)
    if cached.exists():
        return path, json.loads(cached.read_text())
    result = function(job)
    temporary = cached.with_suffix(".tmp")
    temporary.write_text(json.dumps(result))
    os.replace(temporary, cached)  # a killed run never leaves half a result behind
    return path, result


class Batch:
    """The jobs of one :meth:`Workers.submit`: read from the cache, queued on the workers, or (with no worker
    processes) waiting to run in this process when :meth:`results` is called."""

    def __init__(self, items: list[Item], cached: dict[str, dict[str, Any]], running: Iterator | None) -> None:
        self._items = items
        self._cached = cached
        self._running = running  # (path, result) as the workers finish them, or None: run here
        self._results: list[dict[str, Any]] | None = None

    def results(self, on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Every job's result in the order of the jobs, waiting for those still running. `on_result` sees each
        one as it arrives (cached ones first); a second call returns the same list and calls nothing."""
        if self._results is not None:
            return self._results
        by_path: dict[str, dict[str, Any]] = {}

        def arrived(path: str, result: dict[str, Any]) -> None:
            by_path[path] = result
            if on_result is not None:
                on_result(result)

        for path, result in self._cached.items():
            arrived(path, result)
        if self._running is not None:
            for path, result in self._running:
                arrived(path, result)
        else:
            for item in self._items:
                if item[2] not in by_path:
                    arrived(*_run_one(item))
        self._results = [by_path[item[2]] for item in self._items]
        return self._results


class Workers:
    """`count` spawned worker processes, one TensorFlow thread each, shared by the batches submitted to them;
    with `count` 1 there are none and jobs run in this process. A context manager: leaving it ends the
    processes. With `start_now` the processes start at once (their start-up overlaps what the program does
    next); otherwise at the first batch that has two jobs or more to run."""

    def __init__(self, count: int, *, start_now: bool = False) -> None:
        if count < 1:
            raise ValueError(f"workers must be at least 1, got {count}")
        self.count = count
        self._pool: Any = None
        if start_now:
            self._start()

    def _start(self, needed: int | None = None) -> None:
        """Start the processes: `count`, or as many of them as `needed` jobs can use."""
        if self._pool is None and self.count > 1:
            context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
            self._pool = context.Pool(min(self.count, needed or self.count), initializer=one_thread_each)

    def submit(self, function: Callable[[Any], dict[str, Any]], jobs: Sequence[Any], keys: Sequence[str],
               cache_dir: Path) -> Batch:  # fmt: skip
        """Queue `[function(job) for job in jobs]`; `keys[i]` names job i's cache file `<cache_dir>/<key>.json`,
        read back instead of rerun. `function` must be importable by name (a module-level function) and
        return a JSON-serialisable dict."""
        if len(keys) != len(jobs) or len(set(keys)) != len(keys):
            raise ValueError("keys must give every job its own name (one key per job, no repeats)")
        cache_dir.mkdir(parents=True, exist_ok=True)
        items = [(function, job, str(cache_dir / f"{key}.json")) for job, key in zip(jobs, keys)]
        cached = dict(_run_one(item) for item in items if Path(item[2]).exists())  # no worker needed for them
        pending = [item for item in items if item[2] not in cached]
        if len(pending) > 1:
            self._start(len(pending))
        if self._pool is None or not pending:
            return Batch(items, cached, None)
        return Batch(items, cached, self._pool.imap_unordered(_run_one, pending))

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:  # every result asked for has arrived; nothing of value is left to finish
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def run_cached(
    function: Callable[[Any], dict[str, Any]],
    jobs: Sequence[Any],
    keys: Sequence[str],
    cache_dir: Path,
    workers: int,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """`[function(job) for job in jobs]`, computed by `workers` processes (in this one if `workers` ≤ 1 or
    only one job is left to run), each result cached (:meth:`Workers.submit`). `on_result` sees each result
    as it arrives (cached ones first). Results come back in the order of `jobs`."""
    with Workers(workers) as pool:
        return pool.submit(function, jobs, keys, cache_dir).results(on_result)
