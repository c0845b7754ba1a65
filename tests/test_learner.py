"""tf_gae.learner.Learner: the one gradient step, against steps computed by hand in float64.

Plain SGD makes every step a closed form, θ ← θ − lr · g (g clipped to the global norm c when c > 0), so
each assertion compares with NumPy to float64 rounding. The strategy paths are tests/test_distribute.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tf_gae._tf import tf
from tf_gae.learner import Learner

TARGET = np.array([1.0, -2.0, 0.5])


def quadratic(batch):
    """mean_i (θ_i − t_i)², gradient 2(θ − t)/n; reports the mean of θ as a metric."""
    theta = batch["theta_variable"]
    return tf.reduce_mean(tf.square(theta - TARGET)), dict(theta_mean=tf.reduce_mean(theta))


def learner_for(start, **options):
    theta = tf.Variable(np.array(start, np.float64))
    optimizer = keras.optimizers.SGD(learning_rate=0.125)  # exact in float32, as Keras keeps it
    optimizer.build([theta])
    return theta, Learner([theta], optimizer, **options)


def run_step(learner, theta, loss_fn=quadratic, apply=None):
    @tf.function
    def step():
        return learner.step(loss_fn, dict(theta_variable=theta), apply=apply)

    return step()


def test_a_step_is_gradient_descent_by_hand():
    theta, learner = learner_for([0.0, 0.0, 0.0])
    result = run_step(learner, theta)
    gradient = 2 * (np.zeros(3) - TARGET) / 3
    np.testing.assert_allclose(theta.numpy(), -0.125 * gradient, rtol=1e-15)
    assert float(result.grad_norm) == pytest.approx(np.linalg.norm(gradient), rel=1e-15)
    assert float(result.loss) == pytest.approx(np.mean(TARGET**2), rel=1e-15)
    assert bool(result.applied) and float(result.metrics["theta_mean"]) == 0.0


def test_clipping_scales_the_step_to_the_global_norm():
    theta, learner = learner_for([10.0, 10.0, 10.0], max_grad_norm=0.5)
    result = run_step(learner, theta)
    gradient = 2 * (np.full(3, 10.0) - TARGET) / 3
    norm = np.linalg.norm(gradient)  # > 0.5: the step is g · 0.5 / ‖g‖
    assert float(result.grad_norm) == pytest.approx(norm, rel=1e-15)  # reported before clipping
    np.testing.assert_allclose(theta.numpy(), 10.0 - 0.125 * gradient * 0.5 / norm, rtol=1e-15)


def test_non_finite_losses_and_vetoed_steps_leave_the_weights_alone():
    theta, learner = learner_for([1.0, 2.0, 3.0])
    result = run_step(learner, theta, loss_fn=lambda batch: (quadratic(batch)[0] * np.nan, {}))
    assert not bool(result.applied)
    np.testing.assert_array_equal(theta.numpy(), [1.0, 2.0, 3.0])
    result = run_step(learner, theta, apply=lambda metrics: metrics["theta_mean"] > 5.0)  # PPO's KL stop
    assert not bool(result.applied)
    np.testing.assert_array_equal(theta.numpy(), [1.0, 2.0, 3.0])


def test_token_sum_on_one_device_is_the_plain_token_mean_step():
    mask = tf.constant([1.0, 1.0, 0.0], tf.float64)

    def token_mean(batch):
        squared = tf.square(batch["theta_variable"] - TARGET)
        return tf.reduce_sum(squared * batch["mask"]) / tf.reduce_sum(batch["mask"]), {}

    theta, learner = learner_for([0.0, 0.0, 0.0], reduction="token_sum", weights_key="mask")

    @tf.function
    def step():
        return learner.step(token_mean, dict(theta_variable=theta, mask=mask))

    step()
    gradient = 2 * (np.zeros(3) - TARGET) * np.array([1.0, 1.0, 0.0]) / 2
    np.testing.assert_allclose(theta.numpy(), -0.125 * gradient, rtol=1e-15)


def test_bad_options_are_refused_with_the_fix():
    theta = tf.Variable([0.0])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'token_sum'"):
        Learner([theta], keras.optimizers.SGD(), reduction="max")
    with pytest.raises(ValueError, match="needs weights_key"):
        Learner([theta], keras.optimizers.SGD(), reduction="token_sum")
    with pytest.raises(ValueError, match="max_grad_norm must be ≥ 0"):
        Learner([theta], keras.optimizers.SGD(), max_grad_norm=-1.0)


# ------------------------------------------------------------------ the one minibatch loop


def run_epochs(learner, num_samples, *, n_epochs, minibatch_size, stop_at=None):
    """Every minibatch the loop hands out, in order, and the loop's result. A step reports the sum and the
    number of its sample indices; with `stop_at`, the step of that (0-based) number says not to go on."""
    seen = []

    def record(indices):
        seen.append(indices.copy())
        return np.int32(0)

    counter = tf.Variable(0)

    def minibatch_step(minibatch):
        indices = minibatch["index"]
        tf.numpy_function(record, [indices], tf.int32)
        number = counter.assign_add(1) - 1
        go_on = tf.constant(True) if stop_at is None else number != stop_at
        metrics = dict(index_sum=tf.reduce_sum(indices), size=tf.size(indices))
        return metrics, go_on

    @tf.function
    def epochs():
        return learner.minibatch_epochs(
            minibatch_step, dict(index=tf.range(num_samples)), n_epochs=n_epochs, minibatch_size=minibatch_size,
            metric_names=("index_sum", "size"),
        )  # fmt: skip

    result = epochs()
    return seen, result


def test_each_pass_visits_every_sample_once_in_minibatches_of_the_given_size():
    theta, learner = learner_for([0.0, 0.0, 0.0], seed=3)
    seen, result = run_epochs(learner, 10, n_epochs=3, minibatch_size=4)
    sizes = [len(indices) for indices in seen]
    assert sizes == [4, 4, 2] * 3  # ⌈10/4⌉ minibatches a pass, the last holds 10 mod 4
    passes = [np.concatenate(seen[3 * k : 3 * k + 3]) for k in range(3)]
    for visited in passes:
        assert sorted(visited.tolist()) == list(range(10))  # a permutation of the batch
    assert len({tuple(p) for p in passes}) == 3  # shuffled afresh each pass
    assert int(result.steps) == 9 and int(result.epochs) == 3
    assert float(result.sums["index_sum"]) == 3 * 45  # Σ_i i = 45 per pass
    assert float(result.sums["size"]) == 30


@pytest.mark.parametrize("num_samples, minibatch_size", [(12, 4), (4, 4), (12, 12)])
def test_full_minibatches_have_a_static_shape_inside_xla_and_visit_every_sample(num_samples, minibatch_size):
    """Where minibatch_size divides N, the step is traced with the static shape [M], and compiled as one XLA
    program every pass visits each sample once: the sums count N samples a pass, none twice (a size padded
    to the bound N would count extra rows)."""
    _, learner = learner_for([0.0, 0.0, 0.0], seed=5)
    traced_shapes = []

    def minibatch_step(minibatch):
        traced_shapes.append(minibatch["index"].shape.as_list())
        return dict(index_sum=tf.reduce_sum(minibatch["index"]), size=tf.size(minibatch["index"])), tf.constant(True)

    @tf.function(jit_compile=True, autograph=False)
    def epochs():
        result = learner.minibatch_epochs(
            minibatch_step, dict(index=tf.range(num_samples)), n_epochs=3, minibatch_size=minibatch_size,
            metric_names=("index_sum", "size"),
        )  # fmt: skip
        return result.sums, result.steps

    sums, steps = epochs()
    assert traced_shapes == [[minibatch_size]]
    assert int(steps) == 3 * -(-num_samples // minibatch_size)
    assert int(sums["index_sum"]) == 3 * num_samples * (num_samples - 1) // 2 and int(sums["size"]) == 3 * num_samples


def test_ppo_compiles_one_program_only_where_every_minibatch_is_full():
    from tf_gae.trainers import PPOConfig, PPOTrainer

    assert PPOTrainer(PPOConfig(num_envs=4, n_steps=1024, minibatch_size=64, total_steps=4096)).compiles_whole_call
    assert not PPOTrainer(PPOConfig(num_envs=4, n_steps=128, minibatch_size=100, total_steps=512)).compiles_whole_call


def test_the_shuffles_follow_the_learners_seed():
    orders = []
    for seed in (7, 7, 8):
        _, learner = learner_for([0.0, 0.0, 0.0], seed=seed)
        seen, _ = run_epochs(learner, 12, n_epochs=2, minibatch_size=6)
        orders.append(np.concatenate(seen).tolist())
    assert orders[0] == orders[1]  # same seed, same order
    assert orders[0] != orders[2]


def test_a_pass_of_one_minibatch_is_the_batch_in_order_and_draws_nothing():
    """minibatch_size = N: every pass hands the step the whole batch as it is (a mean over all samples is
    the same in any order), and the learner's shuffle stream is not advanced."""
    _, learner = learner_for([0.0, 0.0, 0.0], seed=7)
    state = learner.generator.state.numpy().copy()
    seen, result = run_epochs(learner, 12, n_epochs=3, minibatch_size=12)
    assert [indices.tolist() for indices in seen] == [list(range(12))] * 3
    assert int(result.steps) == 3 and int(result.epochs) == 3
    np.testing.assert_array_equal(learner.generator.state.numpy(), state)


