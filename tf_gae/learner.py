"""The one gradient engine: every training step of the package is :meth:`Learner.step`. Chapter 5.

A step takes a loss function and a batch, and

    g = ∇_θ loss(batch)                     (one tape; or one per replica of a tf.distribute.Strategy)
    ‖g‖ = global norm;  g ← g · min(1, c / ‖g‖)   (c = max_grad_norm; no clipping when c = 0)
    θ ← optimizer(θ, g)                     unless the loss or ‖g‖ is not finite, or `apply` says no

so a NaN never reaches the weights. :meth:`Learner.minibatch_epochs` is the one minibatch loop: several
passes over a batch, each in an order shuffled afresh from the learner's own seeded generator, one step
per minibatch, ending early when a step says so (PPO's KL stop). With a strategy, the batch is cut into equal shards along its
first axis, one per replica:
- `reduction="mean"`: the loss is a mean over samples; the replicas' gradients are averaged, which is
  the gradient of the mean over the whole batch (shards are equal in size).
- `reduction="token_sum"`: the loss is a mean over the valid tokens of `batch[weights_key]` (a mask),
  and shards hold different numbers of valid tokens. Each replica's loss is scaled by its share n_r / N
  of the batch's N valid tokens and the gradients are summed: Σ_r (n_r/N) mean_r = mean over the batch.
Statistics that need the whole batch (advantage normalisation) are taken by the caller before the step.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from tf_gae._tf import tf
from tf_gae.distribute import dense_gradients

__all__ = ["Learner", "StepResult", "EpochsResult", "batch_gradients", "ascending_order"]

Batch = dict[str, tf.Tensor]
LossFn = Callable[[Batch], tuple[tf.Tensor, dict[str, tf.Tensor]]]
MinibatchStep = Callable[[Batch], tuple[dict[str, tf.Tensor], tf.Tensor]]


class StepResult(NamedTuple):
    loss: tf.Tensor  # the loss before the step, scalar
    metrics: dict[str, tf.Tensor]  # what the loss function reported, reduced like the loss
    grad_norm: tf.Tensor  # ‖g‖ before clipping, scalar
    applied: tf.Tensor  # bool: the optimizer took the step


class EpochsResult(NamedTuple):
    sums: dict[str, tf.Tensor]  # each metric, as float32, summed over the minibatch steps that went on
    steps: tf.Tensor  # int32: minibatch steps that went on
    epochs: tf.Tensor  # int32: passes begun
    last: dict[str, tf.Tensor]  # float32 metrics of the last step taken, the stopping one included

    def means(self) -> dict[str, tf.Tensor]:
        """Each metric's mean over the minibatch steps that went on."""
        return {name: total / tf.cast(self.steps, tf.float32) for name, total in self.sums.items()}


