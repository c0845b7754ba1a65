"""tf_gae.sweep: seeds × a grid through one compiled program, each agent its own solo run.

The reference for a sweep's agent is the solo run `tf_gae.train` makes with the same seed and settings,
which compiles its own program: the progress rows must be the same numbers (one after another in float32;
side by side along the agent axis in float64, where no rounding difference of a batched program remains). Settings must take effect
(another λ or learning rate gives another run), and bad arguments are refused before anything is written.
"""

from __future__ import annotations

import csv

import pytest

import tf_gae
from tf_gae.config import ConfigError
from tf_gae.plotting import read_progress
from tf_gae.runs import RunDirectory

SMALL = dict(total_steps=3_072, num_envs=4, n_steps=16, log_every_steps=512)


def _lock_and_free(run_dir):
    """Take the run directory's writer lock and give it back (raises if another writer still holds it)."""
    run = RunDirectory.open(run_dir)
    run.lock()
    run.unlock()


def progress_rows(run_dir):
    with open(run_dir / "progress.csv") as file:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(file)]


@pytest.mark.parametrize(
    "algo, grid, solo_settings",
    [
        ("a2c", {"lam": [0.8, 1.0], "gamma": [0.9, 0.99]}, {"lam": 1.0, "gamma": 0.99}),
        # an agent that diverges (1e30) before the last: the host's non-finite state must not reach it
        ("ppo", {"learning_rate": [3e-3, 1e30, 1e-3]}, {"learning_rate": 1e-3}),
    ],
)
def test_every_agent_of_a_sweep_one_after_another_is_its_solo_run(tmp_path, algo, grid, solo_settings):
    extra = dict(minibatch_size=32, n_epochs=2) if algo == "ppo" else {}
    result = tf_gae.sweep("CartPole-v1", algo, seeds=[3, 4], grid=grid, out_dir=tmp_path / "sweep", progress=False,
                          agent_axis=False, **SMALL, **extra)  # fmt: skip
    assert not result.agent_axis
    points = len(result.agents) // 2
    assert [agent.seed for agent in result.agents] == [3, 4] * points
    # the last agent ran after every other one through the host's program: the strongest check
    last = result.agents[-1]
    assert last.settings == solo_settings and last.seed == 4
    solo_dir = tmp_path / "solo"
    tf_gae.train("CartPole-v1", algo, run_dir=solo_dir, progress=False, seed=4, **solo_settings, **SMALL, **extra)
    swept, solo = progress_rows(last.run_dir), progress_rows(solo_dir)
    assert len(solo) == 6 and swept == solo  # the same numbers, printed to the same digits
    # and the sweep's own record of the rows is what it wrote
    assert [row["env_steps"] for row in last.rows] == [int(row["env_steps"]) for row in solo]
    # settings take effect: the same seed at another grid point is another run
    diverged = [agent for agent in result.agents if agent.diverged]
    assert [agent.settings.get("learning_rate") for agent in diverged] == [1e30] * len(diverged)
    assert len(diverged) == (2 if algo == "ppo" else 0) and all(agent.rows == [] for agent in diverged)
    for agent in diverged:  # its folder is left whole and free: a resume may continue it
        assert agent.agent is None and "non-finite" in agent.diverged
        _lock_and_free(agent.run_dir)
    same_seed = [agent for agent in result.agents if agent.seed == 4 and agent is not last and not agent.diverged]
    for other in same_seed:
        assert progress_rows(other.run_dir) != solo
    # the agent returned is the trained one: its weights are the solo run's final weights
    solo_agent = tf_gae.load(solo_dir)
    for mine, theirs in zip(last.agent.model.weights, solo_agent.model.weights):
        assert (mine.numpy() == theirs.numpy()).all()



