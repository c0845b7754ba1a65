"""Training with the environments in the graph (`env_backend="tensorflow"`, tf_gae.envs).

The rollout's bookkeeping is checked against the environment's own definition (a Pendulum episode is
exactly 200 steps of rewards, and a truncation bootstraps from V of the episode's final observation), a
run is a pure function of its seed, and a resumed run continues the very episodes it stopped in: its
progress rows equal those of the run that was never stopped, to the last bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tf_gae.api import Agent
from tf_gae.trainers import A2CConfig, A2CTrainer, PPOConfig, PPOTrainer


def test_a_rollout_records_whole_episodes_and_bootstraps_truncations_from_the_final_observation():
    # Pendulum never terminates: every episode is truncated at step 200, so T = 250 steps from a reset
    # holds one whole episode per env and one truncation at t = 199.
    trainer = PPOTrainer(PPOConfig(env_id="Pendulum-v1", env_backend="tensorflow", num_envs=3, n_steps=250,
                                   total_steps=750, minibatch_size=250, seed=4))  # fmt: skip
    try:
        collector = trainer.collector
        assert collector.env.in_graph
        rollout = collector.collect()
        truncated = rollout.truncated.numpy()
        assert truncated.sum() == 3 and truncated[199].all() and not rollout.terminated.numpy().any()
        rewards = rollout.rewards.numpy()
        np.testing.assert_allclose(rollout.episode_returns, rewards[:200].sum(axis=0), rtol=1e-6)  # float32 terms
        assert rollout.episode_lengths == [200, 200, 200]
        values, next_values = rollout.values.numpy(), rollout.next_values.numpy()
        np.testing.assert_array_equal(next_values[:199], values[1:200])  # inside the episode: V(s_{t+1})
        np.testing.assert_array_equal(next_values[200:249], values[201:250])
        # t = 199: V of the episode's final observation, not of the next episode's first one (values[200])
        assert np.all(np.abs(next_values[199] - values[200]) > 1e-6)
    finally:
        trainer.close()


def in_graph_a2c(**changes):
    settings = dict(env_backend="tensorflow", total_steps=2048, num_envs=4, n_steps=8, log_every_steps=256)
    return A2CConfig(**dict(settings, **changes))


def rows_of(config, trainer=None):
    rows = []
    trainer = trainer or A2CTrainer(config)
    trainer.train(on_row=rows.append)
    trainer.close()
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows], trainer


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    first, _ = rows_of(in_graph_a2c(seed=3))
    again, _ = rows_of(in_graph_a2c(seed=3))
    other, _ = rows_of(in_graph_a2c(seed=4))
    assert first == again and first != other


def test_a_resumed_run_continues_its_episodes_exactly(tmp_path):
    whole, _ = rows_of(in_graph_a2c(seed=5))
    # stop after 1,024 steps: a checkpoint of everything, then a fresh trainer restores it and goes on
    half_rows, half = rows_of(in_graph_a2c(seed=5, total_steps=2048 // 2))
    checkpoint = half.checkpoint()
    path = checkpoint.save(str(tmp_path / "ckpt"))
    resumed = A2CTrainer(in_graph_a2c(seed=5))
    resumed.checkpoint().restore(path).assert_consumed()
    rest, _ = rows_of(None, resumed)
    assert [r["env_steps"] for r in half_rows + rest] == [r["env_steps"] for r in whole]
    episodes = ("episode_return_mean", "episode_return_std", "episode_length_mean", "episodes")
    for got, expected in zip(half_rows + rest, whole):
        # the same episodes, to the last bit; the losses are the same updates summed over graph calls cut
        # differently after the resume (float32 sums of a few terms: rounding ~1e-7 of their size)
        assert {k: got[k] for k in episodes} == {k: expected[k] for k in episodes}
        for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
            assert got[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name


def test_a2c_learns_cartpole_in_the_graph():
    rows, trainer = rows_of(A2CConfig(env_backend="tensorflow", total_steps=40_960, seed=0, log_every_steps=10_240))
    returns = [row["episode_return_mean"] for row in rows]
    # a uniform policy's episodes last ~22 steps; the gymnasium backend's A2C reaches 160-230 here
    assert returns[0] < 60 and returns[-1] > 100, returns
    result = Agent(trainer.model, trainer.config, "a2c").evaluate(episodes=5, seed=0)  # on gymnasium's own env
    assert result["mean_return"] > 100


def test_the_backend_is_refused_for_ids_without_an_in_graph_version():
    from tf_gae.config import ConfigError

    with pytest.raises(ConfigError, match="env_backend must be 'gymnasium' for HalfCheetah-v5"):
        A2CConfig(env_id="HalfCheetah-v5", env_backend="tensorflow")
    with pytest.raises(ConfigError, match="asynchronous_envs must be off with env_backend 'tensorflow'"):
        A2CConfig(env_backend="tensorflow", asynchronous_envs=True)


def test_auto_picks_the_graph_where_the_task_has_it_and_the_run_records_the_choice():
    from tf_gae.config import PPOConfig as Config

    assert A2CConfig().env_backend == "auto" and A2CConfig().backend == "tensorflow"  # CartPole-v1
    assert Config(env_id="Pendulum-v1").backend == "tensorflow"
    assert Config(env_id="HalfCheetah-v5").backend == "gymnasium"  # no in-graph version
    assert A2CConfig(asynchronous_envs=True).backend == "gymnasium"  # subprocesses asked for
    assert A2CConfig(env_backend="gymnasium").backend == "gymnasium"
    assert A2CConfig().to_dict()["env_backend"] == "tensorflow"  # config.json says what ran
    # a config.json written before the field existed ran on gymnasium, and resumes on it
    old = {k: v for k, v in A2CConfig().to_dict().items() if k != "env_backend"}
    assert A2CConfig.from_dict(old).backend == "gymnasium"
    assert A2CTrainer(A2CConfig(total_steps=64)).collector.env.in_graph
    assert not A2CTrainer(A2CConfig(total_steps=64, env_backend="gymnasium")).collector.env.in_graph
