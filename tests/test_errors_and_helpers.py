"""The clear errors added for bad input, and the small helpers, each against an independent answer.

CLI errors are checked in-process through `tf_gae.cli.main` (one line on stderr, exit status 2, nothing
written); the subprocess tests in test_cli.py cover the same path end to end.
"""

from __future__ import annotations

import dataclasses

import io
import json

import numpy as np
import pytest

import tf_gae
from tf_gae._tf import tf
from tf_gae.cli import ProgressBar, main
from tf_gae.config import command_line_message
from tf_gae.demo import gae_table, sample_rollout
from tf_gae.models import build_actor_critic
from tf_gae.rollout import RewardScaler, RolloutCollector, make_vector_env
from tf_gae.runs import RunDirectory, RunDirectoryError
from tf_gae.trainers import A2CConfig, ConfigError
from tf_gae.trainers.base import TorchStyleRMSprop, check_environment, explained_variance

from .envs import register_test_envs
from .reference import reference_gae

register_test_envs()


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# ---------------------------------------------------------------- the command's bad input


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--eval-episodes", "-1"], "--eval-episodes must be ≥ 0"),
        (["train", "--algo", "a2c", "--n-epochs", "3"], "--n-epochs applies to --algo 'ppo' only, not 'a2c'"),
        (["train", "--seed", "-4"], "--seed must be a whole number in [0, 2^31)"),
        (["train", "--log-every-steps", "0"], "--log-every-steps must be a whole number ≥ 1"),
        (["train", "--total-steps", "10"], "--total-steps must be at least one rollout, --num-envs × --n-steps = 256"),
        (["train", "--env", "NeedsMissingPackage-v0"], "cannot create NeedsMissingPackage-v0"),
        (["train", "--env", "no_such_module:Thing-v0"], "cannot import 'no_such_module'"),
        (["evaluate", "nowhere", "--episodes", "0"], "--episodes must be ≥ 1"),
    ],
)
def test_command_errors_are_one_line_with_status_2(capsys, tmp_path, argv, message):
    error = one_line_error(capsys, [*argv, "--run-dir", str(tmp_path / "run")] if argv[0] == "train" else argv)
    assert message in error
    assert not (tmp_path / "run").exists()


def test_a_mistake_is_named_as_the_caller_wrote_it(capsys, tmp_path):
    """One ConfigError serves both callers: the Python API names settings as its keyword arguments, the command
    as its flags, and a name inside a path stays as it is."""
    with pytest.raises(ConfigError) as caught:
        tf_gae.train("CartPole-v1", "a2c", run_dir=None, total_steps=10)
    assert str(caught.value) == "total_steps must be at least one rollout, num_envs × n_steps = 64, got 10"
    error = one_line_error(capsys, ["train", "--algo", "a2c", "--total-steps", "10", "--run-dir", str(tmp_path / "run")])
    assert "--total-steps must be at least one rollout, --num-envs × --n-steps = 64, got 10" in error
    taken = RunDirectoryError("run directory runs/run_dir already holds a run; resume it, or choose another run_dir", ["run_dir"])
    assert command_line_message(taken) == (
        "run directory runs/run_dir already holds a run; resume it, or choose another --run-dir"
    )
    assert command_line_message(ValueError("lam is a word here")) == "lam is a word here"  # no fields: as written


def test_bad_hidden_sizes_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--hidden-sizes", "64,wide"])
    assert exit_info.value.code == 2
    assert "comma-separated layer widths" in capsys.readouterr().err


def test_evaluate_and_resume_refuse_what_is_not_a_usable_run(capsys, tmp_path):
    assert "not a run directory (no config.json)" in one_line_error(capsys, ["evaluate", str(tmp_path)])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    assert "is not valid JSON" in one_line_error(capsys, ["evaluate", str(broken)])
    untrained = RunDirectory.create(tmp_path / "untrained", {"algo": "a2c", **A2CConfig().to_dict()})
    assert "has no checkpoint yet" in one_line_error(capsys, ["evaluate", str(untrained.path)])
    before = sorted(p.name for p in untrained.path.iterdir())
    error = one_line_error(capsys, ["train", "--resume", "--run-dir", str(untrained.path), "--algo", "ppo"])
    assert "--algo 'ppo' contradicts the run's algorithm 'a2c'; leave --algo out" in error
    assert sorted(p.name for p in untrained.path.iterdir()) == before
    unknown = RunDirectory.create(tmp_path / "unknown", {"algo": "dqn"})
    assert "names no known algorithm ('dqn')" in one_line_error(capsys, ["evaluate", str(unknown.path)])


