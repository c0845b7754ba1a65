"""Run directories you can trust: nothing in one executes, nothing outside one is touched, no history is
lost, one writer at a time, and every mistake is one line with exit status 2 (issue 13).

Each test reproduces one defect found by trying the command as a careful user and as an attacker would;
each failed on the main branch before the fix (the commit says how). Most drive `tf_gae.cli.main` in this
process; the ones about signals and other processes use subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tf_gae
from tf_gae.cli import main
from tf_gae.runs import RunCheckpoints, RunDirectory

from .envs import register_test_envs
from .test_cli import ROOT, SMALL, progress_rows, snapshot

register_test_envs()


def one_line_error(capsys, argv, status: int = 2) -> str:
    assert main(argv) == status
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished CartPole run: 10 progress rows, one every 10 updates; checkpoints ckpt-80, -90, -100."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--run-dir", str(run_dir), *SMALL]) == 0
    return run_dir


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def resume(run_dir: Path, *extra: str) -> list[str]:
    """argv for resuming `run_dir` to a longer budget (so the resumed run trains and writes)."""
    return ["train", "--resume", "--run-dir", str(run_dir), "--eval-episodes", "0", *extra]


def extend_budget(run_dir: Path, total_steps: int = 3840) -> None:
    config = json.loads((run_dir / "config.json").read_text())
    config["total_steps"] = total_steps
    (run_dir / "config.json").write_text(json.dumps(config))


# ------------------------------------------------------------------------------- nothing executes


@pytest.fixture
def payload(tmp_path, monkeypatch) -> tuple[str, Path]:
    """A module that leaves a marker file when imported, importable as evil_payload_pkg.payload."""
    package = tmp_path / "evil_payload_pkg"
    package.mkdir()
    marker = tmp_path / "payload_ran"
    (package / "__init__.py").write_text("")
    (package / "payload.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "evil_payload_pkg.payload:X-v0", marker


def test_a_run_directory_cannot_make_evaluate_resume_or_plot_import_a_module(capsys, run_copy, payload):
    env_id, marker = payload
    config = json.loads((run_copy / "config.json").read_text())
    # as a run of that environment records it (no in-graph version: gymnasium's backend)
    (run_copy / "config.json").write_text(json.dumps({**config, "env_id": env_id, "env_backend": "gymnasium"}))
    before = snapshot(run_copy)
    for argv in (["evaluate", str(run_copy)], resume(run_copy)):
        error = one_line_error(capsys, argv)
        assert "would be imported" in error and f"--env {env_id}" in error
    # a hand-made record claiming the in-graph backend for it is refused as unusable, importing nothing either
    (run_copy / "config.json").write_text(json.dumps({**config, "env_id": env_id, "env_backend": "tensorflow"}))
    assert "holds an unusable value" in one_line_error(capsys, ["evaluate", str(run_copy)])
    (run_copy / "config.json").write_text(json.dumps({**config, "env_id": env_id, "env_backend": "gymnasium"}))
    before = snapshot(run_copy)
    assert main(["plot", str(run_copy), "--out", str(run_copy.parent / "curve.png")]) == 0
    assert not marker.exists() and "evil_payload_pkg.payload" not in sys.modules
    assert snapshot(run_copy) == before


def test_checkpoint_state_naming_files_outside_is_refused_and_nothing_outside_is_deleted(capsys, run_copy, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("model.index", "model.data-00000-of-00001"):
        (victim / name).write_text("the user's own file")
    state = run_copy / "checkpoints" / "checkpoint"
    state.write_text(f'model_checkpoint_path: "ckpt-100"\nall_model_checkpoint_paths: "{victim}/model"\n'
                     'all_model_checkpoint_paths: "ckpt-100"\n')  # fmt: skip
    extend_budget(run_copy, 9600)
    error = one_line_error(capsys, resume(run_copy))
    assert "outside" in error and str(victim / "model") in error
    error = one_line_error(capsys, ["evaluate", str(run_copy)])
    assert "outside" in error
    assert sorted(p.name for p in victim.iterdir()) == ["model.data-00000-of-00001", "model.index"]


def test_saving_rotates_only_the_folders_own_checkpoints(tmp_path):
    from tf_gae._tf import tf

    outside = tmp_path / "ckpt-1.index"
    outside.write_text("not ours")
    checkpoints = RunCheckpoints(tmp_path / "checkpoints", tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])), max_to_keep=2)
    for number in range(1, 6):
        checkpoints.save(number)
    assert checkpoints.numbers() == [4, 5]
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    shards = [name for name in names if ".data-" in name]  # TensorFlow chooses how many
    assert [name for name in names if name not in shards] == ["checkpoint", "ckpt-4.index", "ckpt-5.index"]
    assert shards and {name.split(".")[0] for name in shards} == {"ckpt-4", "ckpt-5"}
    assert all(re.fullmatch(r"ckpt-[45]\.data-\d{5}-of-\d{5}", name) for name in shards), shards
    assert outside.read_text() == "not ours"
    assert (tmp_path / "checkpoints" / "checkpoint").read_text() == (
        'model_checkpoint_path: "ckpt-5"\nall_model_checkpoint_paths: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-5"\n'
    )


# ------------------------------------------------------------------------------- no history lost


@pytest.mark.parametrize("damage", ["missing", "garbled"])
def test_a_missing_or_garbled_state_file_resumes_from_the_checkpoints_on_disk(capsys, run_copy, damage):
    state = run_copy / "checkpoints" / "checkpoint"
    if damage == "missing":
        state.unlink()
    else:
        state.write_bytes(b"\x00\xffnot a checkpoint state{{{")
    extend_budget(run_copy)
    assert main(resume(run_copy)) == 0
    assert "resumed at 3,200 steps from ckpt-100" in capsys.readouterr().err
    steps = [int(row["env_steps"]) for row in progress_rows(run_copy)]
    assert steps == list(range(320, 3841, 320))


def test_a_truncated_newest_checkpoint_falls_back_and_cuts_progress_back_saying_so(capsys, run_copy):
    shards = sorted((run_copy / "checkpoints").glob("ckpt-100.data-*"))
    assert shards
    for data in shards:  # each cut to half its length
        data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])
    extend_budget(run_copy)
    assert main(resume(run_copy)) == 0
    err = capsys.readouterr().err
    assert "ckpt-100 is unreadable" in err and "resumed at 2,880 steps from ckpt-90" in err
    assert "cut back to it: 1 row after it dropped" in err
    steps = [int(row["env_steps"]) for row in progress_rows(run_copy)]
    assert steps == list(range(320, 3841, 320))  # no gap, no repeat


def test_rows_without_any_usable_checkpoint_are_refused_and_kept(capsys, run_copy):
    for path in (run_copy / "checkpoints").glob("ckpt-*"):
        path.unlink()
    progress = (run_copy / "progress.csv").read_text()
    error = one_line_error(capsys, resume(run_copy))
    assert "has 10 rows but" in error and "holds no checkpoint" in error
    assert (run_copy / "progress.csv").read_text() == progress


def test_a_checkpoint_of_other_shapes_is_refused_with_one_line(capsys, run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, "hidden_sizes": [16]}))
    error = one_line_error(capsys, resume(run_copy))
    assert "does not fit this run's model" in error


@pytest.mark.parametrize("env_id", ["tests.envs:NaNObservation-v0", "tests.envs:NaNObservationBox-v0"])
def test_non_finite_observations_stop_ppo_clearly_and_no_nan_checkpoint_is_written(capsys, tmp_path, env_id):
    run_dir = tmp_path / "run"
    argv = ["train", "--algo", "ppo", "--env", env_id, "--run-dir", str(run_dir), "--num-envs", "2",
            "--n-steps", "10", "--minibatch-size", "10", "--n-epochs", "2", "--total-steps", "400",
            "--log-every-steps", "20", "--normalize-observations", "--eval-episodes", "0"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training stopped: the environment's step returned a non-finite observation" in err
    assert "; the last good checkpoint, ckpt-5, is kept" in err  # 10 steps per env and update; NaN at each env's step 51
    rows = progress_rows(run_dir)
    assert [int(r["env_steps"]) for r in rows] == [20, 40, 60, 80, 100]
    assert all(np.isfinite(float(r["policy_loss"])) for r in rows)
    from tf_gae._tf import tf

    for number in RunCheckpoints(run_dir / "checkpoints", None).numbers():
        reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{number}"))
        for name, _ in tf.train.list_variables(str(run_dir / "checkpoints" / f"ckpt-{number}")):
            value = np.asarray(reader.get_tensor(name))
            if value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), (number, name)


def test_a_nan_approx_kl_is_not_a_kl_stop_and_a_nan_state_is_never_checkpointed():
    from tf_gae.trainers import PPOConfig, PPOTrainer, TrainingDiverged

    trainer = PPOTrainer(PPOConfig(num_envs=2, n_steps=8, total_steps=16, minibatch_size=16, normalize_observations=True))
    try:
        names = trainer.raw_metric_names
        sums = dict.fromkeys(names, 0.0) | {"last_kl": float("nan"), "epochs": 1.0}  # steps 0: nothing applied
        with pytest.raises(TrainingDiverged, match="approx_kl=nan"):
            trainer.finish_metrics(sums, num_updates=1, updates="3")
        trainer.check_state_finite("1")  # a fresh model is finite
        trainer.model.observation_normalizer.mean.assign([np.nan, 0.0, 0.0, 0.0])
        with pytest.raises(TrainingDiverged, match="non-finite weights or running statistics after update 4"):
            trainer.check_state_finite("4")
    finally:
        trainer.close()


def test_normalize_advantages_ignores_a_nan_outside_its_mask():
    got = tf_gae.normalize_advantages(np.float32([1, 2, 3, np.nan]), mask=[1, 1, 1, 0]).numpy()
    np.testing.assert_allclose(got[:3], [-1.0, 0.0, 1.0], rtol=1e-6)  # mean 2, unbiased std 1
    assert np.isnan(got[3])  # outside the mask: returned unchanged


# ------------------------------------------------------------------------------- one writer


def test_a_second_writer_is_refused_naming_the_holder(capsys, run_copy, tmp_path):
    holder = RunDirectory.open(run_copy)
    holder.lock()
    try:
        error = one_line_error(capsys, resume(run_copy))
        assert f"in use by process {os.getpid()}" in error
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        other = RunDirectory(fresh, {})
        other.lock()  # a simultaneous fresh start that got there first
        error = one_line_error(capsys, ["train", "--run-dir", str(fresh), *SMALL])
        assert f"in use by process {os.getpid()}" in error
        assert sorted(p.name for p in fresh.iterdir()) == [".lock"]
        other.unlock()
    finally:
        holder.unlock()
    extend_budget(run_copy)
    assert main(resume(run_copy)) == 0  # released: the next writer is welcome


def test_ctrl_c_stops_with_one_line_and_leaves_a_resumable_run(tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--total-steps", "64000", "--num-envs", "4", "--n-steps", "8", "--log-every-steps", "320"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tf_gae", "train", "--run-dir", str(run_dir), *flags, "--eval-episodes", "0"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline and not (
        (run_dir / "progress.csv").exists() and len((run_dir / "progress.csv").read_text().splitlines()) >= 4
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("tf-gae") or "Traceback" in line]
    assert lines[-1].startswith("tf-gae: interrupted at") and "tf-gae train --resume --run-dir" in lines[-1]
    assert not any("Traceback" in line for line in lines)
    written = len(progress_rows(run_dir))
    extend_budget(run_dir, 320 * (written + 2))
    assert main(resume(run_dir)) == 0
    steps = [int(row["env_steps"]) for row in progress_rows(run_dir)]
    assert steps == list(range(320, 320 * (written + 2) + 1, 320))


# ------------------------------------------------------------------------------- runs that end oddly


def test_a_module_env_run_ends_with_its_curve_and_evaluation_and_plots(capsys, tmp_path):
    run_dir = tmp_path / "custom"
    argv = ["train", "--env", "tests.envs:ConstantReward-v0", "--total-steps", "320", "--num-envs", "2",
            "--n-steps", "8", "--run-dir", str(run_dir), "--eval-episodes", "2"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((run_dir / "eval.json").read_text())["mean_return"] == 10.0  # 10 steps of reward 1
    assert (run_dir / "learning_curve.png").stat().st_size > 5000
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "again.png")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--env", "tests.envs:ConstantReward-v0", "--episodes", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_return"] == 10.0


def test_a_run_in_which_no_episode_finishes_ends_normally(capsys, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["train", "--env", "MountainCar-v0", "--total-steps", "256", "--num-envs", "2", "--n-steps", "8",
            "--run-dir", str(run_dir), "--eval-episodes", "1"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((run_dir / "eval.json").read_text())["mean_return"] == -200.0
    assert (run_dir / "learning_curve.png").stat().st_size > 5000
    assert all(row["episode_return_mean"] == "nan" for row in progress_rows(run_dir))


# ------------------------------------------------------------------------------- one line, exit 2


def write_config(run_dir: Path, **changes) -> None:
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"learning_rate": "fast"}, "learning_rate must be a number, got 'fast'"),
        ({"gamma": None}, "gamma must be a number, got None"),
        ({"hidden_sizes": 64}, "hidden_sizes must be a list of whole numbers, got 64"),
        ({"normalize_observations": "false"}, "normalize_observations must be true or false, got 'false'"),
        ({"env_id": ""}, "env_id must be a gymnasium environment id, got ''"),
    ],
)
def test_bad_values_in_config_json_are_one_line(capsys, run_copy, changes, message):
    write_config(run_copy, **changes)
    before = snapshot(run_copy)
    for argv in (["evaluate", str(run_copy)], resume(run_copy)):
        error = one_line_error(capsys, argv)
        assert "config.json holds an unusable value" in error and message.split(", got")[0] in error, error
    assert snapshot(run_copy) == before


def test_a_config_json_that_is_not_an_object_is_one_line_for_every_command(capsys, run_copy, tmp_path):
    (run_copy / "config.json").write_text("[1, 2]")
    for argv in (["evaluate", str(run_copy)], resume(run_copy), ["plot", str(run_copy), "--out", str(tmp_path / "x.png")]):
        assert "holds a JSON list, not an object" in one_line_error(capsys, argv)
    (run_copy / "config.json").write_text("{broken")
    assert "is not valid JSON" in one_line_error(capsys, ["plot", str(run_copy), "--out", str(tmp_path / "x.png")])


def test_progress_files_are_read_the_same_way_by_plot_and_resume(capsys, run_copy, tmp_path):
    with open(run_copy / "progress.csv", "a") as handle:
        handle.write("3520,11,0.")  # a kill in the middle of a row
    assert main(["plot", str(run_copy), "--out", str(tmp_path / "torn.png")]) == 0
    extend_budget(run_copy)
    assert main(resume(run_copy)) == 0
    assert [int(r["env_steps"]) for r in progress_rows(run_copy)] == list(range(320, 3841, 320))
    text = (run_copy / "progress.csv").read_text().splitlines()
    fields = text[3].split(",")
    (run_copy / "progress.csv").write_text("\n".join(text[:3] + [",".join(["lots"] + fields[1:])] + text[4:]) + "\n")
    capsys.readouterr()
    for argv in (resume(run_copy), ["plot", str(run_copy), "--out", str(tmp_path / "bad.png")]):
        assert "column 'env_steps': 'lots' is not a number" in one_line_error(capsys, argv)


def test_evaluate_prints_its_result_even_when_it_cannot_write(capsys, run_copy):
    (run_copy / "eval.json").unlink()
    (run_copy / "eval.json").mkdir()  # unwritable as a file, whoever runs the test (root included)
    assert main(["evaluate", str(run_copy), "--episodes", "2", "--write"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["episodes"] == 2
    assert [line for line in err.splitlines() if line.strip()] == [
        line for line in err.splitlines() if "cannot write" in line and "printed above" in line
    ]


def test_environment_problems_are_one_line(capsys, tmp_path):
    cases = {
        "tests.envs:EmptyObservation-v0": "at least one number",
        "phys2d/CartPole-v1": "cannot create phys2d/CartPole-v1: ModuleNotFoundError",
        ":CartPole-v1": "has an empty module around ':'",
        "": "--env must be a gymnasium environment id",
    }
    for env_id, message in cases.items():
        assert message in one_line_error(capsys, ["train", "--env", env_id, "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_run_directories_that_cannot_be_written_are_one_line(capsys, tmp_path):
    (tmp_path / "a_file").write_text("x")
    for run_dir, message in [(tmp_path / "a_file" / "run", "is a file"), (tmp_path / "a_file", "a file in its place"),
                             (Path("/proc/tf_gae_run"), "cannot create run directory")]:  # fmt: skip
        assert message in one_line_error(capsys, ["train", "--run-dir", str(run_dir), *SMALL])


def test_small_mistakes_get_the_right_words(capsys, tmp_path, run_copy):
    assert main(["evaluate", str(run_copy), "--seed", "-5"]) == 2
    assert "--seed must be a whole number in [0, 2^31), got -5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "(see `tf-gae --help`)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--algo", "dqn"])
    assert "(see `tf-gae train --help`)" in capsys.readouterr().err
    from tf_gae.trainers import A2CConfig

    untrained = RunDirectory.create(tmp_path / "untrained", {"algo": "a2c", **A2CConfig().to_dict()})
    untrained.unlock()
    error = one_line_error(capsys, ["evaluate", str(untrained.path)])
    assert f"tf-gae train --resume --run-dir {untrained.path}" in error
