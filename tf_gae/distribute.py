"""One gradient over a batch, on one device or split over a tf.distribute.Strategy's replicas. Chapter 8.

With a strategy (e.g. `MirroredStrategy` over several GPUs, `MultiWorkerMirroredStrategy` across
machines) replica r computes the loss on the r-th of R equal shards of the batch and the replicas'
gradients are combined across devices:

- `MEAN` when the loss is a mean over samples: mean_r ∇(mean over shard r) = ∇(mean over the batch),
  because every shard has N/R samples (A2C, REINFORCE, PPO);
- `SUM` when each replica's loss is already its share of a global mean, Σ_{i in shard r} ℓ_i / N with N
  counted over the whole batch: Σ_r ∇ = ∇(Σ_i ℓ_i / N). This is the form for a token-mean loss, whose
  shards hold different numbers of valid tokens (chapter 6's PPO for language models).

Whatever the normalisation statistics (advantage whitening, token counts), they are taken over the whole
batch before it is split, so the result is the single-device gradient up to float rounding
(tests/test_distribute.py). Variables and optimizers must have been created in the strategy's scope.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tf_gae._tf import tf

__all__ = ["batch_gradients", "check_even_split", "dense_gradients"]

Batch = dict[str, tf.Tensor]
LossFn = Callable[[Batch], tuple[tf.Tensor, dict[str, tf.Tensor]]]


def dense_gradients(gradients: Sequence[object]) -> list[object]:
    """`gradients` with every `tf.IndexedSlices` made a dense tensor (None stays None).

    Keras 3's Adam on TensorFlow took oversized steps with IndexedSlices gradients in this environment
    (tf_gae.llm.lm's docstring), and dense gradients are what the cross-replica reductions expect.
    """
    return [
        tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient
        for gradient in gradients
    ]


def check_even_split(sizes: Sequence[int], strategy: tf.distribute.Strategy | None, fix: str) -> None:
    """Raise ValueError unless every batch size in `sizes` splits evenly over the strategy's replicas."""
    if strategy is None:
        return
    replicas = strategy.num_replicas_in_sync
    for size in sizes:
        if size % replicas:
            raise ValueError(f"a batch of {size} samples does not split evenly over {replicas} replicas; {fix}")


def batch_gradients(
    loss_fn: LossFn,
    batch: Batch,
    variables: Sequence[tf.Variable],
    strategy: tf.distribute.Strategy | None = None,
    reduce_op: tf.distribute.ReduceOp = tf.distribute.ReduceOp.MEAN,
) -> tuple[list[tf.Tensor], tf.Tensor, dict[str, tf.Tensor]]:
    """(gradients of `variables`, loss, metrics) of `loss_fn(batch) -> (loss, metrics)`, dense.

    Without a strategy, one tape over the whole batch. With one, every entry of `batch` (each `[N, ...]`)
    is cut into R equal shards along its first axis, replica r runs `loss_fn` on shard r, and gradients,
    loss and metrics are combined with `reduce_op` (module docstring: MEAN for per-sample means, SUM for
    shares of a global mean). N must be divisible by R (:func:`check_even_split` at construction; a graph
    assertion here as well). Call inside a `tf.function`.
    """
    if strategy is None:
        with tf.GradientTape() as tape:
            loss, metrics = loss_fn(batch)
        return dense_gradients(tape.gradient(loss, variables)), loss, metrics

    replicas = strategy.num_replicas_in_sync
    num_samples = tf.shape(next(iter(batch.values())))[0]  # N
    tf.debugging.assert_equal(num_samples % replicas, 0, message="batch does not split evenly over the replicas")

    def replica_step(batch: Batch):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        size = num_samples // replicas  # N / R samples per replica
        shard = {name: value[replica * size : (replica + 1) * size] for name, value in batch.items()}
        with tf.GradientTape() as tape:
            loss, metrics = loss_fn(shard)
        return dense_gradients(tape.gradient(loss, variables)), loss, metrics

    per_replica = strategy.run(replica_step, args=(batch,))
    combine = lambda value: strategy.reduce(reduce_op, value, axis=None)  # noqa: E731
    gradients, loss, metrics = tf.nest.map_structure(combine, per_replica)
    return gradients, loss, metrics
