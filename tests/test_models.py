"""tf_gae.models against numpy references: densities, entropies, the forward pass, orthogonality, running statistics."""

from __future__ import annotations

import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest

from tf_gae._tf import tf

import keras  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tf_gae.models import (  # noqa: E402
    ActionSpec,
    ActorCritic,
    RunningObservationNormalizer,
    action_spec_from_space,
    build_actor_critic,
    _Categorical,
)

OBSERVATION_SIZE = 4  # CartPole-like
OBSERVATION_SPACE = gym.spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)
ACTION_SPACES = {
    "discrete2": gym.spaces.Discrete(2),
    "box1": gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
    "box3": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
}


def make_model(action_space_name="discrete2", seed=0, **options) -> ActorCritic:
    return build_actor_critic(OBSERVATION_SPACE, ACTION_SPACES[action_space_name], seed=seed, **options)


def random_observations(seed, num=7, size=OBSERVATION_SIZE, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=(num, size))).astype(np.float32)


# ------------------------------------------------------------------------------------ numpy references


def numpy_log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def numpy_diagonal_normal_log_density(actions, mean, std):
    """log Π_i N(a_i; μ_i, σ_i²) = −Σ_i [ (a_i − μ_i)² / (2σ_i²) + log σ_i + ½ log 2π ]."""
    actions, mean, std = (np.asarray(x, np.float64) for x in (actions, mean, std))
    return -np.sum((actions - mean) ** 2 / (2 * std**2) + np.log(std) + 0.5 * np.log(2 * np.pi), axis=-1)


def numpy_forward(model: ActorCritic, observations):
    """The MLP written out with numpy from the model's weights: (policy head output, values)."""
    x = np.asarray(observations, np.float64)
    normalizer = model.observation_normalizer
    if normalizer is not None:
        mean, var = normalizer.mean.numpy(), normalizer.var.numpy()
        x = np.clip((x - mean) / np.sqrt(var + normalizer.epsilon), -normalizer.clip, normalizer.clip)

    def dense(layer, h, activation):
        out = h @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()
        return np.tanh(out) if activation else out

    for layer in model.trunk:
        x = dense(layer, x, True)
    p, v = x, x
    for layer in model.policy_trunk:
        p = dense(layer, p, True)
    for layer in model.value_trunk:
        v = dense(layer, v, True)
    return dense(model.policy_head, p, False), dense(model.value_head, v, False)[:, 0]


# ------------------------------------------------------------------------------------ shapes and dtypes


@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
@pytest.mark.parametrize("action_space_name", list(ACTION_SPACES))
def test_shapes_and_dtypes(action_space_name, shared_trunk):
    model = make_model(action_space_name, shared_trunk=shared_trunk)
    space = ACTION_SPACES[action_space_name]
    head_size = space.n if action_space_name == "discrete2" else space.shape[0]
    observations = random_observations(seed=1, num=7)

    policy_output, values = model(observations)
    assert policy_output.shape == (7, head_size) and policy_output.dtype == tf.float32
    assert values.shape == (7,) and values.dtype == tf.float32
    assert model.value(observations).shape == (7,)

    distribution, values_again = model.policy_and_value(observations)
    np.testing.assert_allclose(values_again.numpy(), values.numpy(), rtol=1e-6)
    actions = distribution.sample(seed=tf.constant([1, 2], tf.int32))
    if action_space_name == "discrete2":
        assert isinstance(distribution, tfp.distributions.Categorical)
        assert actions.shape == (7,) and actions.dtype == tf.int32
        assert set(actions.numpy().tolist()) <= {0, 1}
    else:
        assert actions.shape == (7, head_size) and actions.dtype == tf.float32
    assert distribution.log_prob(actions).shape == (7,)
    assert distribution.entropy().shape == (7,)
    assert model.mode(observations).dtype == actions.dtype
    other = model.distribution(observations + 1.0)
    assert tfp.distributions.kl_divergence(distribution, other).shape == (7,)  # registered KL still found

    @tf.function
    def step(observations, seed):
        distribution, values = model.policy_and_value(observations)
        actions = distribution.sample(seed=seed)
        return actions, distribution.log_prob(actions), distribution.entropy(), values, model.mode(observations)

    actions, log_probs, entropies, values, modes = step(tf.constant(observations), tf.constant([3, 4], tf.int64))
    assert log_probs.shape == (7,) and entropies.shape == (7,) and values.shape == (7,)
    assert modes.shape == actions.shape


