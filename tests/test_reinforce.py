"""REINFORCE with a baseline trains on whole episodes: Monte-Carlo returns, nothing bootstrapped from V.

The references are independent of the trainer: the return G_t = Σ_l γ^l r_{t+l} to each episode's end,
summed in float64 from the rollout's own rewards; the tasks' own bookkeeping (a CartPole step pays 1, a
Pendulum episode is 200 steps and ends by its time limit); and the gradient of the loss on the steps
inside the episodes alone, with the masked steps cut out of the batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs import register_test_envs
from tf_gae._tf import tf
from tf_gae.config import ConfigError
from tf_gae.models import models_computing_in
from tf_gae.trainers import A2CConfig, A2CTrainer, ReinforceConfig, ReinforceTrainer
from tf_gae.trainers.base import explained_variance


register_test_envs()  # ConstantRewardEndless-v0: no time limit


def reinforce(**changes) -> ReinforceTrainer:
    settings = dict(num_envs=4, total_steps=4_000, log_every_steps=1_000, seed=1, hidden_sizes=(16,))
    return ReinforceTrainer(ReinforceConfig(**dict(settings, **changes)))


def monte_carlo_returns(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """[T, B] float64: G_t = r_t + γ G_{t+1} while step t+1 is in the same episode, G_t = r_t at its end."""
    returns = np.zeros(rewards.shape)
    following = np.zeros(rewards.shape[1])  # G_{t+1}, 0 past the episode's end
    for t in reversed(range(len(rewards))):
        returns[t] = rewards[t] + gamma * following
        following = returns[t] * mask[t]
    return returns


@pytest.mark.parametrize("backend", ["tensorflow", "gymnasium"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a_batch_is_whole_episodes_with_monte_carlo_returns(env_id, backend):
    trainer = reinforce(env_id=env_id, env_backend=backend)
    try:
        assert trainer.rollout_steps == {"CartPole-v1": 500, "Pendulum-v1": 200}[env_id]  # the time limits
        rollout = trainer.collector.collect()
        mask = rollout.mask.numpy().astype(np.float64)  # [T, B]
        rewards = rollout.rewards.numpy().astype(np.float64)
        lengths = mask.sum(axis=0).astype(int)
        steps = np.arange(len(mask))[:, None]
        np.testing.assert_array_equal(mask, steps < lengths)  # each env: its first episode, from its first step
        ended = (rollout.terminated.numpy() | rollout.truncated.numpy())[lengths - 1, np.arange(4)]
        assert ended.all(), "every episode runs to its end"
        assert rollout.episode_lengths == lengths.tolist() and rollout.num_steps == lengths.sum()
        if env_id == "CartPole-v1":  # +1 a step, terminated by the pole or the cart
            assert rollout.episode_returns == lengths.tolist()
            assert rollout.terminated.numpy()[lengths - 1, np.arange(4)].all()
        else:  # Pendulum never terminates: the 200-step time limit ends every episode
            assert lengths.tolist() == [200] * 4 and rollout.truncated.numpy()[199].all()
            np.testing.assert_allclose(rollout.episode_returns, rewards.sum(axis=0), rtol=1e-6)  # float32 terms

        advantages, targets = trainer.advantages_and_returns(trainer.rollout_tensors(rollout))
        inside = mask > 0
        expected = monte_carlo_returns(rewards, mask, trainer.config.gamma)
        # The float32 recursion G_t = r_t + γ G_{t+1} rounds once per step, each time by at most 2⁻²⁴ of
        # its running value, over at most T steps: |error| ≤ T · 2⁻²³ · max|G| (Â = G − V inherits it, V
        # being the same float32 numbers). A bootstrap from V at a time limit would add γ V(s_final), of
        # order 0.1–100, to the last steps' returns.
        bound = trainer.rollout_steps * 2.0**-23 * np.abs(expected[inside]).max()
        np.testing.assert_allclose(targets.numpy()[inside], expected[inside], rtol=0, atol=bound)
        np.testing.assert_allclose(  # Â_t = G_t − V(s_t)
            advantages.numpy()[inside], expected[inside] - rollout.values.numpy()[inside], rtol=0, atol=bound
        )
    finally:
        trainer.close()


def test_the_loss_is_the_mean_over_the_steps_inside_the_episodes():
    # Computed in float64 (the model too), so that summing the same terms in another order differs by
    # ~N · 1e-16 ≈ 1e-13 of their size, far below the tolerance below and far above nothing.
    with models_computing_in("float64"):
        trainer = reinforce(env_backend="tensorflow")
    try:
        batch = trainer.flat_batch(trainer.rollout_tensors(trainer.collector.collect()))
        assert batch["returns"].dtype == tf.float64
        inside = batch["mask"] > 0
        compact = {name: tf.boolean_mask(values, inside) for name, values in batch.items() if name != "mask"}
        assert 0 < len(compact["actions"]) < len(batch["actions"])  # the batch holds masked steps

        def loss_and_gradients(batch):
            with tf.GradientTape() as tape:
                loss, metrics = trainer._losses(batch)
            return loss, metrics, tape.gradient(loss, trainer.model.trainable_variables)

        loss, metrics, gradients = loss_and_gradients(batch)
        reference_loss, reference_metrics, reference_gradients = loss_and_gradients(compact)  # plain means
        assert float(loss) == pytest.approx(float(reference_loss), rel=1e-10)
        for name in metrics:
            assert float(metrics[name]) == pytest.approx(float(reference_metrics[name]), rel=1e-10), name
        for got, expected in zip(gradients, reference_gradients):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
        # explained variance over the inside steps: 1 − Var[R − V] / Var[R], written out in NumPy
        values, returns = compact["values"].numpy(), compact["returns"].numpy()
        expected_ev = 1.0 - np.var(returns - values) / np.var(returns)
        got_ev = float(explained_variance(batch["values"], batch["returns"], inside))
        assert got_ev == pytest.approx(expected_ev, rel=1e-10, abs=1e-12)
    finally:
        trainer.close()


def test_env_steps_count_the_episodes_and_rows_come_every_log_every_steps():
    rows = []
    trainer = reinforce(env_backend="tensorflow", total_steps=3_000, log_every_steps=1_000)
    trainer.train(on_row=rows.append)
    trainer.close()
    # every step trained on is in exactly one episode, and every episode ends within its update
    assert sum(row["episode_length_mean"] * row["episodes"] for row in rows) == pytest.approx(rows[-1]["env_steps"])
    assert rows[-1]["env_steps"] == int(trainer.env_steps.numpy())
    # what the start-up line says: the budget itself, and whole episodes up to the time limit
    assert trainer.planned_steps == 3_000 and trainer.describe_rollout() == "4 whole episodes (≤ 500 steps)"
    assert rows[-1]["episodes"] % 4 == 0 and sum(row["episodes"] for row in rows) == 4 * rows[-1]["updates"]
    # a row when env_steps passes each multiple of 1,000; the budget is passed by less than one batch
    assert [row["env_steps"] // 1_000 for row in rows] == [1, 2, 3]
    assert 3_000 <= rows[-1]["env_steps"] < 3_000 + 4 * 500


@pytest.mark.parametrize("backend", ["tensorflow", "gymnasium"])
def test_a_resumed_run_repeats_the_uninterrupted_one(backend, tmp_path):
    """Every update starts fresh episodes from the checkpointed generator: resumes are exact on both backends."""

    def rows_of(trainer):
        rows = []
        trainer.train(on_row=rows.append)
        trainer.close()
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows]

    whole = rows_of(reinforce(env_backend=backend, total_steps=2_000))
    half = reinforce(env_backend=backend, total_steps=1_000)
    first = rows_of(half)
    path = half.checkpoint().save(str(tmp_path / "ckpt"))
    resumed = reinforce(env_backend=backend, total_steps=2_000)
    resumed.checkpoint().restore(path).assert_consumed()
    rest = rows_of(resumed)
    episodes = ("env_steps", "updates", "episode_return_mean", "episode_return_std", "episode_length_mean", "episodes")
    assert [{k: r[k] for k in episodes} for r in first + rest] == [{k: r[k] for k in episodes} for r in whole]
    for got, expected in zip(first + rest, whole):  # the same updates, summed over graph calls cut differently
        for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
            assert got[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name


def test_a_cap_below_the_time_limit_ends_episodes_there_without_a_bootstrap():
    trainer = reinforce(env_backend="tensorflow", n_steps=10, gamma=0.9)
    try:
        rollout = trainer.collector.collect()
        mask = rollout.mask.numpy()
        assert mask.shape == (10, 4)
        _, targets = trainer.advantages_and_returns(trainer.rollout_tensors(rollout))
        cut = mask[9] > 0  # episodes still going at the cap: their last return is the last reward alone
        assert cut.any()
        np.testing.assert_allclose(targets.numpy()[9, cut], 1.0, rtol=1e-6)
        assert targets.numpy()[0, cut] == pytest.approx((1 - 0.9**10) / (1 - 0.9), rel=1e-6)  # Σ_{l<10} γ^l
        assert len(rollout.episode_lengths) == 4 - cut.sum()  # only episodes that ended are counted
    finally:
        trainer.close()


def test_segments_are_planned_in_whole_rollouts():
    trainer = A2CTrainer(A2CConfig(total_steps=100, num_envs=2, n_steps=8, env_backend="gymnasium"))
    try:  # 6 rollouts of 2 × 8 steps fit in 100
        assert trainer.planned_steps == 96 and trainer.describe_rollout() == "2 envs × 8 steps"
    finally:
        trainer.close()


def test_the_flags_say_what_they_mean_for_reinforce(capsys):
    from tf_gae.cli import main

    with pytest.raises(ConfigError, match=r"n_steps must be a whole number ≥ 0 \(0 = the environment's time limit\)"):
        ReinforceConfig(n_steps=-1)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "reinforce: the longest episode an update waits for (T), 0 = the environment's time limit" in text
    assert "reinforce: whole episodes per update" in text


def test_an_environment_without_a_time_limit_needs_a_cap():
    with pytest.raises(ConfigError, match=r"n_steps must be ≥ 1 for ConstantRewardEndless-v0: .* no time limit"):
        ReinforceTrainer(ReinforceConfig(env_id="ConstantRewardEndless-v0", total_steps=100))
    trainer = ReinforceTrainer(ReinforceConfig(env_id="ConstantRewardEndless-v0", total_steps=100, n_steps=7, num_envs=2))
    try:
        rollout = trainer.collector.collect()
        assert rollout.mask.numpy().tolist() == [[1.0, 1.0]] * 7 and rollout.episode_lengths == []
    finally:
        trainer.close()
