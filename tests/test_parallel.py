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
