"""Trainers: correct bootstrapping at time limits, learning, divergence handling, every config field used."""

from __future__ import annotations

import dataclasses

import keras

import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

import tf_gae
import tf_gae.envs.cartpole
from tf_gae.envs.adapter import GymnasiumEnv
from tf_gae._tf import tf
from tf_gae.trainers import A2CConfig, A2CTrainer, ConfigError, ReinforceConfig, ReinforceTrainer, TrainingDiverged

from .envs import register_test_envs

register_test_envs()


class FoldedTruncationA2C(A2CTrainer):
    """The common bug (CleanRL #198, TF-Agents PPO): a time limit treated as a terminal state."""

    def advantages_and_returns(self, rollout):
        return tf_gae.gae(
            rollout["rewards"],
            rollout["values"],
            rollout["next_values"],
            rollout["terminated"] | rollout["truncated"],
            None,
            gamma=self.config.gamma,
            lambda_=self.config.lam,
        )


def test_infinite_horizon_value_needs_the_time_limit_bootstrap():
    """SB3's test_infinite_horizon: reward 1 forever, episodes cut at 10 steps, V must approach 1/(1−γ)."""
    config = A2CConfig(
        env_id="ConstantReward-v0",
        num_envs=4,
        n_steps=20,
        gamma=0.9,
        lam=0.95,
        optimizer="adam",
        learning_rate=0.01,
        total_steps=8000,
        hidden_sizes=(16,),
        log_every_steps=10**6,
    )
    values = {}
    for trainer_class in (A2CTrainer, FoldedTruncationA2C):
        trainer = trainer_class(config)
        trainer.train()
        trainer.close()
        values[trainer_class] = float(trainer.model.value(tf.constant([[0.5]]))[0])
    assert values[A2CTrainer] == pytest.approx(1 / (1 - 0.9), abs=0.8)
    # Folding truncation into termination fits the average 10-step-horizon value instead:
    # mean over k = 1..10 of (1 − γ^k)/(1 − γ) = 4.14.
    folded_exact = np.mean([(1 - 0.9**k) / (1 - 0.9) for k in range(1, 11)])
    assert values[FoldedTruncationA2C] == pytest.approx(folded_exact, abs=0.8)


def test_a2c_learns_cartpole_within_a_small_budget():
    rows = []
    trainer = A2CTrainer(A2CConfig(total_steps=24_000, seed=0, log_every_steps=4_000))
    trainer.train(on_row=rows.append)
    trainer.close()
    first, last = rows[0]["episode_return_mean"], rows[-1]["episode_return_mean"]
    assert first < 40, "a random CartPole policy lasts about 20 steps"
    assert last > 150, f"A2C did not clearly improve: {[round(r['episode_return_mean']) for r in rows]}"
    assert [r["env_steps"] for r in rows] == sorted({r["env_steps"] for r in rows})
    assert rows[-1]["env_steps"] == 24_000


def test_reinforce_learns_cartpole_within_a_small_budget():
    rows = []
    trainer = ReinforceTrainer(ReinforceConfig(total_steps=30_000, seed=0, log_every_steps=6_000))
    trainer.train(on_row=rows.append)
    trainer.close()
    assert rows[-1]["episode_return_mean"] > 2 * rows[0]["episode_return_mean"]


def test_non_finite_loss_stops_training_and_leaves_the_weights_finite():
    trainer = A2CTrainer(A2CConfig(env_id="NaNReward-v0", num_envs=2, n_steps=10, total_steps=2000))
    before = [w.copy() for w in trainer.model.get_weights()]
    # A trainer writes no checkpoint, so its message claims none; it names settings as the Python API does.
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at update \S+ \(.*\); lower learning_rate or set max_grad_norm$"):
        trainer.train()
    trainer.close()
    after = trainer.model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "the finite updates before it did apply"
    # Trained in memory through the Python API: no run directory, so no checkpoint is claimed either.
    with pytest.raises(TrainingDiverged) as caught:
        tf_gae.train("NaNReward-v0", "a2c", run_dir=None, num_envs=2, n_steps=10, total_steps=2000, eval_episodes=0)
    assert str(caught.value).endswith("; lower learning_rate or set max_grad_norm") and "checkpoint" not in str(caught.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(gamma=1.5), "gamma must be a number in"),
        (dict(lam=-0.1), "lam must be a number in"),
        (dict(learning_rate=0.0), "learning_rate must be a positive"),
        (dict(num_envs=0), "num_envs must be a whole number"),
        (dict(optimizer="sgd"), "optimizer must be 'rmsprop' or 'adam'"),
        (dict(hidden_sizes=()), "hidden_sizes must be one or more"),
        (dict(entropy_coef=-1.0), "entropy_coef must be a non-negative"),
        (dict(total_steps=10, num_envs=2, n_steps=8), "total_steps must be at least one rollout"),
    ],
)
def test_invalid_hyperparameters_name_the_flag(change, message):
    with pytest.raises(ConfigError, match=message):
        A2CConfig(**change)


