"""Chapter 5 (the TensorFlow project): the study's measures on made-up curves, and `--quick` end to end."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from chapters import ch5_practice as ch5

from .chapter_runs import ROOT, run_quick


# ---------------------------------------------------------------------------------- the measures


def test_area_under_curve_on_made_up_curves():
    # A straight ramp 0 → 100 has mean 50 whatever the spacing of its points.
    assert ch5.area_under_curve([0, 50, 100], [0, 50, 100]) == pytest.approx(50.0)
    assert ch5.area_under_curve([0, 10, 100], [0, 10, 100]) == pytest.approx(50.0)
    # A constant curve has itself as its mean.
    assert ch5.area_under_curve([0, 5_120, 10_240], [-500, -500, -500]) == pytest.approx(-500.0)
    # A jump 0 → 100 between steps 50 and 51: trapezoids of widths 50, 1, 49 and mean heights 0, 50, 100.
    steps, returns = [0, 50, 51, 100], [0, 0, 100, 100]
    by_hand = (50 * 0 + 1 * 50 + 49 * 100) / 100
    assert ch5.area_under_curve(steps, returns) == pytest.approx(by_hand)
    # Learning early is worth more than learning late, with the same final return.
    assert ch5.area_under_curve([0, 1, 2], [0, 100, 100]) > ch5.area_under_curve([0, 1, 2], [0, 0, 100])


@pytest.mark.parametrize(
    "steps, returns",
    [([0], [1.0]), ([0, 1], [1.0]), ([0, 0, 1], [1.0, 2.0, 3.0]), ([0, 2, 1], [1.0, 2.0, 3.0])],
)
def test_area_under_curve_refuses_what_is_not_a_curve(steps, returns):
    with pytest.raises(ValueError, match="steps"):
        ch5.area_under_curve(steps, returns)


def test_steps_to_threshold_is_the_first_evaluation_at_or_above_it():
    steps = [0, 5_120, 10_240, 15_360]
    assert ch5.steps_to_threshold(steps, [9.0, 480.0, 300.0, 500.0], 475) == 5_120  # first, not last
    assert ch5.steps_to_threshold(steps, [9.0, 475.0, 300.0, 500.0], 475) == 5_120  # at counts
    assert ch5.steps_to_threshold(steps, [500.0, 9.0, 9.0, 9.0], 475) == 0
    assert ch5.steps_to_threshold(steps, [9.0, 474.9, 300.0, 474.0], 475) == math.inf
    assert ch5.steps_to_threshold(steps, [-500.0, -120.0, -99.0, -150.0], -100) == 10_240  # negative scales


def test_on_grid_takes_the_first_evaluation_at_or_after_each_point():
    steps, returns = ch5.on_grid([0, 2_100, 4_500, 6_200], [10.0, 20.0, 30.0, 40.0], [0, 2_048, 4_096, 6_144])
    assert steps == [0, 2_048, 4_096, 6_144] and returns == [10.0, 20.0, 30.0, 40.0]
    _, returns = ch5.on_grid([0, 2_100, 6_200], [10.0, 20.0, 40.0], [0, 2_048, 4_096, 6_144])
    assert returns == [10.0, 20.0, 40.0, 40.0]  # one update passed two points
    _, returns = ch5.on_grid([0, 2_048, 4_096], [1.0, 2.0, 3.0], [0, 2_048, 4_096])  # on the grid: unchanged
    assert returns == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="no evaluation at or after step 6144"):
        ch5.on_grid([0, 2_100], [1.0, 2.0], [0, 2_048, 4_096, 6_144])


def test_a_group_is_one_algorithm_on_one_task_with_every_seed_and_lambda():
    jobs = ch5.study_jobs([TASK], seeds=[0, 1], lambdas=[0.0, 1.0])
    groups = ch5.study_groups(jobs)
    assert [len(g) for g in groups] == [4, 2, 2]  # A2C: 2 λ × 2 seeds; PPO and REINFORCE: 2 seeds
    assert all(len({(job.algo, job.task.env_id) for job in group}) == 1 for group in groups)
    assert sorted(job.key for group in groups for job in group) == sorted(job.key for job in jobs)
    keys = [ch5.group_key(g) for g in groups]
    assert len(set(keys)) == 3 and "lam0-1_seeds0-1" in keys[0] and keys[0].endswith("_ingraph-eval_agent-axis")
    assert [key.endswith("_ingraph-eval") for key in keys[1:]] == [True, True]  # PPO and REINFORCE one by one


def _result(algo, lam, seed, returns, env_id="CartPole-v1", steps=(0, 100, 200, 300)):
    return dict(key=f"{algo}{lam}{seed}", algo=algo, env_id=env_id, seed=seed, lam=lam, steps=list(steps),
                returns=list(returns), rows=[], train_seconds=1.0, eval_seconds=0.1)


TASK = ch5.Task("CartPole-v1", 475.0, 300, 100)


def test_summarize_groups_seeds_and_measures_each():
    results = [
        _result("a2c", 0.0, 0, [10, 20, 30, 40]),
        _result("a2c", 0.0, 1, [10, 20, 30, 500]),
        _result("a2c", 0.95, 1, [10, 480, 500, 500]),
        _result("a2c", 0.95, 0, [10, 200, 500, 500]),
    ]
    summaries = ch5.summarize(results, [TASK])
    low = next(s for s in summaries if s.lam == 0.0)
    mid = next(s for s in summaries if s.lam == 0.95)
    assert mid.seeds == [0, 1]  # sorted by seed
    np.testing.assert_array_equal(mid.solve_steps, [200, 100])
    assert mid.median_solve_steps == 150 and mid.solved == 2
    np.testing.assert_array_equal(low.solve_steps, [math.inf, 300])
    assert low.median_solve_steps == math.inf and low.solved == 1  # half unsolved: the median is censored
    np.testing.assert_allclose(low.areas, [ch5.area_under_curve([0, 100, 200, 300], [10, 20, 30, 40]),
                                           ch5.area_under_curve([0, 100, 200, 300], [10, 20, 30, 500])])
    np.testing.assert_array_equal(mid.final, [500, 500])
    with pytest.raises(ValueError, match="different steps"):
        ch5.summarize([_result("a2c", 0.0, 0, [1, 2, 3]), _result("a2c", 0.0, 1, [1, 2, 3], steps=(0, 50, 300))], [TASK])


def _sweep(solve_at: dict[float, int]) -> list[ch5.Summary]:
    """A made-up sweep: at each λ both seeds jump from 0 to 500 at the given step (300 = never)."""
    results = []
    for lam, step in solve_at.items():
        returns = [0.0 if s < step else 500.0 for s in (0, 100, 200, 300)] if step < 300 else [0.0] * 4
        results += [_result("a2c", lam, seed, returns) for seed in (0, 1)]
    return ch5.summarize(results, [TASK])


def test_verdict_reads_intervals_and_says_cannot_tell_when_they_overlap():
    clear = ch5._verdict(_sweep({0.0: 300, 0.5: 200, 0.95: 100, 1.0: 200}), TASK)  # seeds agree: zero-width intervals
    assert "largest mean area is at λ = 0.95" in clear and "λ=0.95 > λ=0" in clear and "λ=0.95 > λ=1" in clear
    results = []
    for lam, per_seed in {0.0: [(0, 0, 0, 0), (0, 500, 500, 500)], 0.95: [(0, 0, 500, 500), (0, 0, 500, 500)],
                          1.0: [(0, 0, 0, 500), (0, 0, 0, 500)]}.items():
        results += [_result("a2c", lam, seed, list(curve)) for seed, curve in enumerate(per_seed)]
    mixed = ch5._verdict(ch5.summarize(results, [TASK]), TASK)
    assert "cannot tell (λ=0.95 ~ λ=0)" in mixed and "λ=0.95 > λ=1" in mixed


def _cells(means: dict[tuple[float, float], list[float]]) -> list[ch5.GridCell]:
    """Made-up cells whose seeds' curves are flat, so both measures equal the given per-seed values."""
    return [ch5.grid_cell(g, lam, list(range(len(v))), [1, 2], np.tile(np.array(v, float)[:, None], (1, 2)))
            for (g, lam), v in means.items()]