def test_a_step_that_says_stop_ends_every_pass_and_is_not_summed():
    _, learner = learner_for([0.0, 0.0, 0.0], seed=0)
    seen, result = run_epochs(learner, 10, n_epochs=4, minibatch_size=4, stop_at=4)  # the 2nd step of pass 2
    assert len(seen) == 5  # steps 0-4 ran; nothing after the stop
    assert int(result.steps) == 4 and int(result.epochs) == 2
    assert float(result.sums["size"]) == 4 + 4 + 2 + 4  # the stopping step's 4 samples are not summed
    assert float(result.last["size"]) == len(seen[4])
    assert float(result.sums["index_sum"]) == 45 + float(np.sum(seen[3]))


def test_the_means_are_over_the_steps_that_went_on():
    _, learner = learner_for([0.0, 0.0, 0.0], seed=1)
    _, result = run_epochs(learner, 10, n_epochs=2, minibatch_size=4, stop_at=4)  # steps 0-3 went on: 4+4+2+4
    assert float(result.means()["size"]) == (4 + 4 + 2 + 4) / 4


@pytest.mark.parametrize("size", [1, 7, 256, 1024, 1025])
@pytest.mark.parametrize("levels", [3, 2**23])
def test_ascending_order_is_argsorts_answer_ties_included(size, levels):
    """The counting order (N ≤ 1024) and the sorting one above it give tf.argsort's indices exactly, under XLA
    as the minibatch loop runs them, also where many values are equal (3 levels) and among uniform float32
    values, whose 2^23 levels make a tie likely in a few hundred draws."""
    from tf_gae.learner import ascending_order

    compiled = tf.function(ascending_order, jit_compile=True)
    rows = []
    for seed in range(3):
        values = tf.floor(tf.random.stateless_uniform([size], seed=[seed, size]) * levels) / levels
        rows.append(values)
        expected = tf.argsort(values).numpy()  # TensorFlow's own kernel, not XLA's
        np.testing.assert_array_equal(compiled(values).numpy(), expected)
        if size > 1:  # the answer is a permutation that sorts, equal values in index order
            ordered = values.numpy()[expected]
            assert np.all((ordered[1:] > ordered[:-1]) | ((ordered[1:] == ordered[:-1]) & (expected[1:] > expected[:-1])))
    # rows side by side (a sweep's agents, [A, N]): each row's own order
    together = compiled(tf.stack(rows)).numpy()
    np.testing.assert_array_equal(together, np.stack([tf.argsort(values).numpy() for values in rows]))