def test_run_directory_refuses_to_overwrite_and_reads_past_a_torn_line(tmp_path):
    run = RunDirectory.create(tmp_path / "run", {"algo": "a2c"})
    with pytest.raises(RunDirectoryError, match="already holds a run; continue it with resume, or choose another run_dir"):
        RunDirectory.create(run.path, {"algo": "a2c"})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="already holds files"):
        RunDirectory.check_new(tmp_path / "other")
    for steps in (100, 200, 300):
        run.append_progress({"env_steps": steps, "updates": steps // 100, "x": 0.5}, ["env_steps", "updates", "x"])
    with open(run.progress_path, "a") as handle:
        handle.write("400,4,0.")  # a kill in the middle of a row
    assert [row["env_steps"] for row in run.read_progress_rows()] == ["100", "200", "300"]
    run.truncate_progress(200)
    assert run.progress_path.read_text() == "env_steps,updates,x\n100,1,0.5\n200,2,0.5\n"


# ---------------------------------------------------------------- library bad input


def test_library_errors_name_the_argument():
    with pytest.raises(ValueError, match="epsilon must be a non-negative number"):
        tf_gae.normalize_advantages(np.ones(3), epsilon=-1.0)
    with pytest.raises(ValueError, match="num_envs must be at least 1"):
        make_vector_env("CartPole-v1", 0)
    env = make_vector_env("CartPole-v1", 1)
    model = build_actor_critic(env.single_observation_space, env.single_action_space)
    with pytest.raises(ValueError, match="num_steps must be at least 1"):
        RolloutCollector(env, model, num_steps=0, seed=0)
    env.close()
    with pytest.raises(ValueError, match="neither momentum nor centered"):
        TorchStyleRMSprop(learning_rate=1e-3, momentum=0.9)
    with pytest.raises(ValueError, match="cannot create NeedsMissingPackage-v0: the test package"):
        check_environment("NeedsMissingPackage-v0")
    with pytest.raises(ConfigError, match="seed must be"):
        A2CConfig(seed=2**31)


# ---------------------------------------------------------------- helpers against independent answers


def test_demo_table_shows_the_reference_numbers():
    rollout = sample_rollout()
    advantages, returns = reference_gae(**rollout, gamma=0.99, lambda_=0.95)
    table = gae_table(gamma=0.99, lambda_=0.95)
    rows = [line.split() for line in table.splitlines() if line[:3].strip().isdigit()]
    assert len(rows) == 16  # 2 envs × 8 steps
    for row in rows:
        env, t = int(row[0]), int(row[1])
        assert float(row[-2]) == pytest.approx(advantages[t, env], abs=5e-4)
        assert float(row[-1]) == pytest.approx(returns[t, env], abs=5e-4)
    assert rows[3][5] == "term" and rows[11][5] == "trunc"


def test_reward_scaler_matches_running_return_statistics_in_numpy():
    rng = np.random.default_rng(0)
    gamma, num_envs = 0.9, 3
    scaler = RewardScaler(num_envs, gamma)
    discounted = np.zeros(num_envs)
    seen = []
    for _ in range(40):
        rewards = rng.normal(2.0, 3.0, size=num_envs).astype(np.float32)
        ended = rng.random(num_envs) < 0.2
        got = scaler(tf.constant(rewards), tf.constant(ended)).numpy()
        discounted = gamma * discounted + rewards  # R_t = γ R_{t−1} + r_t
        seen.append(discounted.copy())
        # variance of every R seen so far, with SB3's prior pseudo-count 1e-4 at mean 0, variance 1
        data = np.concatenate(seen)
        count = 1e-4 + data.size
        mean = data.sum() / count
        variance = (1e-4 * (1.0 + mean**2) + ((data - mean) ** 2).sum()) / count
        np.testing.assert_allclose(got, np.clip(rewards / np.sqrt(variance + 1e-8), -10, 10), rtol=2e-4)
        discounted[ended] = 0.0


def test_explained_variance_against_numpy():
    rng = np.random.default_rng(1)
    targets = rng.normal(size=100)
    predictions = targets + rng.normal(scale=0.5, size=100)
    expected = 1 - np.var(targets - predictions) / np.var(targets)
    assert float(explained_variance(tf.constant(predictions), tf.constant(targets))) == pytest.approx(expected)
    assert float(explained_variance(tf.constant(targets), tf.constant(targets))) == pytest.approx(1.0)
    assert np.isnan(float(explained_variance(tf.constant(np.ones(4)), tf.constant(np.ones(4)))))


def test_progress_bar_prints_one_line_per_tenth_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(total_steps=1000, stream=stream)
    for steps in range(100, 1001, 50):
        bar.update(steps, recent_return=float(steps) / 10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].split()[0] == "10%" and "return   10.0" in lines[0]
    assert lines[-1].split()[0] == "100%" and "1,000/1,000 steps" in lines[-1]


def test_config_record_round_trips_through_json():
    config = A2CConfig(hidden_sizes=(32, 16), lam=0.9)
    record = json.loads(json.dumps(config.to_dict()))
    # the record says which environments ran ("auto" resolved), so reading it back gives that run's config
    assert record["env_backend"] == "tensorflow"
    assert A2CConfig.from_dict(record) == dataclasses.replace(config, env_backend="tensorflow")
    assert A2CConfig.from_dict(record).to_dict() == record
    with pytest.raises(ConfigError, match="unknown configuration keys"):
        A2CConfig.from_dict({**record, "lamda": 0.9})



@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_batched_episode_returns_match_one_episode_at_a_time(env_id):
    """episode_returns runs the episodes side by side; a plain loop over single episodes is the reference."""
    import gymnasium as gym

    from tf_gae.runs import episode_returns

    weights = np.random.default_rng(0).normal(size=(4 if env_id == "CartPole-v1" else 3,))

    def act(observations):  # a fixed deterministic policy, batched: [E, obs_dim] -> [E] or [E, 1]
        score = observations @ weights
        return (score > 0).astype(np.int64) if env_id == "CartPole-v1" else 3.0 * score[:, None]

    expected = []
    env = gym.make(env_id)
    for episode in range(5):
        observation, _ = env.reset(seed=100 + episode)
        total, done = 0.0, False
        while not done:
            action = act(np.asarray(observation, np.float32)[None])[0]
            if env_id == "Pendulum-v1":
                action = np.clip(action, -2.0, 2.0)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        expected.append(total)
    env.close()
    assert len(set(np.round(expected, 6))) > 1  # the seeds matter, so the pairing of seeds is tested
    np.testing.assert_allclose(episode_returns(act, env_id, episodes=5, seed=100), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="episodes"):
        episode_returns(act, env_id, episodes=0, seed=0)