def test_forward_pass_matches_numpy_mlp():
    for options in ({}, {"shared_trunk": True}, {"normalize_observations": True}, {"hidden_sizes": (5,)}):
        model = make_model("box3", seed=3, **options)
        if model.observation_normalizer is not None:
            model.observation_normalizer.update(random_observations(seed=5, num=50, scale=3.0))
        observations = random_observations(seed=6, num=9, scale=2.0)
        expected_policy, expected_values = numpy_forward(model, observations)
        policy_output, values = model(observations)
        np.testing.assert_allclose(policy_output.numpy(), expected_policy, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(values.numpy(), expected_values, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(model.mode(observations).numpy(), expected_policy, rtol=1e-4, atol=1e-6)


def test_observations_of_the_wrong_shape_are_refused():
    model = make_model()
    with pytest.raises(ValueError, match=r"observations must have shape \[N, 4\]"):
        model.distribution(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"observations must have shape \[N, 4\].*observations\[None\]"):
        model.value(np.zeros(4, np.float32))
    # float64 observations (some gymnasium environments) are cast to float32
    assert model.value(np.zeros((2, 4), np.float64)).dtype == tf.float32


# ------------------------------------------------------------------------------------ densities and entropies


def test_categorical_log_prob_and_entropy_match_numpy():
    model = make_model("discrete2", seed=4)
    spread_kernel = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    model.policy_head.kernel.assign(spread_kernel)  # logits far from uniform
    observations = random_observations(seed=2, num=16)
    distribution = model.distribution(observations)
    logits = model(observations)[0].numpy()
    log_policy = numpy_log_softmax(logits)  # [N, 2]
    for action in (0, 1):
        actions = np.full(16, action, np.int32)
        np.testing.assert_allclose(distribution.log_prob(actions).numpy(), log_policy[:, action], rtol=1e-5, atol=1e-6)
    expected_entropy = -np.sum(np.exp(log_policy) * log_policy, axis=-1)
    np.testing.assert_allclose(distribution.entropy().numpy(), expected_entropy, rtol=1e-5)
    np.testing.assert_array_equal(model.mode(observations).numpy(), np.argmax(logits, axis=-1))
    # KL(π_old ‖ π_new) = Σ_a π_old(a) (log π_old(a) − log π_new(a)), as PPO's diagnostics use it
    shifted_observations = observations + 0.5
    log_policy_new = numpy_log_softmax(model(shifted_observations)[0].numpy())
    expected_kl = np.sum(np.exp(log_policy) * (log_policy - log_policy_new), axis=-1)
    kl = tfp.distributions.kl_divergence(distribution, model.distribution(shifted_observations))
    np.testing.assert_allclose(kl.numpy(), expected_kl, rtol=1e-4, atol=1e-6)
    # gain 0.01: the initial policy is close to uniform
    fresh = make_model("discrete2", seed=4)
    np.testing.assert_allclose(fresh.distribution(observations).probs_parameter().numpy(), 0.5, atol=0.05)


@pytest.mark.parametrize("initial_log_std", [0.0, -0.7])
def test_gaussian_log_prob_and_entropy_match_numpy(initial_log_std):
    model = make_model("box3", seed=5, initial_log_std=initial_log_std)
    assert model.log_std.trainable and model.log_std.shape == (3,)
    np.testing.assert_allclose(model.log_std.numpy(), initial_log_std)
    observations = random_observations(seed=3, num=11)
    mean = numpy_forward(model, observations)[0]
    std = np.exp(np.full(3, initial_log_std))
    actions = np.random.default_rng(4).normal(size=(11, 3)).astype(np.float32) * 3.0  # outside the box too
    distribution = model.distribution(observations)
    np.testing.assert_allclose(
        distribution.log_prob(actions).numpy(), numpy_diagonal_normal_log_density(actions, mean, std), rtol=1e-5
    )
    # H = Σ_i [ ½ log(2πe) + log σ_i ]; at log σ = 0 it is act_dim · ½ log(2πe)
    expected_entropy = 3 * (0.5 * math.log(2 * math.pi * math.e) + initial_log_std)
    np.testing.assert_allclose(distribution.entropy().numpy(), np.full(11, expected_entropy), rtol=1e-6)

    # a per-dimension σ is used per dimension
    log_std = np.array([-1.0, 0.3, 0.8], np.float32)
    model.log_std.assign(log_std)
    distribution = model.distribution(observations)
    np.testing.assert_allclose(
        distribution.log_prob(actions).numpy(),
        numpy_diagonal_normal_log_density(actions, mean, np.exp(log_std)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        distribution.entropy().numpy(), np.sum(0.5 * np.log(2 * np.pi * np.e) + log_std), rtol=1e-6
    )


def test_box_actions_are_not_clipped_by_the_model():
    model = make_model("box1", seed=0, initial_log_std=math.log(50.0))  # σ = 50 ≫ the bound 2
    actions = model.distribution(np.zeros((500, 4), np.float32)).sample(seed=tf.constant([0, 1]))
    assert np.abs(actions.numpy()).max() > 2.0


# ------------------------------------------------------------------------------------ initialization


def assert_orthogonal(kernel, gain):
    """W [in, out] has orthonormal columns (in ≥ out: WᵀW = g² I) or rows (in < out: WWᵀ = g² I), times g."""
    w = np.asarray(kernel, np.float64)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5 * max(gain**2, 1e-2))


@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
def test_orthogonal_initialization_gains_and_zero_biases(shared_trunk):
    model = make_model("box3", seed=7, shared_trunk=shared_trunk, hidden_sizes=(64, 32))
    hidden = list(model.trunk) + list(model.policy_trunk) + list(model.value_trunk)
    assert len(hidden) == (2 if shared_trunk else 4)
    for layer in hidden:
        assert_orthogonal(layer.kernel.numpy(), math.sqrt(2.0))
    assert_orthogonal(model.policy_head.kernel.numpy(), 0.01)
    assert_orthogonal(model.value_head.kernel.numpy(), 1.0)
    value_kernel = model.value_head.kernel.numpy()  # [32, 1]: a unit vector
    np.testing.assert_allclose(np.linalg.norm(value_kernel), 1.0, rtol=1e-5)
    for layer in hidden + [model.policy_head, model.value_head]:
        np.testing.assert_array_equal(layer.bias.numpy(), 0.0)


def test_seed_makes_initialization_reproducible_and_layers_distinct():
    first, second, other = make_model("box3", seed=11), make_model("box3", seed=11), make_model("box3", seed=12)
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(first.policy_hidden_0.kernel.numpy(), other.policy_hidden_0.kernel.numpy())
    # one seed for all layers must not give two same-shaped layers the same matrix
    assert not np.allclose(first.policy_hidden_1.kernel.numpy(), first.value_hidden_1.kernel.numpy())
    # without a seed, keras.utils.set_random_seed makes it reproducible
    keras.utils.set_random_seed(5)
    unseeded_a = make_model("discrete2", seed=None)
    keras.utils.set_random_seed(5)
    unseeded_b = make_model("discrete2", seed=None)
    for a, b in zip(unseeded_a.weights, unseeded_b.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------------------------ trunks and gradients


def losses(model, observations, actions, targets):
    distribution, values = model.policy_and_value(observations)
    policy_loss = -tf.reduce_mean(distribution.log_prob(actions))
    value_loss = tf.reduce_mean(tf.square(targets - values))
    return policy_loss, value_loss


@pytest.mark.parametrize("action_space_name", ["discrete2", "box3"])
def test_separate_trunks_keep_the_value_gradient_out_of_the_policy(action_space_name):
    model = make_model(action_space_name, seed=1)
    observations = random_observations(seed=8, num=16)
    actions = model.distribution(observations).sample(seed=tf.constant([5, 6]))
    targets = tf.constant(np.random.default_rng(9).normal(size=16).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        policy_loss, value_loss = losses(model, observations, actions, targets)
    policy_variables = [v for layer in (*model.policy_trunk, model.policy_head) for v in layer.trainable_weights]
    if model.log_std is not None:
        policy_variables.append(model.log_std)
    value_variables = [v for layer in (*model.value_trunk, model.value_head) for v in layer.trainable_weights]
    assert len(policy_variables) + len(value_variables) == len(model.trainable_variables)
    assert all(g is None for g in tape.gradient(value_loss, policy_variables))
    assert all(g is None for g in tape.gradient(policy_loss, value_variables))
    assert all(g is not None and np.any(g.numpy() != 0) for g in tape.gradient(value_loss, value_variables))
    assert all(g is not None and np.any(g.numpy() != 0) for g in tape.gradient(policy_loss, policy_variables))


@pytest.mark.parametrize("action_space_name", ["discrete2", "box3"])
def test_shared_trunk_has_fewer_variables_and_both_heads_train_it(action_space_name):
    shared = make_model(action_space_name, seed=2, shared_trunk=True)
    separate = make_model(action_space_name, seed=2)
    assert len(shared.trainable_variables) < len(separate.trainable_variables)
    assert shared.count_params() < separate.count_params()
    observations = random_observations(seed=10, num=16)
    actions = shared.distribution(observations).sample(seed=tf.constant([7, 8]))
    targets = tf.constant(np.random.default_rng(11).normal(size=16).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        policy_loss, value_loss = losses(shared, observations, actions, targets)
    trunk_variables = [v for layer in shared.trunk for v in layer.trainable_weights]
    assert len(trunk_variables) == 4
    for loss in (policy_loss, value_loss):
        gradients = tape.gradient(loss, trunk_variables)
        assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)


# ------------------------------------------------------------------------------------ sampling and mode


@pytest.mark.parametrize("action_space_name", ["discrete2", "box3"])
def test_stateless_seeded_sampling_is_reproducible(action_space_name):
    model = make_model(action_space_name, seed=3)
    observations = random_observations(seed=12, num=64)
    distribution = model.distribution(observations)
    first = distribution.sample(seed=tf.constant([42, 7], tf.int32)).numpy()
    again = model.distribution(observations).sample(seed=tf.constant([42, 7], tf.int64)).numpy()
    other = distribution.sample(seed=tf.constant([43, 7], tf.int32)).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # int64 seeds, as tf.random.Generator.make_seeds gives them, work too
    generator_seed = tf.random.Generator.from_seed(0).make_seeds(1)[:, 0]  # [2] int64
    np.testing.assert_array_equal(
        distribution.sample(seed=generator_seed).numpy(),
        distribution.sample(seed=tf.cast(generator_seed, tf.int32)).numpy(),
    )
    compiled = tf.function(lambda o, s: model.distribution(o).sample(seed=s))
    compiled_samples = compiled(tf.constant(observations), tf.constant([42, 7], tf.int64)).numpy()
    np.testing.assert_allclose(compiled_samples, first, rtol=1e-5, atol=1e-7)  # same noise; graph rounding may differ


def test_samples_follow_the_policy():
    observation = random_observations(seed=13, num=1)
    discrete = make_model("discrete2", seed=6)
    discrete.policy_head.bias.assign([0.0, 1.0])  # π(1) = σ(1 + z₁ − z₀) ≈ 0.73
    probability_of_one = np.exp(numpy_log_softmax(discrete(observation)[0].numpy())[0, 1])
    samples = discrete.distribution(np.repeat(observation, 20000, axis=0)).sample(seed=tf.constant([1, 1]))
    assert abs(samples.numpy().mean() - probability_of_one) < 0.015  # 4.6 standard errors

    box = make_model("box3", seed=6, initial_log_std=-0.5)
    mean = numpy_forward(box, observation)[0][0]
    samples = box.distribution(np.repeat(observation, 20000, axis=0)).sample(seed=tf.constant([2, 2])).numpy()
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(samples.std(axis=0), math.exp(-0.5), rtol=0.02)


def test_gumbel_max_draws_follow_softmax_and_compile_under_xla():
    # Categorical sampling is argmax(logits + Gumbel noise) so that it compiles under XLA (no multinomial
    # sampler there on CPU). Its frequencies must be softmax(logits): the reference here is NumPy's softmax.
    logits = np.array([[0.3, -1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-3.0, 1.0, 1.0, -0.5]], np.float32)
    reference = np.exp(logits - logits.max(axis=1, keepdims=True))
    reference /= reference.sum(axis=1, keepdims=True)
    distribution = _Categorical(logits=logits)
    draws = 100_000
    samples = distribution.sample(draws, seed=tf.constant([5, 9])).numpy()  # [n, 3]
    frequencies = np.stack([np.bincount(samples[:, b], minlength=4) / draws for b in range(3)])
    standard_errors = np.sqrt(reference * (1 - reference) / draws)  # binomial, ≤ 0.0016
    assert np.all(np.abs(frequencies - reference) < 5 * standard_errors + 1e-12), frequencies - reference
    # the same seed gives the same draws eagerly, in a graph and XLA-compiled (integers: exactly)
    seed = tf.constant([11, 3])
    eager = _Categorical(logits=logits).sample(64, seed=seed).numpy()
    for jit_compile in (False, True):
        compiled = tf.function(lambda s: _Categorical(logits=logits).sample(64, seed=s), jit_compile=jit_compile)
        np.testing.assert_array_equal(compiled(seed).numpy(), eager)


def test_mode_is_argmax_or_mean():
    discrete = make_model("discrete2", seed=8)
    discrete.policy_head.kernel.assign(np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32))
    observations = random_observations(seed=14, num=32)
    logits = numpy_forward(discrete, observations)[0]
    modes = discrete.mode(observations).numpy()
    np.testing.assert_array_equal(modes, np.argmax(logits, axis=-1))
    assert 0 < modes.sum() < 32  # both actions occur, so the check can fail
    box = make_model("box1", seed=8)
    expected_mean = numpy_forward(box, observations)[0]
    np.testing.assert_allclose(box.mode(observations).numpy(), expected_mean, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------------ running normalizer


def test_running_normalizer_matches_numpy_statistics_of_all_data():
    rng = np.random.default_rng(15)
    loc, scale = np.array([3.0, -1.0, 0.0, 10.0]), np.array([2.0, 0.5, 1.0, 4.0])
    batches = [(loc + scale * rng.normal(size=(n, 4))).astype(np.float32) for n in (1, 17, 64, 5, 200)]
    eager = RunningObservationNormalizer(4)
    compiled = RunningObservationNormalizer(4)
    compiled_update = tf.function(compiled.update)
    for batch in batches:
        eager.update(batch)
        compiled_update(tf.constant(batch))
    data = np.concatenate(batches).astype(np.float64)
    # the initial statistics count as 1e-4 of an observation at mean 0 with variance 1:
    # pooled moments of that prior and the data, computed directly rather than batch by batch
    prior_count, count = 1e-4, len(data)
    pooled_mean = data.sum(axis=0) / (prior_count + count)
    pooled_second_moment = (prior_count * 1.0 + np.sum(data**2, axis=0)) / (prior_count + count)
    pooled_var = pooled_second_moment - pooled_mean**2
    for normalizer in (eager, compiled):
        np.testing.assert_allclose(normalizer.count.numpy(), count + prior_count, rtol=1e-7)
        np.testing.assert_allclose(normalizer.mean.numpy(), pooled_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(normalizer.var.numpy(), pooled_var, rtol=1e-5)
        # and numpy's mean and (population) variance, up to the prior's 1e-4 / 287 weight
        np.testing.assert_allclose(normalizer.mean.numpy(), data.mean(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(normalizer.var.numpy(), data.var(axis=0), rtol=1e-4)
    # a fresh normalizer has mean 0, var 1 and count 1e-4, like SB3's RunningMeanStd
    fresh = RunningObservationNormalizer(4)
    np.testing.assert_array_equal(fresh.mean.numpy(), 0.0)
    np.testing.assert_array_equal(fresh.var.numpy(), 1.0)
    np.testing.assert_allclose(fresh.count.numpy(), 1e-4)
    # an empty batch changes nothing
    before = [v.numpy().copy() for v in (eager.mean, eager.var, eager.count)]
    eager.update(np.zeros((0, 4), np.float32))
    compiled_update(tf.zeros((0, 4)))
    for value, variable in zip(before, (eager.mean, eager.var, eager.count)):
        np.testing.assert_array_equal(variable.numpy(), value)
    with pytest.raises(ValueError, match=r"observations must have shape \[N, 4\]"):
        eager.update(np.zeros((3, 2), np.float32))


def test_running_normalizer_output_is_standardized_and_clipped():
    normalizer = RunningObservationNormalizer(3, clip=5.0)
    rng = np.random.default_rng(16)
    normalizer.update((rng.normal(size=(500, 3)) * [1.0, 0.1, 3.0] + [0.0, 2.0, -4.0]).astype(np.float32))
    mean, var = normalizer.mean.numpy().astype(np.float64), normalizer.var.numpy().astype(np.float64)
    inside = np.array([[0.5, 2.05, -3.0], [-1.0, 1.95, -6.0]], np.float32)
    np.testing.assert_allclose(normalizer(inside).numpy(), (inside - mean) / np.sqrt(var + 1e-8), rtol=1e-4)
    outside = np.array([[1e3, -1e3, 1e6], [-50.0, 50.0, -1e6]], np.float32)
    np.testing.assert_array_equal(normalizer(outside).numpy(), [[5.0, -5.0, 5.0], [-5.0, 5.0, -5.0]])


def test_normalizer_statistics_are_non_trainable_and_survive_a_checkpoint(tmp_path):
    model = make_model("box1", seed=9, normalize_observations=True)
    normalizer = model.observation_normalizer
    assert isinstance(normalizer, RunningObservationNormalizer)
    assert make_model("box1").observation_normalizer is None
    statistics = [normalizer.mean, normalizer.var, normalizer.count]
    assert not any(v.trainable for v in statistics)
    assert normalizer.trainable_weights == []
    trainable_ids = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable_ids for v in statistics)
    assert all(v.dtype == "float32" for v in statistics)

    normalizer.update(random_observations(seed=17, num=100, scale=5.0) + 2.0)
    model.log_std.assign([-0.3])
    observations = random_observations(seed=18, num=5, scale=4.0)
    expected_policy, expected_values = (t.numpy() for t in model(observations))

    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    fresh = ActorCritic(**model.get_config())
    assert not np.allclose(fresh.observation_normalizer.mean.numpy(), normalizer.mean.numpy())
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    for saved, restored in zip(statistics, (fresh.observation_normalizer.mean, fresh.observation_normalizer.var,
                                           fresh.observation_normalizer.count)):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    # every weight came back, hidden layers included, so the outputs are the same
    policy_output, values = fresh(observations)
    np.testing.assert_array_equal(policy_output.numpy(), expected_policy)
    np.testing.assert_array_equal(values.numpy(), expected_values)

    weights_path = str(tmp_path / "model.weights.h5")
    model.save_weights(weights_path)
    other = ActorCritic(**model.get_config())
    other.load_weights(weights_path)
    np.testing.assert_array_equal(other.observation_normalizer.count.numpy(), normalizer.count.numpy())
    np.testing.assert_array_equal(other(observations)[1].numpy(), expected_values)


@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
def test_checkpoint_holds_every_weight(tmp_path, shared_trunk):
    model = make_model("discrete2", seed=10, shared_trunk=shared_trunk, hidden_sizes=(8, 8, 8))
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved_shapes = sorted(tuple(shape) for name, shape in tf.train.list_variables(path) if name.startswith("model/"))
    assert saved_shapes == sorted(tuple(v.shape) for v in model.weights)
    fresh = make_model("discrete2", seed=99, shared_trunk=shared_trunk, hidden_sizes=(8, 8, 8))
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------------------------ spaces and configuration


def test_action_spec_from_supported_spaces():
    assert action_spec_from_space(gym.spaces.Discrete(3)) == ActionSpec("discrete", 3)
    assert action_spec_from_space(gym.spaces.Box(-2.0, 2.0, (1,), np.float32)) == ActionSpec("box", 1, (-2.0,), (2.0,))
    bounds = np.array([-1.0, 0.0, -np.inf]), np.array([1.0, 5.0, np.inf])
    spec = action_spec_from_space(gym.spaces.Box(*bounds, dtype=np.float64))
    assert spec.kind == "box" and spec.size == 3
    assert spec.low == (-1.0, 0.0, -math.inf) and spec.high == (1.0, 5.0, math.inf)
    assert ActionSpec(**json.loads(json.dumps(spec.__dict__))) == spec  # lists from JSON become tuples


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Dict({"move": gym.spaces.Discrete(2)}),
        gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3))),
        gym.spaces.MultiDiscrete([2, 3]),
        gym.spaces.MultiBinary(4),
        gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
        gym.spaces.Discrete(3, start=1),
    ],
    ids=["dict", "tuple", "multidiscrete", "multibinary", "box2d", "discrete_start1"],
)
def test_action_spec_refuses_unsupported_spaces(space):
    with pytest.raises(ValueError, match=re.escape(repr(space)) + r" is not supported") as info:
        action_spec_from_space(space)
    message = str(info.value)
    assert "\n" not in message and ("Discrete" in message or "Box" in message)
    with pytest.raises(ValueError, match=re.escape(repr(space))):
        build_actor_critic(OBSERVATION_SPACE, space)


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Dict({"position": gym.spaces.Box(-1.0, 1.0, (2,))}),
        gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
        gym.spaces.Discrete(16),
    ],
    ids=["dict", "image", "discrete"],
)
def test_build_actor_critic_refuses_non_vector_observations(space):
    with pytest.raises(ValueError, match=re.escape(repr(space)) + r".*FlattenObservation"):
        build_actor_critic(space, gym.spaces.Discrete(2))


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="hidden_sizes"):
        make_model(hidden_sizes=(64, 0))
    with pytest.raises(ValueError, match="activation"):
        make_model(activation="no_such_activation")
    with pytest.raises(ValueError, match="initial_log_std"):
        make_model("box1", initial_log_std=float("nan"))
    with pytest.raises(ValueError, match="kind"):
        ActionSpec("continuous", 2)
    with pytest.raises(ValueError, match="low must have 2 entries"):
        ActionSpec("box", 2, low=(0.0,), high=(1.0, 1.0))


