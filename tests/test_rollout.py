"""Rollouts: shapes, and the time-limit bootstrap from the FINAL observation under gymnasium 1.x autoreset."""

from __future__ import annotations

import numpy as np
import pytest

from tf_gae._tf import tf
from tf_gae.models import build_actor_critic
from tf_gae.rollout import RolloutCollector, make_vector_env

from .envs import register_test_envs

register_test_envs()


def collector_for(env_id: str, num_envs: int, num_steps: int, seed: int = 0) -> RolloutCollector:
    env = make_vector_env(env_id, num_envs)
    model = build_actor_critic(env.single_observation_space, env.single_action_space)
    return RolloutCollector(env, model, num_steps=num_steps, seed=seed)


def test_truncation_bootstraps_from_the_final_observation_not_the_reset_one():
    collector = collector_for("ConstantRewardClock-v0", num_envs=2, num_steps=25)  # time limit 10
    rollout = collector.collect()
    truncated = rollout.truncated.numpy()
    np.testing.assert_array_equal(np.flatnonzero(truncated[:, 0]), [9, 19])
    assert not rollout.terminated.numpy().any()
    observations = rollout.observations.numpy()  # [T, B, 1]: t/100 within each episode
    np.testing.assert_allclose(100 * observations[:12, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1], atol=1e-4, rtol=0)
    value = lambda x: float(collector.model.value(tf.constant([[x]], tf.float32))[0])  # noqa: E731
    next_values = rollout.next_values.numpy()
    # At the truncation the bootstrap is V(final observation) = V(0.10), not V(reset observation) = V(0.0).
    assert next_values[9, 0] == pytest.approx(value(0.10), abs=1e-5)
    assert abs(value(0.10) - value(0.0)) > 1e-4, "the test needs V to tell the two observations apart"
    # Everywhere else next_values[t] = values[t+1]; the last step bootstraps from V(s_T).
    values = rollout.values.numpy()
    inside = ~truncated[:-1]
    np.testing.assert_allclose(next_values[:-1][inside], values[1:][inside], rtol=1e-6)
    assert next_values[-1, 0] == pytest.approx(value(0.05), abs=1e-5)  # s_25 is step 5 of episode 3
    assert rollout.episode_returns == [10.0] * 4 and rollout.episode_lengths == [10] * 4
    # The graph returns them as [T, B] tensors: the return at the step an episode ended, NaN elsewhere.
    tensors = collector.collect_graph(collector.observations)
    returns, lengths = tensors["episode_returns"].numpy(), tensors["episode_lengths"].numpy()  # [T, B]
    assert returns.shape == (25, 2) and returns.dtype == np.float64
    ended = ~np.isnan(returns)
    np.testing.assert_array_equal(ended, tensors["truncated"].numpy())  # (this env never terminates)
    assert set(returns[ended]) == {10.0} and set(lengths[ended]) == {10} and not lengths[~ended].any()


def test_shapes_and_dtypes_discrete_and_box():
    rollout = collector_for("CartPole-v1", num_envs=3, num_steps=7).collect()
    assert rollout.observations.shape == (7, 3, 4) and rollout.observations.dtype == tf.float32
    assert rollout.actions.shape == (7, 3) and rollout.actions.dtype.is_integer
    for name in ("log_probs", "rewards", "values", "next_values"):
        tensor = getattr(rollout, name)
        assert tensor.shape == (7, 3) and tensor.dtype == tf.float32, name
        assert np.isfinite(tensor.numpy()).all(), name
    assert rollout.terminated.dtype == tf.bool and rollout.truncated.dtype == tf.bool
    assert rollout.num_steps == 21
    box = collector_for("Pendulum-v1", num_envs=2, num_steps=5).collect()
    assert box.actions.shape == (5, 2, 1) and box.actions.dtype == tf.float32
    assert box.log_probs.shape == (5, 2)


def test_log_probs_are_those_of_the_policy_that_acted():
    collector = collector_for("CartPole-v1", num_envs=2, num_steps=4)
    rollout = collector.collect()
    flat_obs = tf.reshape(rollout.observations, [-1, 4])
    expected = collector.model.distribution(flat_obs).log_prob(tf.reshape(rollout.actions, [-1])).numpy()
    np.testing.assert_allclose(rollout.log_probs.numpy().reshape(-1), expected, rtol=1e-5, atol=1e-6)


def test_same_seed_same_rollout():
    first = collector_for("CartPole-v1", num_envs=2, num_steps=30, seed=3)
    second = collector_for("CartPole-v1", num_envs=2, num_steps=30, seed=3)
    second.model.set_weights(first.model.get_weights())
    a, b = first.collect(), second.collect()
    np.testing.assert_array_equal(a.actions.numpy(), b.actions.numpy())
    np.testing.assert_array_equal(a.observations.numpy(), b.observations.numpy())


def test_unknown_env_id_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'"):
        make_vector_env("NoSuchEnv-v0", 2)


def test_a_task_in_tensorflow_ops_needs_num_envs():
    import tf_gae.envs

    env = tf_gae.envs.make("CartPole-v1")
    model = build_actor_critic(env.observation_space, env.action_space)
    with pytest.raises(ValueError, match="num_envs is needed for a task in TensorFlow ops"):
        RolloutCollector(env, model, num_steps=4, seed=0)
    collector = RolloutCollector(env, model, num_steps=4, seed=0, num_envs=3)
    state, observations = env.reset(0, 3)  # its episodes begin at construction, from the collector's seed
    np.testing.assert_array_equal(collector.physics.numpy(), state.physics.numpy())
    np.testing.assert_array_equal(collector.observations.numpy(), observations.numpy())