class Learner:
    """Computes and applies the gradient of a loss for a fixed list of variables and their optimizer."""

    def __init__(
        self,
        variables: Sequence[tf.Variable],
        optimizer: object,
        *,
        max_grad_norm: float = 0.0,
        strategy: tf.distribute.Strategy | None = None,
        reduction: str = "mean",
        weights_key: str | None = None,
        seed: int = 0,
    ) -> None:
        """`variables`: what the step trains (the optimizer must be built for them). `reduction` "mean"
        or "token_sum" (module docstring); "token_sum" needs `weights_key`, the batch entry holding the mask.
        `seed` seeds `generator`, the minibatch shuffles' tf.random.Generator (checkpoint it to resume)."""
        if reduction not in ("mean", "token_sum"):
            raise ValueError(f"reduction must be 'mean' or 'token_sum', got {reduction!r}")
        if reduction == "token_sum" and weights_key is None:
            raise ValueError("reduction='token_sum' needs weights_key, the batch entry that holds the token mask")
        if not max_grad_norm >= 0:
            raise ValueError(f"max_grad_norm must be ≥ 0 (0 = no clipping), got {max_grad_norm!r}")
        self.variables = list(variables)
        self.optimizer = optimizer
        self.max_grad_norm = float(max_grad_norm)
        self.strategy = strategy
        self.reduction = reduction
        self.weights_key = weights_key
        # Its own stream: (seed, 1) never meets a collector's Generator.from_seed(seed) stream.
        self.generator = tf.random.Generator.from_seed([seed, 1])

    def step(self, loss_fn: LossFn, batch: Batch, apply: Callable[[dict], tf.Tensor] | None = None) -> StepResult:
        """One gradient step on `loss_fn(batch) -> (loss, metrics)`. `apply(metrics)`, when given, can veto
        the step (PPO's KL early stop). Call inside a `tf.function`."""
        if self.reduction == "token_sum":
            loss_fn = self._token_share(loss_fn, tf.reduce_sum(batch[self.weights_key]))
            reduce_op = tf.distribute.ReduceOp.SUM
        else:
            reduce_op = tf.distribute.ReduceOp.MEAN
        gradients, loss, metrics = batch_gradients(loss_fn, batch, self.variables, self.strategy, reduce_op)
        grad_norm = tf.linalg.global_norm(gradients)  # ‖g‖
        if self.max_grad_norm > 0:  # g ← g · min(1, c / ‖g‖)
            gradients, _ = tf.clip_by_global_norm(gradients, self.max_grad_norm, use_norm=grad_norm)
        applied = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)  # never write NaN into the weights
        if apply is not None:
            applied = applied & apply(metrics)

        pairs = list(zip(gradients, self.variables))

        def take_step() -> tf.Tensor:  # θ ← optimizer(θ, g)
            self.optimizer.apply_gradients(pairs)
            return tf.constant(True)

        tf.cond(applied, take_step, lambda: tf.constant(False))  # a graph branch: the step only where applied
        return StepResult(loss, metrics, grad_norm, applied)

    def minibatch_epochs(
        self,
        minibatch_step: MinibatchStep,
        batch: Batch,
        *,
        n_epochs: int,
        minibatch_size: int,
        metric_names: Sequence[str],
    ) -> EpochsResult:
        """`n_epochs` passes over `batch` (every entry [N, ...]) in minibatches of `minibatch_size` samples.

        Each pass visits the N samples in a new order (a stateless shuffle seeded from `self.generator`); its
        last minibatch holds the N mod minibatch_size left over, if any. `minibatch_step(minibatch)` returns
        (metrics, go_on), usually after one :meth:`step`; the passes end at the first step whose `go_on` is
        false, whose metrics go to `last` but not to `sums`. Call inside a `tf.function`.

        When N is static and minibatch_size divides it, every minibatch has the static shape
        [minibatch_size, ...], and the loop can be part of an XLA program (with slices of a size known only at
        run time, XLA computed PPO's networks on all N rows at every step). Otherwise the last minibatch's size
        is known only when it runs: run the loop in TensorFlow's executor then (the step itself may be
        XLA-compiled), because inside an XLA program that minibatch is padded to minibatch_size and the
        padding is handed to the step as samples.
        """
        num_samples = tf.shape(next(iter(batch.values())))[0]  # N
        known_samples = next(iter(batch.values())).shape[0]  # N when static, else None
        static_size = known_samples is not None and known_samples % minibatch_size == 0
        num_minibatches = (num_samples + minibatch_size - 1) // minibatch_size  # ⌈N / M⌉
        zeros = {name: tf.zeros([]) for name in metric_names}

        def shuffled() -> tf.Tensor:  # a new pass: a seeded order of the N samples
            seed = self.generator.uniform_full_int([2], dtype=tf.int32)
            return ascending_order(tf.random.stateless_uniform([num_samples], seed=seed))

        def go_on(k, stop, *_):  # k: minibatch steps begun, over all passes
            return (k < n_epochs * num_minibatches) & ~stop

        def one_step(k, stop, steps, epochs, order, sums, last):
            index = k % num_minibatches  # the minibatch within its pass
            order = tf.ensure_shape(tf.cond(index == 0, shuffled, lambda: order), order.shape)  # [N]
            if static_size:  # [M]: a static shape, so that XLA computes on M samples
                indices = tf.slice(order, [index * minibatch_size], [minibatch_size])
            else:  # the last minibatch of a pass is smaller: a size known only when it runs
                indices = order[index * minibatch_size : (index + 1) * minibatch_size]
            metrics, step_goes_on = minibatch_step({name: tf.gather(values, indices) for name, values in batch.items()})
            last = {name: tf.cast(metrics[name], tf.float32) for name in metric_names}
            sums = {name: tf.where(step_goes_on, sums[name] + last[name], sums[name]) for name in metric_names}
            steps += tf.cast(step_goes_on, tf.int32)
            epochs += tf.cast(index == 0, tf.int32)
            return k + 1, ~step_goes_on, steps, epochs, order, sums, last

        start = (tf.constant(0), tf.constant(False), tf.constant(0), tf.constant(0), tf.range(num_samples),
                 dict(zeros), dict(zeros))  # fmt: skip
        _, _, steps, epochs, _, sums, last = tf.while_loop(go_on, one_step, start)
        return EpochsResult(sums, steps, epochs, last)

    def _token_share(self, loss_fn: LossFn, total_tokens: tf.Tensor) -> LossFn:
        """`loss_fn` (a mean over its shard's valid tokens) scaled by the shard's share n / N of the batch's N
        valid tokens, metrics too; without a strategy the shard is the batch and the share 1."""

        def share_of_token_mean(shard: Batch) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
            loss, metrics = loss_fn(shard)
            share = tf.reduce_sum(shard[self.weights_key]) / total_tokens  # n / N
            return loss * share, {name: value * share for name, value in metrics.items()}

        return share_of_token_mean


COUNTING_SORT_MAX = 1024
"""Above this many values :func:`ascending_order` sorts; at or below it counts (N² comparisons)."""


def ascending_order(values: tf.Tensor) -> tf.Tensor:
    """The indices that put `values` [N] in ascending order, equal values in the order of their indices:
    exactly `tf.argsort(values)` (which sorts with top_k, lower index first among equals).

    For a static N ≤ COUNTING_SORT_MAX the rank of each value is counted instead of sorted,

        rank_i = #{j : v_j < v_i} + #{j < i : v_j = v_i},   order[rank_i] = i,

    an N × N comparison that XLA fuses into one loop; XLA's sort on CPU costs several times more for the
    few hundred samples of a PPO rollout, and the passes of a minibatch loop begin with one."""
    size = values.shape[0]
    if size is None or size > COUNTING_SORT_MAX:
        return tf.argsort(values)
    index = tf.range(size)
    before = (values[None, :] < values[:, None]) | ((values[None, :] == values[:, None]) & (index[None, :] < index[:, None]))
    rank = tf.reduce_sum(tf.cast(before, tf.int32), axis=1)  # [N]: where value i goes
    return tf.scatter_nd(rank[:, None], index, [size])


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
