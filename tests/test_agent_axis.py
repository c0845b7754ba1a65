"""The agent axis: A runs stacked along a leading axis train exactly as A solo runs.

References, none of them the axis's own output:
- TensorFlow's own random streams: `tf.random.stateless_uniform` for each seed (uint64, and float32 as XLA
  draws it), each `tf.random.Generator`'s `uniform_full_int` and state, against the vectorised Philox of
  tf_gae.rng, bit for bit.
- The solo runs: each agent's A2C or PPO trainer trained alone. Computing in float64 the axis gives the same
  progress rows and final weights bit for bit (the same formulas, each agent's own random numbers; float64
  leaves no rounding difference between a batched and a single program to reach a row). In float32 XLA
  adds a batched program's terms in another order, and rows agree to float32 rounding only; that is not
  asserted here, since how far rounding travels through training is not a fixed number.
- Each agent's own policy evaluated alone, against the stacked model evaluated at once (float64).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tf_gae._tf import tf
from tf_gae.agent_axis import AgentAxis, refusal
from tf_gae.api import make_config
from tf_gae.envs import make
from tf_gae.envs.core import uniform
from tf_gae.models import models_computing_in
from tf_gae.rng import StackedGenerators, philox_bits, xla_uniform_float32
from tf_gae.trainers import ALGORITHMS


def test_philox_bits_are_tensorflows_stateless_uniform_for_every_seed():
    rng = np.random.default_rng(0)
    seeds = tf.constant(rng.integers(-(2**31), 2**31, size=(64, 2)), tf.int32)  # negative halves included
    for count in (1, 7, 8):  # an odd count uses half of the last Philox call
        expected = np.stack([
            tf.random.stateless_uniform([count], seed, minval=None, maxval=None, dtype=tf.uint64, alg="philox").numpy()
            for seed in seeds
        ])  # fmt: skip
        assert (philox_bits(seeds, count).numpy() == expected).all()
        compiled = tf.function(lambda s, n=count: philox_bits(s, n), jit_compile=True)
        assert (compiled(seeds).numpy() == expected).all()


def test_xla_uniform_float32_is_what_xla_draws_for_every_seed():
    rng = np.random.default_rng(1)
    seeds = tf.constant(rng.integers(-(2**31), 2**31, size=(6, 2)), tf.int32)  # negative words included
    xla = tf.function(lambda seed: tf.random.stateless_uniform([301], seed), jit_compile=True)
    together = tf.function(lambda s: xla_uniform_float32(s, 301), jit_compile=True)(seeds).numpy()
    assert (together == tf.function(lambda s: xla_uniform_float32(s, 301))(seeds).numpy()).all()  # XLA or not
    for k in range(6):
        assert (together[k] == xla(seeds[k]).numpy()).all(), k


def test_stacked_generators_continue_each_generators_own_stream():
    rng = np.random.default_rng(1)
    states = [list(map(int, state)) for state in rng.integers(-(2**63), 2**63, size=(4, 3), dtype=np.int64)]
    states += [[-512, 5, 9], [3, 0, 0]]  # a counter whose low word wraps on the second draw; a from_seed state
    generators = [tf.random.Generator(state=state, alg="philox") for state in states]
    references = [tf.random.Generator(state=state, alg="philox") for state in states]
    stacked = StackedGenerators(generators)
    draw = tf.function(lambda: stacked.uniform_full_int([2], tf.int32), jit_compile=True)
    for _ in range(3):
        expected = np.stack([generator.uniform_full_int([2], dtype=tf.int32).numpy() for generator in references])
        assert (draw().numpy() == expected).all()
    stacked.unload()
    for generator, reference in zip(generators, references):
        assert (generator.state.numpy() == reference.state.numpy()).all()
    assert references[4].state.numpy()[1] == 6  # the carry into the counter's high word happened


def test_keys_per_agent_draw_what_each_key_draws_alone():
    keys = tf.constant([[3, 0], [-7, 11], [2**31 - 1, 5]], tf.int32)
    together = uniform(keys, 5, [-0.05] * 4, [0.05] * 4).numpy()  # [A·B, 4]
    alone = np.concatenate([uniform(key, 5, [-0.05] * 4, [0.05] * 4).numpy() for key in keys])
    assert together.shape == (15, 4) and (together == alone).all()
    env = make("Acrobot-v1")  # its start states are rounded to float32 after the draw: any task's own code
    assert (env.initial_physics(keys, 5).numpy() == np.concatenate([env.initial_physics(k, 5).numpy() for k in keys])).all()


SETTINGS = [(0, 0.95, 0.99, 1e-3), (1, 0.5, 0.9, 3e-3), (2, 1.0, 0.99, 1e-3)]  # seed, λ, γ, learning rate


def _configs(env_id, agents=len(SETTINGS), algo="a2c", **shared):
    return [make_config(algo, dict(env_id=env_id, seed=seed, lam=lam, gamma=gamma, learning_rate=rate, **shared))
            for seed, lam, gamma, rate in SETTINGS[:agents]]  # fmt: skip


def _same_row(a, b):
    return a.keys() == b.keys() and all(
        a[name] == b[name] or (isinstance(a[name], float) and math.isnan(a[name]) and math.isnan(b[name]))
        for name in a if name != "wall_time_s"
    )  # fmt: skip


@pytest.mark.parametrize(
    "env_id, shared",
    [  # two agents differing in seed, λ, γ and learning rate (the costs are the solo runs' compiles)
        ("CartPole-v1", dict(optimizer="adam", normalize_advantages=True, entropy_coef=0.01, agents=2)),
        ("Acrobot-v1", dict(optimizer="rmsprop", n_steps=5, max_grad_norm=0.5, agents=2)),
        # PPO: each agent's own shuffles, minibatch epochs and KL early stop (a limit low enough that the
        # agents stop after different numbers of minibatch steps), annealed learning rate per agent
        ("CartPole-v1", dict(algo="ppo", n_steps=16, minibatch_size=32, n_epochs=4, target_kl=0.002, agents=2)),
        # PPO at RL Zoo's CartPole shape: the minibatch is the whole rollout (8 envs × 8 steps), so every pass
        # takes the batch as it is and draws no shuffle (Learner.minibatch_epochs), on both sides alike
        ("CartPole-v1", dict(algo="ppo", n_steps=8, minibatch_size=64, n_epochs=4, target_kl=0.0001, agents=2)),
    ],
    ids=["a2c-CartPole", "a2c-Acrobot", "ppo-CartPole", "ppo-CartPole-whole-batch"],
)
def test_agent_k_of_the_axis_is_its_solo_run_bit_for_bit_in_float64(env_id, shared):
    shared = dict(dict(total_steps=1_280, log_every_steps=320), **shared)
    trainer_class = ALGORITHMS[shared.get("algo", "a2c")][1]
    with models_computing_in("float64"):
        solo_rows, solo_trainers = [], []
        for config in _configs(env_id, **shared):
            trainer = trainer_class(config)
            rows = []
            trainer.train(on_row=rows.append)
            solo_rows.append(rows)
            solo_trainers.append(trainer)
        trainers = [trainer_class(config) for config in _configs(env_id, **shared)]
        axis = AgentAxis(trainers)
        axis_rows = [[] for _ in trainers]
        axis.train(on_row=lambda k, row: axis_rows[k].append(row))
    for k in range(len(trainers)):
        assert len(axis_rows[k]) == len(solo_rows[k]) >= 4
        assert all(_same_row(a, b) for a, b in zip(solo_rows[k], axis_rows[k])), (k, solo_rows[k], axis_rows[k])
        # the whole state in the agent's own trainer: weights, optimizer, random streams, environments
        for mine, theirs in zip(trainers[k].state_variables(), solo_trainers[k].state_variables()):
            assert (np.asarray(mine.numpy()) == np.asarray(theirs.numpy())).all(), mine.name
    assert axis_rows[0] != axis_rows[1]  # and the agents are different runs
    if "epochs" in axis_rows[0][0]:  # PPO: the KL stop ended the agents' epochs at different points
        assert len({tuple(row["epochs"] for row in rows) for rows in axis_rows}) > 1, axis_rows


def test_box_actions_are_sampled_by_each_agents_own_policy():
    """Pendulum's Gaussian policy: agent k's actions from row k of the seeds are those its own distribution
    object draws from that seed (TFP's normal sampler, one agent at a time): μ + σ·z with the same z. The
    means come from a batched and a single matmul (float32 rounding apart, ~1e-7); another seed's z would
    move an action by about σ = 1."""
    trainer_class = ALGORITHMS["a2c"][1]
    trainers = [trainer_class(config) for config in _configs("Pendulum-v1", total_steps=800)]
    axis = AgentAxis(trainers)
    observations = tf.random.stateless_normal([3 * 8, 3], [1, 2])  # the collector's rows: agent k's 8 together
    seeds = tf.constant([[5, 6], [7, 8], [9, 10]], tf.int32)
    actions = axis.model.policy_and_value(observations)[0].sample(seed=seeds).numpy()
    for k, trainer in enumerate(trainers):
        own = trainer.model.distribution(observations[8 * k : 8 * (k + 1)])
        np.testing.assert_allclose(actions[8 * k : 8 * (k + 1)], own.sample(seed=seeds[k]).numpy(), rtol=0, atol=1e-5)
        other_seed = own.sample(seed=seeds[(k + 1) % 3]).numpy()
        assert np.abs(actions[8 * k : 8 * (k + 1)] - other_seed).max() > 0.1


def test_runs_that_cannot_share_an_axis_are_refused_with_the_reason():
    small = dict(env_id="CartPole-v1", total_steps=800)
    trainer_class = ALGORITHMS["a2c"][1]
    ppo = [ALGORITHMS["ppo"][1](make_config("ppo", dict(small, seed=seed))) for seed in (0, 1)]
    assert refusal(ppo) is None
    reinforce = [ALGORITHMS["reinforce"][1](make_config("reinforce", dict(small, seed=seed))) for seed in (0, 1)]
    assert "the agent axis is A2C's and PPO's, not reinforce's" in refusal(reinforce)
    uneven = [ALGORITHMS["ppo"][1](make_config("ppo", dict(small, seed=0, minibatch_size=100)))]
    assert "minibatch_size to divide" in refusal(uneven)
    normalised = [trainer_class(make_config("a2c", dict(small, seed=0, normalize_observations=True)))]
    assert "running observation or reward statistics" in refusal(normalised)
    mixed = [trainer_class(make_config("a2c", dict(small, seed=0))), trainer_class(make_config("a2c", dict(small, seed=1, n_steps=4)))]
    assert "differ in more than seed" in refusal(mixed)
    with pytest.raises(ValueError, match="cannot share an agent axis"):
        AgentAxis(mixed)
    assert refusal(mixed[:1]) is None


def test_reductions_along_an_axis_are_each_rows_own():
    """The loss terms, advantage normalisation and explained variance with axis=-1 on [A, N] against each row
    computed alone (axis=None), in float64: the same sums over 40 numbers of size ≤ ~10, so any difference
    of summation order is ≤ 40 · 2⁻⁵³ · 400 ≈ 2e-12 of the results; 1e-10 leaves a margin of 50."""
    from tf_gae import losses
    from tf_gae.advantages import normalize_advantages
    from tf_gae.trainers.base import explained_variance

    rng = np.random.default_rng(2)
    x, y, z = (tf.constant(rng.normal(scale=3.0, size=(4, 40))) for _ in range(3))
    mask = tf.constant(rng.random((4, 40)) < 0.7)
    cases = {
        "weighted_mean": lambda a, b, m, axis=None: losses.weighted_mean(a, m, axis),
        "policy_gradient_loss": lambda a, b, m, axis=None: losses.policy_gradient_loss(a, b, m, axis),
        "value_loss": lambda a, b, m, axis=None: losses.value_loss(a, b, weights=m, axis=axis),
        "mean_entropy": lambda a, b, m, axis=None: losses.mean_entropy(a, m, axis),
        "normalize_advantages": lambda a, b, m, axis=None: normalize_advantages(a, m, axis=axis),
        "explained_variance": lambda a, b, m, axis=None: explained_variance(a, b, m, axis=axis),
    }
    for name, function in cases.items():
        for weights in (None, mask):
            rows = function(x, y, weights, axis=-1).numpy()
            alone = np.stack([function(x[k], y[k], None if weights is None else weights[k]).numpy() for k in range(4)])
            np.testing.assert_allclose(rows, alone, rtol=1e-10, atol=1e-10, err_msg=name)
    trainer = ALGORITHMS["a2c"][1](make_config("a2c", dict(env_id="CartPole-v1", entropy_coef=0.01, total_steps=800)))
    loss, parts = trainer.loss_terms(x, tf.abs(y), z, y, x, axis=-1)
    alone = [trainer.loss_terms(x[k], tf.abs(y[k]), z[k], y[k], x[k]) for k in range(4)]
    np.testing.assert_allclose(loss.numpy(), [l.numpy() for l, _ in alone], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("env_id, agents", [("CartPole-v1", 3), ("Pendulum-v1", 2)])
def test_stacked_agents_are_evaluated_each_as_its_own_policy(env_id, agents):
    """InGraphEvaluator on the stacked model: agent k's returns are those of its own model evaluated alone on
    the same episodes (float64 models: the policies' modes agree exactly, so every return does)."""
    from tf_gae.evaluation import InGraphEvaluator

    trainer_class = ALGORITHMS["a2c"][1]
    with models_computing_in("float64"):
        trainers = [trainer_class(config) for config in _configs(env_id, agents=agents, total_steps=800)]
        axis = AgentAxis(trainers)
    together = InGraphEvaluator(axis.model, env_id, episodes=4, seed=10_000)()  # [A, 4]
    alone = np.stack([InGraphEvaluator(t.model, env_id, episodes=4, seed=10_000)() for t in trainers])
    assert together.shape == (agents, 4) and (together == alone).all(), (together, alone)
    assert len({tuple(row) for row in alone}) == agents  # different policies: the test tells agents apart
