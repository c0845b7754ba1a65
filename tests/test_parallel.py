"""tf_gae.parallel.run_cached: results in job order, computed once, read back from the cache."""

from __future__ import annotations

import json

import pytest

from tf_gae.parallel import run_cached


def square(job: int) -> dict:
    import os

    return {"job": job, "square": job * job, "pid": os.getpid()}


def refuse(job: int) -> dict:
    raise AssertionError(f"job {job} should have been read from the cache")


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_job_order_then_read_back_from_the_cache(tmp_path, workers):
    jobs = [3, 1, 2]
    keys = [f"job{j}" for j in jobs]
    seen = []
    results = run_cached(square, jobs, keys, tmp_path, workers, on_result=seen.append)
    assert [r["square"] for r in results] == [9, 1, 4]
    assert sorted(r["job"] for r in seen) == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job1.json", "job2.json", "job3.json"]
    assert json.loads((tmp_path / "job3.json").read_text())["square"] == 9
    assert run_cached(refuse, jobs, keys, tmp_path, workers) == results  # nothing recomputed


def test_only_the_missing_runs_are_computed(tmp_path):
    run_cached(square, [1], ["job1"], tmp_path, 1)
    (tmp_path / "job1.json").write_text(json.dumps({"job": 1, "square": -1}))  # marks the cached one
    results = run_cached(square, [1, 5], ["job1", "job5"], tmp_path, 2)
    assert [r["square"] for r in results] == [-1, 25]


@pytest.mark.parametrize("keys, workers, message", [(["a"], 1, "keys"), (["a", "a"], 1, "keys"), (["a", "b"], 0, "workers")])
def test_bad_arguments_are_named(tmp_path, keys, workers, message):
    with pytest.raises(ValueError, match=message):
        run_cached(square, [1, 2], keys, tmp_path, workers)


def test_batches_share_the_workers_and_each_waits_for_its_own(tmp_path):
    """Two batches queued on one pool: each returns its own results in job order, computed in the worker
    processes (not this one), the second's while the first is still being collected; both cached."""
    import os

    from tf_gae.parallel import Workers

    with Workers(2, start_now=True) as workers:
        first = workers.submit(square, [4, 2, 6], ["a4", "a2", "a6"], tmp_path / "first")
        second = workers.submit(square, [7, 5], ["b7", "b5"], tmp_path / "second")
        assert [r["square"] for r in first.results()] == [16, 4, 36]
        results = second.results()
        assert second.results() is results  # asked again: the same results, nothing waited for twice
    assert [r["square"] for r in results] == [49, 25]
    assert all(r["pid"] != os.getpid() for r in results)
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == ["b5.json", "b7.json"]
    with Workers(1) as workers:  # no processes: read back, nothing recomputed
        assert workers.submit(refuse, [7, 5], ["b7", "b5"], tmp_path / "second").results() == results