def test_paper_verdict_reads_every_gamma_by_intervals():
    cells = _cells({(0.99, 0.0): [100, 110, 120], (0.99, 0.96): [400, 410, 420], (0.99, 1.0): [360, 400, 440],
                    (1.0, 0.0): [90, 100, 110], (1.0, 0.96): [300, 310, 320], (1.0, 1.0): [200, 210, 220]})
    lines = ch5.paper_verdict(cells, "area")
    assert lines[0] == ("γ = 0.99: best λ = 0.96, 410.0 [400.0, 420.0]; λ = 0: 110.0, λ=0.96 > λ=0; "
                        "λ = 1: 400.0, cannot tell (λ=0.96 ~ λ=1)")
    assert lines[1].endswith("λ = 1: 210.0, λ=0.96 > λ=1")
    assert lines[2] == "best cell: γ = 0.99, λ = 0.96, 410.0 [400.0, 420.0]"
    assert lines[3].endswith("holds by non-overlapping intervals at γ ∈ {1}")
    assert lines[4].startswith("at γ ∈ {0.99} it does not show")
    table = ch5.paper_table(cells, 50_000)
    assert "**area**" in table and "**final**" in table
    assert "| 0.99 | 110 [100, 120] | 410 [400, 420] | 400 [360, 440] |" in table
    flat = ch5.grid_cell(1.0, 0.5, [0, 1], [1, 2, 3, 4], np.array([[0.0, 0.0, 0.0, 8.0], [0.0, 0.0, 0.0, 4.0]]))
    np.testing.assert_allclose(flat.values["area"], [2.0, 1.0])  # the mean of evenly spaced points
    np.testing.assert_allclose(flat.values["final"], [8.0, 4.0])  # the last quarter: one point of four


