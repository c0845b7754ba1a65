"""The `tf-gae` command through subprocesses: errors, determinism, resume after SIGKILL, evaluate, plot."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tf_gae.config import PPOConfig

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--total-steps", "3200", "--num-envs", "4", "--n-steps", "8", "--log-every-steps", "320", "--eval-episodes", "2"]


def tf_gae(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "tf_gae", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def progress_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "progress.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env", "NoSuchEnv-v9"], "unknown environment id"),
        (["--gamma", "1.5"], "--gamma must be a number in [0, 1], got '1.5'"),
        (["--learning-rate", "-3"], "--learning-rate must be a positive number"),
        (["--algo", "dqn"], "invalid choice"),
        (["--resume"], "--resume needs --run-dir"),
        (["--algo", "ppo", "--batch-size=64"], "--batch-size is called --minibatch-size now"),
    ],
)
def test_bad_flags_fail_with_one_line_and_status_2_writing_nothing(tmp_path, flags, message):
    run_dir = tmp_path / "run"
    result = tf_gae("train", "--run-dir", str(run_dir), *flags) if flags != ["--resume"] else tf_gae("train", *flags)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not run_dir.exists()


def test_train_evaluate_plot_and_refuse_to_overwrite(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = tf_gae("train", "--run-dir", str(run_dir), *SMALL)
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "progress.csv", "learning_curve.png", "eval.json"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "checkpoints").iterdir()) and any((run_dir / "tb").iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algo"] == "ppo" and config["total_steps"] == 3200  # the default algorithm and "tensorflow" in config["versions"]
    rows = progress_rows(run_dir)
    assert [int(r["env_steps"]) for r in rows] == list(range(320, 3201, 320))
    assert "deterministic evaluation over 2 episodes" in result.stderr

    # The rest in this process (the command's own entry point; a subprocess only adds TensorFlow's import).
    # The same command gives the same progress rows, number for number.
    from tf_gae.cli import main

    assert main(["train", "--run-dir", str(tmp_path / "again"), *SMALL]) == 0
    without_time = lambda rows: [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows]  # noqa: E731
    assert without_time(progress_rows(tmp_path / "again")) == without_time(rows)
    capsys.readouterr()

    def evaluate(*flags: str) -> dict:
        assert main(["evaluate", str(run_dir), "--episodes", "3", "--seed", "5", *flags]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    record = evaluate()
    assert record["env"] == "CartPole-v1" and record["episodes"] == 3 and record["deterministic"] is True
    assert record["env_steps"] == 3200 and record["mean_return"] >= 8
    training_eval = json.loads((run_dir / "eval.json").read_text())
    assert training_eval["episodes"] == 2, "evaluate leaves training's eval.json alone unless --write"
    assert evaluate("--write") == record
    assert json.loads((run_dir / "eval.json").read_text()) == record

    assert main(["plot", str(run_dir), "--out", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 5000

    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run_dir), *SMALL]) == 2
    assert "already holds a run; continue it with --resume, or choose another --run-dir" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--lam", "0.5"]) == 2
    assert "contradicts" in capsys.readouterr().err
    assert snapshot(run_dir) == before, "a refused command must not touch the run directory"


def test_resume_after_sigkill_continues_without_gap_or_repeat(tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--total-steps", "9600", "--num-envs", "4", "--n-steps", "8", "--log-every-steps", "320"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "tf_gae", "train", "--run-dir", str(run_dir), *flags, "--eval-episodes", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline:  # kill it once a few rows are written, wherever it is
        if (run_dir / "progress.csv").exists() and len((run_dir / "progress.csv").read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rows_before = len(progress_rows(run_dir))
    assert 0 < rows_before < 30, "the kill should land mid-run"
    resumed = tf_gae("train", "--run-dir", str(run_dir), "--resume", "--eval-episodes", "0")
    assert resumed.returncode == 0, resumed.stderr
    steps = [int(row["env_steps"]) for row in progress_rows(run_dir)]
    assert steps == list(range(320, 9601, 320)), steps
    assert "resumed at" in resumed.stderr


def test_non_finite_loss_exits_1_and_keeps_the_last_good_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = tf_gae(
        "train", "--env", "tests.envs:NaNReward-v0", "--run-dir", str(run_dir), "--num-envs", "2", "--n-steps", "10",
        "--total-steps", "400", "--log-every-steps", "20", "--eval-episodes", "0",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "training stopped: non-finite loss at update 6" in result.stderr
    # the command's words (--learning-rate), and the checkpoint named once
    assert "lower --learning-rate or set --max-grad-norm; the last good checkpoint, ckpt-5, is kept" in result.stderr
    steps = [int(row["env_steps"]) for row in progress_rows(run_dir)]
    assert steps == [20, 40, 60, 80, 100]
    checkpoints = (run_dir / "checkpoints" / "checkpoint").read_text()
    assert 'model_checkpoint_path: "ckpt-5"' in checkpoints


def test_help_and_flag_errors_answer_without_importing_tensorflow(tmp_path):
    # a folder that holds a run: a new run there, and a resume that contradicts its config.json, are refused
    held = tmp_path / "held"
    held.mkdir()
    (held / "config.json").write_text(json.dumps({"algo": "ppo", **PPOConfig(total_steps=3200).to_dict()}))
    refusals = [["train", "--run-dir", str(held)], ["train", "--run-dir", str(held), "--resume", "--lam", "0.5"]]
    script = (
        "import sys, contextlib, io\n"
        "import tf_gae.cli\n"
        "codes = []\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    for argv in (['--help'], ['train', '--help'], ['train', '--gamma', '2'], ['train', '--learning-rate', '-3'],\n"
        "                 ['sweep', '--help'], ['sweep', '--lam', '0.5,2'], ['sweep', '--seeds', 'x'], *" + repr(refusals) + "):\n"
        "        try:\n"
        "            codes.append(tf_gae.cli.main(argv))\n"
        "        except SystemExit as exit:\n"
        "            codes.append(exit.code)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, *codes[-2:])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "2", "2"]


def test_a_sweep_whose_every_agent_diverges_exits_1_saying_so(tmp_path, capsys):
    from tf_gae.cli import main

    out = tmp_path / "sweep"
    flags = ["--algo", "a2c", "--seeds", "0-1", "--learning-rate", "1e30", "--total-steps", "256", "--out", str(out)]
    assert main(["sweep", *flags]) == 1
    err = capsys.readouterr().err
    assert "every agent diverged; lower --learning-rate" in err.splitlines()[-1] and "2 agents (2 diverged)" in err
    with open(out / "summary.csv", newline="") as handle:
        assert [bool(row["diverged"]) for row in csv.DictReader(handle)] == [True, True]
    assert not (out / "sweep.png").exists()


def test_sweep_writes_one_run_per_agent_and_a_summary_and_refuses_bad_flags(tmp_path):
    out = tmp_path / "sweep"
    result = tf_gae("sweep", "--seeds", "0-1", "--lam", "0.9,1", "--gamma", "0.98", "--total-steps", "1024",
                    "--log-every-steps", "512", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(out / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert [row["name"] for row in summary] == ["lam=0.9__s0", "lam=0.9__s1", "lam=1__s0", "lam=1__s1"]
    assert {row["gamma"] for row in summary} == {"0.98"}  # one value: shared, not a grid axis
    for row in summary:
        config = json.loads((out / row["name"] / "config.json").read_text())
        assert config["env_backend"] == "tensorflow" and config["gamma"] == 0.98
        assert int(progress_rows(out / row["name"])[-1]["env_steps"]) == 1024
    assert "4 agents (2 seeds × 2 λ)" in result.stderr and (out / "sweep.png").is_file()
    assert "one after another (ppo's default; agent_axis=True or --side-by-side trains them side by side)" in result.stderr
    assert "I0000" not in result.stderr  # TensorFlow's start-up logging stays quiet
    side_by_side = tmp_path / "ppo"  # (A2C's default side by side: tests/test_sweep.py)
    result = tf_gae("sweep", "--side-by-side", "--minibatch-size", "64", "--seeds", "0-1", "--total-steps", "1024",
                    "--log-every-steps", "512", "--n-steps", "16", "--out", str(side_by_side))  # fmt: skip
    assert result.returncode == 0 and "side by side along an agent axis" in result.stderr, result.stderr
    assert "I0000" not in result.stderr  # the agent axis imports TensorFlow quietly too
    assert [int(progress_rows(side_by_side / f"s{seed}")[-1]["env_steps"]) for seed in range(2)] == [1024] * 2
    for flags, message in [
        (["--seeds", "3-x"], "--seeds takes whole numbers like 0-19"),
        (["--lam", "0.5,1.5"], "--lam must be a number in [0, 1], got '1.5'"),
        (["--env-backend", "gymnasium"], "a sweep runs with the environment in the graph"),
        (["--seeds", "1,1"], "seeds repeat"),
        (["--one-by-one", "--side-by-side"], "argument --side-by-side: not allowed with argument --one-by-one"),
    ]:
        bad = tmp_path / "bad"
        result = tf_gae("sweep", "--out", str(bad), *flags)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (flags, result.stderr)
        assert not bad.exists()