@pytest.mark.parametrize(
    "action_space_name, options",
    [
        ("discrete2", {}),
        ("discrete2", {"shared_trunk": True, "hidden_sizes": (32,), "activation": "relu"}),
        ("box3", {"normalize_observations": True, "initial_log_std": -0.5}),
    ],
)
def test_get_config_round_trips(action_space_name, options):
    model = make_model(action_space_name, seed=21, **options)
    config = json.loads(json.dumps(model.get_config()))  # plain values only
    assert isinstance(config["action_spec"], dict)
    rebuilt = ActorCritic(**config)
    assert rebuilt.action_spec == model.action_spec
    assert [tuple(v.shape) for v in rebuilt.weights] == [tuple(v.shape) for v in model.weights]
    assert [v.trainable for v in rebuilt.weights] == [v.trainable for v in model.weights]
    assert len(rebuilt.trainable_variables) == len(model.trainable_variables)
    for key, value in options.items():
        assert getattr(rebuilt, key) == value
    rebuilt_via_keras = ActorCritic.from_config(model.get_config())
    assert rebuilt_via_keras.count_params() == model.count_params()


def users_network():
    return keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(5)])


@pytest.mark.parametrize("kind, network", [("discrete", None), ("box", None), ("discrete", "shared"), ("box", "pair")])
def test_a_saved_model_loads_back_with_keras_load_model(tmp_path, kind, network):
    """The classes are registered with Keras, so `.keras` files round-trip: same weights (the observation
    statistics included), same outputs; with the user's own network too."""
    spec = dict(kind="discrete", size=3) if kind == "discrete" else dict(kind="box", size=2, low=[-1, -1], high=[1, 1])
    network = {None: None, "shared": users_network(), "pair": (users_network(), users_network())}[network]
    model = ActorCritic(4, spec, normalize_observations=True, seed=3, network=network)
    observations = np.random.default_rng(0).normal(2.0, 3.0, size=(16, 4)).astype(np.float32)
    model.observation_normalizer.update(observations)
    model.save(tmp_path / "agent.keras")
    loaded = keras.models.load_model(tmp_path / "agent.keras")
    assert type(loaded) is ActorCritic and loaded.action_spec == model.action_spec
    for saved, restored in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(saved, restored)
    for output, restored_output in zip(model(observations), loaded(observations)):
        np.testing.assert_array_equal(output.numpy(), restored_output.numpy())


