"""Asynchronous environments (gymnasium AsyncVectorEnv, one subprocess per env) give the same rollouts as
synchronous ones: same seeds, same weights → the same observations, actions, rewards, bootstraps and
episode statistics, including the SAME_STEP autoreset's `info["final_obs"]` at time-limit truncations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

from tf_gae.models import build_actor_critic
from tf_gae.rollout import RolloutCollector, make_vector_env

# CartPole with a 15-step time limit: a random policy's episodes end by termination (pole falls, ~20 steps on
# average) and by truncation, so both kinds of episode end are crossed. Registered here at import; the
# subprocesses of AsyncVectorEnv inherit the registry (Linux's default "fork" start method).
SHORT_CARTPOLE = "ShortCartPole-v1"
if SHORT_CARTPOLE not in gym.registry:
    gym.register(SHORT_CARTPOLE, entry_point="gymnasium.envs.classic_control:CartPoleEnv", max_episode_steps=15)

FIELDS = ("observations", "actions", "log_probs", "rewards", "values", "next_values", "terminated", "truncated")


def sync_and_async_collectors(env_id: str, num_envs: int, num_steps: int, seed: int):
    sync_env = make_vector_env(env_id, num_envs, asynchronous=False)
    async_env = make_vector_env(env_id, num_envs, asynchronous=True)
    assert isinstance(sync_env, SyncVectorEnv) and isinstance(async_env, AsyncVectorEnv)
    model = build_actor_critic(sync_env.single_observation_space, sync_env.single_action_space)
    twin = build_actor_critic(async_env.single_observation_space, async_env.single_action_space)
    twin.set_weights(model.get_weights())
    sync = RolloutCollector(sync_env, model, num_steps=num_steps, seed=seed)
    asynchronous = RolloutCollector(async_env, twin, num_steps=num_steps, seed=seed)
    return sync, asynchronous


def assert_same_rollouts(env_id: str, num_envs: int, num_steps: int, rollouts: int, seed: int = 7):
    sync, asynchronous = sync_and_async_collectors(env_id, num_envs, num_steps, seed)
    try:
        totals = dict(terminated=0, truncated=0, episodes=0)
        for index in range(rollouts):
            a, b = sync.collect(), asynchronous.collect()
            for name in FIELDS:
                x, y = getattr(a, name).numpy(), getattr(b, name).numpy()
                assert x.shape == y.shape and x.dtype == y.dtype, (index, name)
                if x.dtype == bool or np.issubdtype(x.dtype, np.integer):
                    np.testing.assert_array_equal(x, y, err_msg=f"rollout {index}: {name}")
                else:
                    np.testing.assert_allclose(x, y, rtol=0, atol=1e-6, err_msg=f"rollout {index}: {name}")
            assert a.episode_lengths == b.episode_lengths, index
            np.testing.assert_allclose(a.episode_returns, b.episode_returns, rtol=0, atol=1e-6)
            totals["terminated"] += int(a.terminated.numpy().sum())
            totals["truncated"] += int(a.truncated.numpy().sum())
            totals["episodes"] += len(a.episode_lengths)
        return totals
    finally:
        sync.env.close()
        asynchronous.env.close()


def test_cartpole_async_equals_sync_across_terminations_and_truncations():
    totals = assert_same_rollouts(SHORT_CARTPOLE, num_envs=3, num_steps=40, rollouts=3)
    # The comparison must have crossed both kinds of episode end (the truncations test info["final_obs"]).
    assert totals["terminated"] > 0 and totals["truncated"] > 0, totals
    assert totals["episodes"] == totals["terminated"] + totals["truncated"]


def test_pendulum_async_equals_sync_across_time_limits():
    totals = assert_same_rollouts("Pendulum-v1", num_envs=2, num_steps=150, rollouts=3)  # 450 steps: limit 200
    assert totals["terminated"] == 0 and totals["truncated"] == 2 * 2, totals


def test_async_env_closes_its_subprocesses():
    env = make_vector_env("CartPole-v1", 2, asynchronous=True)
    processes = list(env.processes)
    assert all(process.is_alive() for process in processes)
    env.close()
    for process in processes:
        process.join(timeout=5)
    assert not any(process.is_alive() for process in processes)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