def test_a_sweep_side_by_side_writes_each_agents_solo_run_in_float64(tmp_path, monkeypatch):
    """Agent k's rows are its solo run's bit for bit, beside agents whose learning rate (1e30) makes their loss
    infinite at their second update: they are marked diverged and stop writing (no checkpoint of their
    non-finite state), and their NaNs never reach agent k's numbers."""
    import importlib

    from tf_gae.models import models_computing_in

    # checkpoints at creation and at the end only: an end saved for a diverged agent would show as its ckpt-1
    monkeypatch.setattr(importlib.import_module("tf_gae.sweeps"), "CHECKPOINT_EVERY_S", float("inf"))
    settings = dict(SMALL, log_every_steps=64)  # a row after every update (4 envs × 16 steps)
    grid = {"lam": [0.8, 1.0], "learning_rate": [1e-3, 1e30]}  # 1e-3: A2CConfig's default, as the solo run's
    with models_computing_in("float64"):
        result = tf_gae.sweep("CartPole-v1", "a2c", seeds=[3, 4], grid=grid, out_dir=tmp_path / "sweep",
                              progress=False, **settings)  # fmt: skip
        tf_gae.train("CartPole-v1", "a2c", run_dir=tmp_path / "solo", progress=False, seed=4, lam=0.8, **settings)
    assert result.agent_axis
    swept = [agent for agent in result.agents if agent.seed == 4 and agent.settings == {"lam": 0.8, "learning_rate": 1e-3}][0]
    solo = progress_rows(tmp_path / "solo")
    assert len(solo) == 48 and progress_rows(swept.run_dir) == solo
    finished = [agent for agent in result.agents if not agent.diverged]
    assert [agent.settings["learning_rate"] for agent in finished] == [1e-3] * 4
    assert all(progress_rows(agent.run_dir) != solo for agent in finished if agent is not swept)
    with open(tmp_path / "sweep" / "summary.csv", newline="") as file:
        summary = {row["name"]: row for row in csv.DictReader(file)}
    for agent in result.agents:
        if not agent.diverged:
            assert summary[agent.name]["diverged"] == "" and agent.agent is not None
            continue
        assert agent.agent is None and "non-finite loss at update 2 " in agent.diverged
        assert summary[agent.name]["diverged"] == agent.diverged and "; the last good checkpoint, ckpt-0, is kept" in agent.diverged
        # its first update's row, and nothing of the non-finite state: ckpt-0 alone
        assert [row["updates"] for row in agent.rows] == [1] and len(progress_rows(agent.run_dir)) == 1
        assert [path.name for path in (agent.run_dir / "checkpoints").glob("ckpt-*.index")] == ["ckpt-0.index"]
        _lock_and_free(agent.run_dir)  # the folder is free for a resume
    assert (tmp_path / "sweep" / "sweep.png").is_file()


def test_a_side_by_side_agents_checkpoints_hold_the_state_of_their_rows(tmp_path, monkeypatch):
    """With a checkpoint at every row, each checkpoint's counters are its row's: the agent's state was put
    back into its trainer before the save (a stale state would carry the counters of an earlier row)."""
    import importlib
    from tf_gae._tf import tf

    monkeypatch.setattr(importlib.import_module("tf_gae.sweeps"), "CHECKPOINT_EVERY_S", 0.0)
    result = tf_gae.sweep("CartPole-v1", "a2c", seeds=[0, 1], out_dir=tmp_path / "sweep", progress=False, **SMALL)
    assert result.agent_axis
    for agent in result.agents:
        rows = read_progress(agent.run_dir)
        env_steps_at = dict(zip(rows["updates"].astype(int).tolist(), rows["env_steps"].astype(int).tolist()))
        kept = sorted(int(path.name[5:-6]) for path in (agent.run_dir / "checkpoints").glob("ckpt-*.index"))
        kept = [number for number in kept if number > 0]  # the newest few rows' checkpoints are kept
        assert len(kept) >= 3 and set(kept) <= set(env_steps_at)
        for updates in kept:
            reader = tf.train.load_checkpoint(str(agent.run_dir / "checkpoints" / f"ckpt-{updates}"))
            assert reader.get_tensor("updates/.ATTRIBUTES/VARIABLE_VALUE") == updates
            assert reader.get_tensor("env_steps/.ATTRIBUTES/VARIABLE_VALUE") == env_steps_at[updates]
        assert tf_gae.load(agent.run_dir).env_steps == int(rows["env_steps"][-1])


def test_the_sweep_writes_a_summary_and_a_figure_and_run_directories_that_load(tmp_path, monkeypatch):
    import importlib

    # No row comes CHECKPOINT_EVERY_S after the last save, whatever the machine's speed (the first row's wait
    # includes compiling: over 10 s on a loaded machine); the interval itself: test_a_row_saves_a_checkpoint_...
    monkeypatch.setattr(importlib.import_module("tf_gae.sweeps"), "CHECKPOINT_EVERY_S", float("inf"))
    out = tmp_path / "sweep"
    result = tf_gae.sweep("CartPole-v1", "a2c", seeds=range(3), grid={"lam": [0.5, 0.95]}, out_dir=out,
                          progress=False, **SMALL)  # fmt: skip
    with open(out / "summary.csv") as file:
        summary = list(csv.DictReader(file))
    assert [row["name"] for row in summary] == [f"lam={lam}__s{seed}" for lam in (0.5, 0.95) for seed in range(3)]
    for row, agent in zip(summary, result.agents):
        rows = read_progress(agent.run_dir)
        assert float(row["lam"]) == agent.settings["lam"] and int(row["env_steps"]) == int(rows["env_steps"][-1])
        assert int(row["episodes"]) == int(rows["episodes"].sum())
    assert (out / "sweep.png").stat().st_size > 10_000
    assert set(result.groups()) == {"λ=0.5", "λ=0.95"}
    loaded = tf_gae.load(out / "lam=0.95__s2")
    assert loaded.config.lam == 0.95 and loaded.config.seed == 2 and loaded.env_steps == 3_072
    # an agent is checkpointed at its creation and its end, and with a row only once CHECKPOINT_EVERY_S has passed
    final_updates = int(read_progress(out / "lam=0.95__s2")["updates"][-1])
    indexes = sorted(path.name for path in (out / "lam=0.95__s2" / "checkpoints").glob("ckpt-*.index"))
    assert indexes == sorted(["ckpt-0.index", f"ckpt-{final_updates}.index"])