def test_results_table_has_one_row_per_series_with_the_numbers():
    summaries = _sweep({0.0: 300, 0.95: 100, 1.0: 200}) + ch5.summarize(
        [_result("ppo", 0.8, s, [0, 500, 500, 500]) for s in (0, 1)], [TASK]
    )
    table = ch5.results_table(summaries, [TASK])
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| algorithm")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| PPO with GAE (λ = 0.8)", "| A2C with GAE (λ = 0)", "| A2C with GAE (λ = 0.95)", "| A2C with GAE (λ = 1)"
    ]
    assert "| not within budget | 0/2 |" in rows[1]
    assert "| 100 | 2/2 |" in rows[2] and "| 100 | 2/2 |" in rows[0]


# ---------------------------------------------------------------------------------- --quick end to end


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("ch5")
    return out, run_quick("chapters.ch5_practice", out)


def test_quick_writes_the_figures_and_the_table_with_every_series(quick):
    out, stdout = quick
    for name in ch5.FIGURE_NAMES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    table = (out / ch5.TABLE_NAME).read_text()
    for task in ch5.QUICK_TASKS:
        section = table.split(f"**{task.env_id}**")[1].split("**")[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and "algorithm" not in line]
        labels = [row.split(" | ")[0].lstrip("| ") for row in rows]
        expected = [ch5.ALGORITHMS["reinforce"], ch5.ALGORITHMS["ppo"]]
        expected += [f"A2C with GAE (λ = {lam:g})" for lam in ch5.QUICK_LAMBDAS]
        assert labels == expected
        for row in rows:  # final evaluation and area: median [interquartile range], finite and within the task's range
            numbers = [float(x) for x in re.findall(r"-?\d+\.\d", row.split(" | ", 1)[1])]
            assert len(numbers) == 6 and all(math.isfinite(x) for x in numbers), row
            low, high = (-500.0, 0.0) if task.env_id == "Acrobot-v1" else (8.0, 500.0)
            assert all(low <= x <= high for x in numbers), row
    assert "Wrote" in stdout and "The A2C λ sweep" in stdout and "What the intervals say, area" in stdout
    for name in ch5.PAPER_FIGURE_NAMES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    grid = (out / ch5.PAPER_TABLE_NAME).read_text()
    rows = [line for line in grid.splitlines() if line.startswith("| 0.99 |") or line.startswith("| 1 |")]
    assert len(rows) == 2 * len(ch5.QUICK_PAPER_GAMMAS)
    for row in rows:  # mean [low, high] per λ, ordered, inside CartPole's range of returns
        cells = re.findall(r"(\d+) \[(\d+), (\d+)\]", row)  # two tables: area, then final
        assert len(cells) == len(ch5.QUICK_PAPER_LAMBDAS)
        assert all(8 <= int(low) <= int(mean) <= int(high) <= 500 for mean, low, high in cells), row