def test_the_users_network_replaces_the_mlps_under_the_same_heads():
    model = ActorCritic(4, dict(kind="discrete", size=3), network=users_network())
    # Sequential 4→8→5 (40 + 45 weights), then the policy head 5→3 and the value head 5→1
    assert model.count_params() == (4 * 8 + 8) + (8 * 5 + 5) + (5 * 3 + 3) + (5 + 1)
    logits, values = model(np.ones((6, 4), np.float32))
    assert logits.shape == (6, 3) and values.shape == (6,)
    with pytest.raises(ValueError, match=r"maps observations \[N, 4\] to shape \(2, 2, 2\), not to features"):
        ActorCritic(4, dict(kind="discrete", size=3), network=keras.layers.Reshape((2, 2)))
    with pytest.raises(ValueError, match="network must be a Keras layer or model"):
        ActorCritic(4, dict(kind="discrete", size=3), network=(users_network(),) * 3)


def test_models_computing_in_sets_and_restores_both_keras_settings():
    import gymnasium as gym
    import keras

    from tf_gae.models import build_actor_critic, models_computing_in

    probe = gym.make("CartPole-v1")
    before = (keras.config.floatx(), keras.config.dtype_policy().name)
    with models_computing_in("float64"):
        inside = build_actor_critic(probe.observation_space, probe.action_space, hidden_sizes=(4,))
    after = build_actor_critic(probe.observation_space, probe.action_space, hidden_sizes=(4,))
    assert inside.compute_dtype == "float64" and after.compute_dtype == "float32"
    assert (keras.config.floatx(), keras.config.dtype_policy().name) == before
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        with models_computing_in("float16"):
            pass
