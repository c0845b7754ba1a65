"""PPO for the tiny LM (tf_gae.llm.ppo): the batch's numbers against hand computations and float64 loops."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tf_gae._tf import tf
from tf_gae.llm.lm import TinyCausalLM
from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer, copy_model, group_baseline_advantages
from tf_gae.llm.task import AdditionTask


def reference_token_gae(rewards, values, mask, gamma, lam):
    """Float64, one row at a time, over the valid tokens only (the last valid token is terminal)."""
    rewards, values, mask = (np.asarray(x, np.float64) for x in (rewards, values, mask))
    advantages = np.zeros_like(rewards)
    for row in range(rewards.shape[0]):
        length = int(mask[row].sum())
        following = 0.0
        for t in reversed(range(length)):
            next_value = values[row, t + 1] if t + 1 < length else 0.0
            delta = rewards[row, t] + gamma * next_value - values[row, t]
            following = delta + gamma * lam * following
            advantages[row, t] = following
    return advantages, (advantages + values) * mask


def test_group_baseline_by_hand():
    rewards = tf.constant([[0.0, 0.0, 1.0], [0.0, 5.0, 9.0], [-0.1, 2.0, 0.0], [0.3, 0.0, 0.0]])
    mask = tf.constant([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # Group 0 = rows 0, 1: totals 1 and 5 (the 9 is padding), mean 3. Group 1 = rows 2, 3: totals 1.9, 0.3.
    expected = np.array([
        [1 - 3, 1 - 3, 1 - 3],
        [5 - 3, 5 - 3, 0.0],
        [1.9 - 1.1, 2.0 - 1.1, 0.0],
        [0.3 - 1.1, 0.0, 0.0],
    ])  # fmt: skip
    np.testing.assert_allclose(group_baseline_advantages(rewards, mask, group_size=2).numpy(), expected, atol=1e-6)


def test_group_std_is_grpo_outcome_advantage_by_hand():
    # GRPO with the KL in the loss: the rewards are the score on the last token, so G_t is the score.
    scores = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])  # 3 groups of 4
    lengths = np.array([3, 2, 3, 1, 2, 2, 3, 1, 3, 3, 2, 1])
    mask = (np.arange(3)[None, :] < lengths[:, None]).astype(np.float64)
    rewards = np.zeros((12, 3))
    rewards[np.arange(12), lengths - 1] = scores
    expected = np.zeros((12, 3))
    for group in range(3):
        rows = slice(4 * group, 4 * group + 4)
        totals = scores[rows]
        # (G − mean) / (sample std + ε); the all-zero group gets 0 (0 / ε)
        expected[rows] = ((totals - totals.mean()) / (totals.std(ddof=1) + 1e-6))[:, None] * mask[rows]
    got = group_baseline_advantages(tf.constant(rewards), tf.constant(mask), group_size=4, divide_by_std=True)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert abs(expected[0, 0] - 0.5 / np.std([1, 0, 0, 1], ddof=1)) < 1e-5  # ±0.866 for a 2-of-4 group


@pytest.mark.parametrize(
    "overrides, name",
    [
        (dict(advantage="critic"), "advantage"),
        (dict(advantage="group", samples_per_prompt=1), "samples_per_prompt"),
        (dict(kl_estimator="k2"), "kl_estimator"),
        (dict(lam=1.5), "lam"),
        (dict(minibatch_size=0), "minibatch_size"),
        (dict(kl_beta=-0.1), "kl_beta"),
        (dict(kl_in="both"), "kl_in"),
        (dict(group_std=True), "group_std"),
        (dict(kl_in="loss", kl_estimator="k1"), "kl_estimator"),
    ],
)
def test_config_errors_name_the_field(overrides, name):
    with pytest.raises(ValueError, match=name):
        LMPPOConfig(**overrides)


@pytest.fixture(scope="module")
def untrained():
    keras.utils.set_random_seed(3)
    task = AdditionTask(seed=3)
    return task, TinyCausalLM(task.vocab_size, task.sequence_length, d_model=32, num_heads=2, num_layers=1)


def test_first_batch_rewards_and_advantages(untrained):
    task, model = untrained
    config = LMPPOConfig(prompts_per_iteration=16, lam=0.9, gamma=0.97, kl_beta=0.3, seed=1)
    trainer = LMPPOTrainer(copy_model(model, "policy"), task, config)
    batch = trainer.collect()
    mask = batch.mask.numpy()
    lengths = mask.sum(axis=1).astype(int)
    assert (lengths >= 1).all() and batch.responses.shape == (16, task.max_response_length)
    # The reference is a copy of the policy: before any update the KL is exactly zero ...
    np.testing.assert_array_equal(batch.kl.numpy(), 0.0)
    # ... so the rewards are the verifier's score on the last valid token and nothing else.
    expected_rewards = np.zeros_like(mask)
    expected_rewards[np.arange(16), lengths - 1] = task.rewards(batch.operands, batch.responses.numpy(), mask)
    np.testing.assert_array_equal(batch.rewards.numpy(), expected_rewards)
    advantages, returns = reference_token_gae(batch.rewards, batch.values, mask, config.gamma, config.lam)
    np.testing.assert_allclose(batch.advantages.numpy(), advantages, atol=1e-5)
    np.testing.assert_allclose(batch.returns.numpy(), returns, atol=1e-5)


def test_kl_penalty_enters_the_rewards_after_the_policy_moves(untrained):
    task, model = untrained
    config = LMPPOConfig(prompts_per_iteration=16, minibatch_size=8, policy_learning_rate=3e-3, kl_beta=0.2, seed=2)
    trainer = LMPPOTrainer(copy_model(model, "policy"), task, config)
    reference_before = [w.copy() for w in trainer.reference.get_weights()]
    _, metrics = trainer.step()
    for before, after in zip(reference_before, trainer.reference.get_weights()):
        np.testing.assert_array_equal(before, after)  # the reference never moves
    assert any(
        not np.array_equal(p, r) for p, r in zip(trainer.policy.get_weights(), trainer.reference.get_weights())
    )
    batch = trainer.collect()
    mask = batch.mask.numpy()
    log_ratio = (batch.log_probs - batch.reference_log_probs).numpy()
    np.testing.assert_allclose(batch.kl.numpy(), log_ratio * mask, atol=1e-6)  # k1
    lengths = mask.sum(axis=1).astype(int)
    expected = -0.2 * log_ratio * mask
    expected[np.arange(len(lengths)), lengths - 1] += batch.scores
    np.testing.assert_allclose(batch.rewards.numpy(), expected, atol=1e-6)
    assert np.abs(batch.kl.numpy()).max() > 0
    assert all(np.isfinite(v) for v in metrics.values())


def test_group_variant_uses_no_critic_and_equal_sequences(untrained):
    task, model = untrained
    config = LMPPOConfig(advantage="group", prompts_per_iteration=4, samples_per_prompt=4, seed=0)
    trainer = LMPPOTrainer(copy_model(model, "policy"), task, config)
    assert trainer.critic is None
    batch = trainer.collect()
    assert batch.prompts.shape[0] == 16
    np.testing.assert_array_equal(batch.prompts[0], batch.prompts[3])  # a prompt's group is adjacent
    np.testing.assert_array_equal(batch.values.numpy(), 0.0)
    # Each group's baseline-subtracted total returns sum to zero.
    totals = batch.advantages.numpy()[:, 0].reshape(4, 4)
    np.testing.assert_allclose(totals.sum(axis=1), 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "prompts, samples, minibatch, expected",
    [(6, 1, 4, [4, 2]), (8, 1, 16, [8]), (8, 1, 4, [4]), (5, 2, 4, [4, 2]), (3, 3, 9, [9])],
)
def test_minibatch_sizes_are_the_full_minibatches_and_the_remainder(untrained, prompts, samples, minibatch, expected):
    # What a strategy must be able to split: 6 sequences in fours are steps of 4 and 2 (by hand).
    task, model = untrained
    advantage = "group" if samples > 1 else "gae"
    config = LMPPOConfig(
        prompts_per_iteration=prompts, samples_per_prompt=samples, minibatch_size=minibatch, advantage=advantage
    )
    assert LMPPOTrainer(copy_model(model, "policy"), task, config).minibatch_sizes() == expected


def test_kl_in_the_loss_leaves_the_rewards_to_the_score_and_adds_beta_kl_to_the_policy_loss(untrained):
    task, model = untrained
    beta = 0.2
    config = LMPPOConfig(prompts_per_iteration=16, minibatch_size=8, policy_learning_rate=3e-3, kl_beta=beta,
                         kl_in="loss", kl_estimator="k3", seed=2)  # fmt: skip
    trainer = LMPPOTrainer(copy_model(model, "policy"), task, config)
    trainer.step()  # the policy moves away from the reference
    batch = trainer.collect()
    mask = batch.mask.numpy()
    lengths = mask.sum(axis=1).astype(int)
    expected_rewards = np.zeros_like(mask)
    expected_rewards[np.arange(16), lengths - 1] = batch.scores
    np.testing.assert_array_equal(batch.rewards.numpy(), expected_rewards)  # no KL in the rewards
    d = np.float64(batch.log_probs.numpy()) - np.float64(batch.reference_log_probs.numpy())
    shard = dict(
        prompts=tf.constant(batch.prompts), responses=batch.responses, mask=batch.mask, log_probs=batch.log_probs,
        reference_log_probs=batch.reference_log_probs, advantages=batch.advantages,
    )  # fmt: skip
    loss, metrics = trainer.policy_loss(shard)
    valid = mask > 0
    # π_θ = π_old here (no step since collect), so ρ = 1 and the surrogate is −mean Â; k3 = e^{−d} − 1 + d.
    k3 = np.expm1(-d[valid]) + d[valid]
    assert beta * k3.mean() > 1e-3  # the policy did move: the KL term is 100× the tolerance below
    expected = -np.float64(batch.advantages.numpy())[valid].mean() + beta * k3.mean()
    # float32 log-probs recomputed by the same graph: ρ − 1 ~ 1e-6, times |Â| ≲ 3, so 1e-5 is ample.
    assert float(loss) == pytest.approx(expected, abs=1e-5)
    assert float(metrics["kl_to_reference"]) == pytest.approx(k3.mean(), abs=1e-6)


def test_the_kl_loss_alone_pulls_the_policy_back_toward_the_reference(untrained):
    # Move the policy away, then update with every advantage 0: only β·k3 has a gradient, and the log-ratio
    # d = log π_θ − log π_ref of the batch's own tokens must shrink.
    import dataclasses

    task, model = untrained
    away = LMPPOConfig(prompts_per_iteration=16, minibatch_size=8, policy_learning_rate=3e-3, seed=4)
    trainer = LMPPOTrainer(copy_model(model, "policy"), task, away)
    trainer.step()
    trainer.step()
    pull = LMPPOTrainer(trainer.policy, task, dataclasses.replace(away, kl_in="loss", kl_estimator="k3", kl_beta=1.0,
                                                                policy_learning_rate=1e-3))  # fmt: skip
    pull.reference.set_weights(trainer.reference.get_weights())  # the original reference, not the moved policy
    batch = pull.collect()
    valid = batch.mask.numpy() > 0

    def mean_squared_log_ratio() -> float:
        log_probs, reference_log_probs, _ = pull._score_tokens(tf.constant(batch.prompts), batch.responses)
        return float(np.mean(((log_probs - reference_log_probs).numpy()[valid]) ** 2))

    before = mean_squared_log_ratio()
    assert before > 1e-3
    weights = [w.copy() for w in pull.policy.get_weights()]
    pull.update(dataclasses.replace(batch, advantages=tf.zeros_like(batch.advantages)))
    assert mean_squared_log_ratio() < 0.5 * before  # development machine: 2.45 → 0.77
    # The control: β = 0 leaves nothing with a gradient, so the same update moves no weight.
    pull.policy.set_weights(weights)
    still = LMPPOTrainer(pull.policy, task, dataclasses.replace(pull.config, kl_beta=0.0))
    still.update(dataclasses.replace(batch, advantages=tf.zeros_like(batch.advantages)))
    for before_weight, after_weight in zip(weights, still.policy.get_weights()):
        np.testing.assert_array_equal(before_weight, after_weight)
