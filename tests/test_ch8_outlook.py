"""Chapter 8 (outlook): `--quick` end to end — the kernel's cost, the strategy's equality, the env table, the agents."""

from __future__ import annotations

import json
import re

import pytest

from chapters import ch8_outlook as ch8

from .chapter_runs import run_quick


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("ch8")
    stdout = run_quick("chapters.ch8_outlook", out)
    results = [json.loads(path.read_text()) for path in (out / "cache").glob("*.json")]
    return out, stdout, results


def _rows(stdout: str, header: str) -> list[list[str]]:
    section = stdout.split(header)[1].split("\n\n")[1]
    return [line.strip("|").split("|") for line in section.splitlines()[2:] if line.startswith("|")]


def test_kernel_cost_grows_with_the_workload(quick):
    _, stdout, _ = quick
    rows = [[float(x.replace(",", "")) for x in row] for row in _rows(stdout, "## 1.")]
    by_batch = {}
    for num_steps, num_envs, elements, ms, ns in rows:
        assert elements == num_steps * num_envs and ns == pytest.approx(ms * 1e6 / elements, rel=0.01)
        by_batch.setdefault(num_envs, []).append((elements, ms, ns))
    for points in by_batch.values():
        points.sort()
        # Per element, a larger call is cheaper (the fixed call cost is amortised) ...
        assert points[-1][2] < points[0][2]
    # ... and 256× the elements never costs 256× the time at these sizes.
    assert by_batch[64][-1][1] < 256 * by_batch[64][0][1]


def test_strategy_update_equals_single_device_update(quick):
    _, stdout, _ = quick
    rows = _rows(stdout, "## 2.")
    assert [row[0].strip() for row in rows] == ["a2c"]  # --quick; tests/test_distribute.py runs every trainer
    for row in rows:
        assert int(row[1]) == 2
        # float64 rounding is ~1e-14 of scale; a wrong reduction is ~0.3 (ch8.STRATEGY_TOLERANCE says why)
        assert float(row[2]) < ch8.STRATEGY_TOLERANCE and float(row[3]) < 1e-7
    assert "the same step" in stdout


def test_environment_table_and_agents(quick):
    out, stdout, results = quick
    env_rows = _rows(stdout, "## 3.")
    assert env_rows and all(float(r[2].replace(",", "")) > 0 and float(r[3].replace(",", "")) > 0 for r in env_rows)
    assert {(r["critic"], r["seed"]) for r in results} == {(c, s) for c in ("centralized", "independent") for s in (0, 1)}
    for result in results:
        assert result["env_steps"][0] == 0 and result["env_steps"][-1] == 20_480
        assert all(0.0 <= value <= 1.0 for value in result["team_return"])
    assert re.search(r"centralized critic's team return is (NOT )?higher", stdout)
    for name in ch8.FIGURE_NAMES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 15_000
    assert (out / ch8.TABLE_NAME).read_text().startswith("## 1.")


def test_an_unknown_algorithm_for_the_strategy_demonstration_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"algo must be one of \('a2c', 'reinforce', 'ppo', 'lm_ppo'\), got 'sac'"):
        ch8.strategy_equivalence("sac")