def test_unsupported_spaces_are_refused():
    with pytest.raises(ValueError, match="only flat"):
        A2CTrainer(A2CConfig(env_id="DictObservation-v0"))


def _fingerprint(config, trainer_class=A2CTrainer):
    """The weights and progress rows after training `config`, and the class of its environments.

    The trainer's functions run eagerly here: every field is read by the Python that builds them, so eager
    calls read each field as the compiled ones do, without tracing and compiling a program per variant."""
    rows, eager_before = [], tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        trainer = trainer_class(config)
        trainer.train(on_row=rows.append)
        trainer.close()
    finally:
        tf.config.run_functions_eagerly(eager_before)
    weights = np.concatenate([w.ravel() for w in trainer.model.get_weights()])
    progress = [(r["env_steps"], r["updates"], r["policy_loss"], r["value_loss"]) for r in rows]
    env = trainer.env.vector_env if isinstance(trainer.env, GymnasiumEnv) else trainer.env  # gymnasium's, adapted
    return weights, progress, type(env)


def test_every_config_field_changes_behaviour():
    """keras-io's PPO example declares lam = 0.97 and silently uses 0.95; here every field must be read."""
    base = A2CConfig(  # gymnasium's environments: asynchronous_envs applies to them, env_backend switches away
        env_id="CartPole-v1", total_steps=64, num_envs=2, n_steps=8, log_every_steps=16, hidden_sizes=(8,),
        env_backend="gymnasium",
    )
    changes = dict(
        env_id="Acrobot-v1",
        total_steps=80,
        seed=1,
        num_envs=4,
        n_steps=4,
        gamma=0.5,
        lam=0.2,
        learning_rate=0.05,
        optimizer="rmsprop",
        value_coef=2.0,
        entropy_coef=0.5,
        max_grad_norm=0.01,
        normalize_advantages=True,
        hidden_sizes=(8, 8),
        shared_trunk=True,
        normalize_observations=True,
        normalize_rewards=True,
        asynchronous_envs=True,
        env_backend="tensorflow",
        log_every_steps=32,
    )
    assert set(changes) == {f.name for f in dataclasses.fields(A2CConfig)}, "a new field needs a line here"
    base_weights, base_progress, base_env = _fingerprint(base)
    unchanged, env_classes = [], {}
    for name, value in changes.items():
        weights, progress, env_class = _fingerprint(dataclasses.replace(base, **{name: value}))
        env_classes[name] = env_class
        same = (
            weights.shape == base_weights.shape
            and np.array_equal(weights, base_weights)
            and progress == base_progress
            and env_class is base_env
        )
        if same:
            unchanged.append(name)
    assert not unchanged, f"these fields changed nothing: {unchanged}"
    assert base_env is SyncVectorEnv and env_classes["asynchronous_envs"] is AsyncVectorEnv
    assert env_classes["env_backend"] is tf_gae.envs.cartpole.CartPole


def test_rmsprop_steps_like_pytorch():
    """θ ← θ − lr g / (√v + ε), v ← ρv + (1−ρ)g² (PyTorch's formula, written out in numpy), for three steps."""
    from tf_gae.trainers.base import TorchStyleRMSprop

    rng = np.random.default_rng(0)
    start = rng.normal(size=5).astype(np.float32)
    gradients = [rng.normal(scale=scale, size=5).astype(np.float32) for scale in (1e-5, 3e-5, 1e-4)]
    variable = tf.Variable(start)
    optimizer = TorchStyleRMSprop(learning_rate=7e-4, rho=0.99, epsilon=1e-5)
    theta, velocity = start.astype(np.float64), np.zeros(5)
    for gradient in gradients:
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
        velocity = 0.99 * velocity + 0.01 * gradient.astype(np.float64) ** 2
        theta = theta - 7e-4 * gradient / (np.sqrt(velocity) + 1e-5)
    np.testing.assert_allclose(variable.numpy(), theta, rtol=0, atol=1e-7)
    # Keras's own RMSprop, √(v + ε), would be measurably off here (√v ≈ ε):
    keras_variable = tf.Variable(start)
    keras_optimizer = keras.optimizers.RMSprop(learning_rate=7e-4, rho=0.99, epsilon=1e-10)
    for gradient in gradients:
        keras_optimizer.apply_gradients([(tf.constant(gradient), keras_variable)])
    assert np.abs(keras_variable.numpy() - theta).max() > 1e-4