def test_quick_runs_are_evaluated_where_they_say(quick):
    out, _ = quick
    groups = [json.loads(path.read_text()) for path in sorted((out / "cache").glob("*.json"))
              if not path.name.startswith("paper_")]
    assert len(groups) == len(ch5.QUICK_TASKS) * 3  # one compiled program per algorithm and task
    side_by_side = sorted(path.name for path in (out / "cache").glob("*_agent-axis.json"))
    assert side_by_side == sorted(path.name for path in (out / "cache").glob("a2c_*.json")) != []  # A2C's on an axis
    results = [result for group in groups for result in group["results"]]
    assert len(results) == len(ch5.QUICK_TASKS) * 2 * (2 + len(ch5.QUICK_LAMBDAS))
    for result in results:
        task = next(t for t in ch5.QUICK_TASKS if t.env_id == result["env_id"])
        assert result["steps"] == list(range(0, task.budget + 1, task.eval_every))
        row_steps = [row["env_steps"] for row in result["rows"]]
        if result["algo"] == "reinforce":  # whole episodes: a row after the update that passes each point
            batch = 8 * {"CartPole-v1": 500, "Acrobot-v1": 500}[task.env_id]  # 8 episodes up to the time limit
            assert all(any(point <= s < point + batch for s in row_steps) for point in result["steps"][1:])
        else:
            assert row_steps == result["steps"][1:]  # after whole rollouts
        if result["algo"] == "a2c":
            assert result["lam"] in ch5.QUICK_LAMBDAS
        assert all(math.isfinite(r) for r in result["returns"])


def test_quick_paper_grid_runs_every_cell_on_its_grid(quick):
    out, _ = quick
    jobs = [json.loads(path.read_text()) for path in sorted((out / "cache").glob("paper_*.json"))]
    assert len(jobs) == len(ch5.QUICK_PAPER_GAMMAS)  # one compiled program per γ
    runs = [run for job in jobs for run in job["runs"]]
    cells = {(run["gamma"], run["lam"]) for run in runs}
    assert cells == {(g, lam) for g in ch5.QUICK_PAPER_GAMMAS for lam in ch5.QUICK_PAPER_LAMBDAS}
    assert len(runs) == len(cells) * 2  # two seeds in --quick
    grid = list(range(ch5.QUICK_PAPER_EVERY, ch5.QUICK_PAPER_BUDGET + 1, ch5.QUICK_PAPER_EVERY))
    for run in runs:
        assert run["steps"] == grid and all(8 <= r <= 500 for r in run["returns"])  # CartPole returns


def test_walk_through_names_the_lines_that_do_each_step(quick):
    _, stdout = quick
    expected = {
        "RolloutCollector.collect_graph": "def collect_graph",
        "Trainer.loss_terms": "policy_loss = ",
        "Learner.step": "apply_gradients",
    }
    for name, text in expected.items():
        match = re.search(r"(tf_gae/[\w/]+\.py):(\d+)\s+" + re.escape(name), stdout)
        assert match, name
        line = (ROOT / match.group(1)).read_text().splitlines()[int(match.group(2)) - 1]
        assert text in line, (name, line)
    moved = float(re.search(r"parameters moved by ([\d.]+)", stdout).group(1))
    assert moved > 0


def test_study_arguments_refuse_zero_workers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ch5._parse(["--workers", "0"])
    assert exit_info.value.code == 2
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err