def test_agents_too_short_for_a_common_curve_still_finish_with_their_summary(tmp_path, capsys):
    """Whole episodes: each REINFORCE agent's one row lands at its own step, so the curves share no range of
    steps; the sweep says why there is no figure instead of failing after training."""
    out = tmp_path / "sweep"
    result = tf_gae.sweep("CartPole-v1", "reinforce", seeds=[0, 1], out_dir=out, total_steps=300)
    assert [int(read_progress(agent.run_dir)["env_steps"][-1]) >= 300 for agent in result.agents] == [True, True]
    assert (out / "summary.csv").is_file() and not (out / "sweep.png").exists()
    assert "no sweep.png: the runs' 'episode_return_mean' curves do not overlap" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(grid={"n_steps": [8, 16]}), "grid can vary gamma, lam, learning_rate"),
        (dict(grid={"lam": [0.9, 0.9]}), r"lam repeats a value in the grid \(\[0.9, 0.9\]\)"),
        (dict(grid={"lam": [1.5]}), "lam must be a number in"),
        (dict(seeds=[1, 1]), "seeds repeat"),
        (dict(seeds=[]), "seeds is empty"),
        (dict(seed=3), "pass seeds="),
        (dict(grid={"lam": [0.9]}, lam=0.8), "lam is both in grid"),
        (dict(env_backend="gymnasium"), "a sweep runs with the environment in the graph"),
        (dict(env="HalfCheetah-v5"), "has no in-graph version"),
        (dict(seeds=[0.5]), r"seeds must be whole numbers in \[0, 2\^31\)"),
        (dict(grid=[0.9, 1.0]), "grid must be a dict of setting"),
        (dict(grid={"lam": []}), "lam has no value in the grid"),
        (dict(agent_axis="yes"), "agent_axis must be True, False or None"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, message):
    out = tmp_path / "sweep"
    with pytest.raises(ConfigError, match=message):
        tf_gae.sweep(out_dir=out, progress=False, **{"total_steps": 512, **kwargs})
    assert not out.exists()


def test_load_state_refuses_a_trainer_of_another_program_and_plot_sweep_refuses_no_groups(tmp_path):
    from tf_gae.plotting import plot_sweep
    from tf_gae.trainers import A2CConfig, A2CTrainer

    cartpole, acrobot = A2CTrainer(A2CConfig(total_steps=64)), A2CTrainer(A2CConfig(env_id="Acrobot-v1", total_steps=64))
    before = [v.numpy().copy() for v in cartpole.state_variables()]
    with pytest.raises(ValueError, match="load_state needs a trainer of the same program"):
        cartpole.load_state(acrobot)  # 4 observations against 6: other shapes
    assert all((v.numpy() == b).all() for v, b in zip(cartpole.state_variables(), before))  # nothing moved
    with pytest.raises(ValueError, match="groups is empty"):
        plot_sweep({}, tmp_path / "sweep.png")
    assert not (tmp_path / "sweep.png").exists()


def test_a_row_saves_a_checkpoint_only_once_the_interval_has_passed(monkeypatch):
    """The row writer with checkpoint_every_s = 10: rows at 0, 4, 9, 10.5, 15, 21 s after the start save at
    10.5 and 21 (each ≥ 10 s after the last save), every row is written first; 0 saves with every row."""
    import time

    from tf_gae.api import _row_writer

    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    events = []

    class Run:
        def append_progress(self, row, columns):
            events.append(("row", row["updates"]))

    class Checkpoints:
        def save(self, number):
            events.append(("save", number))

    class Scalars:
        def write(self, step, tagged):
            pass

    columns = ["env_steps", "updates", "wall_time_s", "episode_return_mean"]
    for every, expected_saves in [(10.0, [4, 6]), (0.0, [1, 2, 3, 4, 5, 6])]:
        events.clear()
        now[0] = 0.0
        on_row = _row_writer(Run(), Checkpoints(), columns, Scalars(), every)
        for updates, seconds in enumerate([0.0, 4.0, 9.0, 10.5, 15.0, 21.0], start=1):
            now[0] = seconds
            on_row(dict(env_steps=100 * updates, updates=updates, wall_time_s=seconds, episode_return_mean=1.0))
        assert [number for kind, number in events if kind == "save"] == expected_saves
        assert [number for kind, number in events if kind == "row"] == [1, 2, 3, 4, 5, 6]
        for index, (kind, number) in enumerate(events):  # a row's checkpoint comes right after the row
            if kind == "save":
                assert events[index - 1] == ("row", number)
