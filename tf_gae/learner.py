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

With `agent_axis=True` (a sweep's agents stacked along the leading axis of every variable,
:mod:`tf_gae.agent_axis`) the loss is one per agent, [A]; the step takes the gradient of their sum (in
agent k's slice exactly ∇L_k), each agent's own norm ‖g_k‖, clips each agent by it, and applies a
:class:`StackedOptimizer` only for the agents whose loss and norm are finite.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from tf_gae._tf import tf
import keras  # noqa: E402  (after TensorFlow is imported quietly)
from tf_gae.distribute import dense_gradients
from tf_gae.rng import xla_uniform_float32

__all__ = ["Learner", "StackedOptimizer", "TorchStyleRMSprop", "StepResult", "EpochsResult", "batch_gradients", "ascending_order"]

Batch = dict[str, tf.Tensor]
LossFn = Callable[[Batch], tuple[tf.Tensor, dict[str, tf.Tensor]]]
MinibatchStep = Callable[[Batch], tuple[dict[str, tf.Tensor], tf.Tensor]]


class StepResult(NamedTuple):
    loss: tf.Tensor  # the loss before the step, scalar ([A] with an agent axis, and so each field)
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
        agent_axis: bool = False,
    ) -> None:
        """`variables`: what the step trains (the optimizer must be built for them). `reduction` "mean"
        or "token_sum" (module docstring); "token_sum" needs `weights_key`, the batch entry holding the mask.
        `seed` seeds `generator`, the minibatch shuffles' tf.random.Generator (checkpoint it to resume).
        `agent_axis`: every variable's leading axis is an agent's (module docstring); `optimizer` is then a
        :class:`StackedOptimizer`."""
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
        self.agent_axis = agent_axis
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
        if self.agent_axis:  # ‖g_k‖ and g_k ← g_k · min(1, c / ‖g_k‖) for each agent k
            grad_norm = agents_global_norms(gradients)
            if self.max_grad_norm > 0:
                gradients = clip_agents_by_norms(gradients, self.max_grad_norm, grad_norm)
        else:
            grad_norm = tf.linalg.global_norm(gradients)  # ‖g‖
            if self.max_grad_norm > 0:  # g ← g · min(1, c / ‖g‖)
                gradients, _ = tf.clip_by_global_norm(gradients, self.max_grad_norm, use_norm=grad_norm)
        applied = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)  # never write NaN into the weights
        if apply is not None:
            applied = applied & apply(metrics)
        if self.agent_axis:  # θ_k ← optimizer_k(θ_k, g_k) where applied_k
            self.optimizer.apply(gradients, applied)
            return StepResult(loss, metrics, grad_norm, applied)

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
        last minibatch holds the N mod minibatch_size left over, if any. A pass of one minibatch (minibatch_size
        = N, static) is the batch itself, unshuffled, and draws nothing: a step's mean over all N samples is
        the same in any order, to float rounding. `minibatch_step(minibatch)` returns
        (metrics, go_on), usually after one :meth:`step`; the passes end at the first step whose `go_on` is
        false, whose metrics go to `last` but not to `sums`. Call inside a `tf.function`.

        When N is static and minibatch_size divides it, every minibatch has the static shape
        [minibatch_size, ...], and the loop can be part of an XLA program (with slices of a size known only at
        run time, XLA computed PPO's networks on all N rows at every step). Otherwise the last minibatch's size
        is known only when it runs: run the loop in TensorFlow's executor then (the step itself may be
        XLA-compiled), because inside an XLA program that minibatch is padded to minibatch_size and the
        padding is handed to the step as samples.

        With `agent_axis` every entry is [A, N, ...] and each agent makes its own passes: its own shuffles
        (from its stream of the StackedGenerators `self.generator`, the numbers its solo run's XLA program
        draws), its own early stop. `minibatch_step(minibatch, going)` then gets [A, M, ...] and `going` [A],
        the agents whose passes go on, and must leave the others unchanged; sums, steps, epochs and `last`
        are [A]. minibatch_size must divide N.
        """
        axis = 1 if self.agent_axis else 0  # the samples' axis: [A, N, ...] for agents side by side
        first = next(iter(batch.values()))
        num_samples = tf.shape(first)[axis]  # N
        known_samples = first.shape[axis]  # N when static, else None
        static_size = known_samples is not None and known_samples % minibatch_size == 0
        whole_batch = known_samples == minibatch_size  # one minibatch a pass: no shuffle to draw
        if self.agent_axis and not static_size:
            raise ValueError("minibatch epochs on an agent axis need minibatch_size to divide the samples")
        num_minibatches = (num_samples + minibatch_size - 1) // minibatch_size  # ⌈N / M⌉
        agents = list(first.shape[:1]) if self.agent_axis else []  # [A], or [] for one run
        zeros = {name: tf.zeros(agents) for name in metric_names}

        def shuffled() -> tf.Tensor:  # a new pass: a seeded order of the N samples ([A, N]: each agent's own)
            seed = self.generator.uniform_full_int([2], dtype=tf.int32)  # [2], or [A, 2]
            if self.agent_axis:  # the numbers each agent's solo run draws (its XLA program's)
                return ascending_order(xla_uniform_float32(seed, known_samples))
            return ascending_order(tf.random.stateless_uniform([num_samples], seed=seed))

        def take_minibatch(index, going, order):  # (minibatch `index` of its pass, the pass's order)
            if self.agent_axis:  # an agent that stopped draws no more shuffles, as its solo loop had ended
                streams = self.generator.state.read_value()
            order = tf.ensure_shape(tf.cond(index == 0, shuffled, lambda: order), order.shape)  # [N] or [A, N]
            if self.agent_axis:
                self.generator.state.assign(tf.where(going[:, None], self.generator.state, streams))
            if static_size:  # [M]: a static shape, so that XLA computes on M samples
                indices = tf.slice(order, [0] * axis + [index * minibatch_size], [-1] * axis + [minibatch_size])
            else:  # the last minibatch of a pass is smaller: a size known only when it runs
                indices = order[index * minibatch_size : (index + 1) * minibatch_size]
            minibatch = {name: tf.gather(values, indices, axis=axis, batch_dims=axis) for name, values in batch.items()}
            return minibatch, order

        def go_on(k, stop, *_):  # k: minibatch steps begun, over all passes
            return (k < n_epochs * num_minibatches) & tf.reduce_any(~stop)

        def one_step(k, stop, steps, epochs, order, sums, last):
            index = k % num_minibatches  # the minibatch within its pass
            going = ~stop  # () or [A]: the runs whose passes go on
            if whole_batch:
                minibatch = batch
            else:
                minibatch, order = take_minibatch(index, going, order)
            # with agents, the step is told which agents go on, and must change only theirs
            metrics, step_goes_on = minibatch_step(minibatch, going) if self.agent_axis else minibatch_step(minibatch)
            now = {name: tf.cast(metrics[name], tf.float32) for name in metric_names}
            last = {name: tf.where(going, now[name], last[name]) for name in metric_names}
            applied = going & step_goes_on
            sums = {name: tf.where(applied, sums[name] + now[name], sums[name]) for name in metric_names}
            steps += tf.cast(applied, tf.int32)
            epochs += tf.cast(going & (index == 0), tf.int32)
            return k + 1, stop | ~step_goes_on, steps, epochs, order, sums, last

        order = tf.range(num_samples) if not self.agent_axis else tf.tile(tf.range(known_samples)[None], agents + [1])
        start = (tf.constant(0), tf.zeros(agents, tf.bool), tf.zeros(agents, tf.int32), tf.zeros(agents, tf.int32),
                 order, dict(zeros), dict(zeros))  # fmt: skip
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



class TorchStyleRMSprop(keras.optimizers.RMSprop):
    """RMSprop with ε outside the root, as PyTorch (and so SB3's A2C): θ −= lr·g / (√v + ε).

        v ← ρ v + (1 − ρ) g²

    Keras's own RMSprop divides by √(v + ε), which no choice of ε reproduces: its steps are up to √2
    larger where √v ≈ ε, the regime most hidden-layer weights of a small A2C network sit in early on.
    With it, our A2C took the same steps as SB3's to float32 rounding over 50 updates and learned
    CartPole as well; with Keras's form it learned clearly worse (README, agents benchmark).
    Momentum and centering are not supported (A2C uses neither).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.momentum or self.centered:
            raise ValueError("TorchStyleRMSprop supports neither momentum nor centered; use keras.optimizers.RMSprop")

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        # v ← ρ v + (1 − ρ) g²
        self.assign(velocity, self.rho * velocity + (1 - self.rho) * keras.ops.square(gradient))
        # θ ← θ − lr g / (√v + ε)
        self.assign_sub(variable, learning_rate * gradient / (keras.ops.sqrt(velocity) + self.epsilon))


def agents_global_norms(gradients: Sequence[tf.Tensor]) -> tf.Tensor:
    """[A]: ‖g_k‖ over agent k's slices (leading axis) of every gradient, computed as tf.linalg.global_norm
    computes one norm: √(2 Σ_i ½ Σ g²)."""
    half_squares = [tf.reduce_sum(tf.square(g), axis=list(range(1, g.shape.rank))) * 0.5 for g in gradients]
    return tf.sqrt(tf.reduce_sum(tf.stack(half_squares), axis=0) * 2.0)


def clip_agents_by_norms(gradients: Sequence[tf.Tensor], clip_norm: float, norms: tf.Tensor) -> list[tf.Tensor]:
    """g_k ← g_k · min(1, c / ‖g_k‖) for each agent k, as tf.clip_by_global_norm scales (NaN norms give NaN)."""
    clip = tf.constant(clip_norm, norms.dtype)
    scale = clip * tf.minimum(1.0 / norms, 1.0 / clip) + (norms - norms)  # [A]
    return [g * tf.reshape(scale, [-1] + [1] * (g.shape.rank - 1)) for g in gradients]


class StackedOptimizer:
    """A agents' optimizers (each PyTorch-style RMSprop or Keras's Adam, as the trainers make them) on
    weights stacked along a leading agent axis: the update each agent's own optimizer computes, written out
    with its own learning rate and step count, applied only for the agents whose step goes on. The
    optimizer of :class:`Learner` with `agent_axis=True` (tf_gae.agent_axis)."""

    def __init__(self, optimizers: Sequence[Any], weights: Sequence[tf.Variable]) -> None:
        template = optimizers[0]
        self.rmsprop = isinstance(template, TorchStyleRMSprop)
        self.template = template
        self.slot_names = ("_velocities",) if self.rmsprop else ("_momentums", "_velocities")  # Keras's own lists
        num_agents = len(optimizers)
        self.weights = list(weights)
        self.iterations = tf.Variable(tf.zeros([num_agents], tf.int64), trainable=False, name="agents_iterations")
        self.learning_rate = tf.Variable(  # the optimizers' own type (float32, or float64 for float64 weights)
            tf.zeros([num_agents], template.learning_rate.dtype), trainable=False, name="agents_learning_rate"
        )
        self.slots = {
            name: [tf.Variable(tf.zeros_like(w), trainable=False, name=f"agents{name}_{i}") for i, w in enumerate(weights)]
            for name in self.slot_names
        }

    def pairs(self, optimizer: Any) -> list[tuple[tf.Variable, Any]]:
        """(stacked variable, agent's variable) for every optimizer variable, agent's side from `optimizer`."""
        pairs = [(self.iterations, optimizer.iterations), (self.learning_rate, optimizer.learning_rate)]
        for name in self.slot_names:
            pairs += list(zip(self.slots[name], getattr(optimizer, name)))
        return pairs

    def apply(self, gradients: Sequence[tf.Tensor], applied: tf.Tensor) -> None:
        """θ_k ← optimizer_k(θ_k, g_k) for the agents where `applied` [A] is true; the others keep everything."""
        opt = self.template
        dtype = self.weights[0].dtype  # the weights' float type, as Keras casts to in its update
        learning_rate = tf.cast(self.learning_rate, dtype)  # [A]
        local_step = tf.cast(self.iterations + 1, dtype)  # [A]: this step's count, as Keras's t
        if not self.rmsprop:  # Adam's bias correction: α_k = lr_k √(1 − β₂^t) / (1 − β₁^t)
            beta_1_power = tf.pow(tf.cast(opt.beta_1, dtype), local_step)
            beta_2_power = tf.pow(tf.cast(opt.beta_2, dtype), local_step)
            alpha = learning_rate * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)  # [A]
        for i, (gradient, weight) in enumerate(zip(gradients, self.weights)):

            def per_agent(x: tf.Tensor) -> tf.Tensor:  # [A] -> [A, 1, ...], against this weight
                return tf.reshape(x, [-1] + [1] * (weight.shape.rank - 1))

            keep = per_agent(applied)
            if self.rmsprop:
                velocity = self.slots["_velocities"][i]
                # v ← ρ v + (1 − ρ) g²;  θ ← θ − lr g / (√v + ε)
                new_velocity = opt.rho * velocity + (1 - opt.rho) * tf.square(gradient)
                new_weight = weight - per_agent(learning_rate) * gradient / (tf.sqrt(new_velocity) + opt.epsilon)
                velocity.assign(tf.where(keep, new_velocity, velocity))
            else:
                momentum, velocity = self.slots["_momentums"][i], self.slots["_velocities"][i]
                # m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂);  θ ← θ − α m / (√v + ε)
                new_momentum = momentum + (gradient - momentum) * (1 - opt.beta_1)
                new_velocity = velocity + (tf.square(gradient) - velocity) * (1 - opt.beta_2)
                new_weight = weight - (new_momentum * per_agent(alpha)) / (tf.sqrt(new_velocity) + opt.epsilon)
                momentum.assign(tf.where(keep, new_momentum, momentum))
                velocity.assign(tf.where(keep, new_velocity, velocity))
            weight.assign(tf.where(keep, new_weight, weight))
        self.iterations.assign_add(tf.cast(applied, tf.int64))


COUNTING_SORT_MAX = 1024
"""Above this many values :func:`ascending_order` sorts; at or below it counts (N² comparisons)."""


def ascending_order(values: tf.Tensor) -> tf.Tensor:
    """The indices that put `values` [N] in ascending order, equal values in the order of their indices:
    exactly `tf.argsort(values)` (which sorts with top_k, lower index first among equals). `values` [A, N]:
    each row's order, [A, N].

    For a static N ≤ COUNTING_SORT_MAX the rank of each value is counted instead of sorted,

        rank_i = #{j : v_j < v_i} + #{j < i : v_j = v_i},   order[rank_i] = i,

    an N × N comparison that XLA fuses into one loop; XLA's sort on CPU costs several times more for the
    few hundred samples of a PPO rollout, and the passes of a minibatch loop begin with one."""
    size = values.shape[-1]
    if size is None or size > COUNTING_SORT_MAX:
        return tf.argsort(values, axis=-1)
    index = tf.range(size)
    later, earlier = values[..., None, :], values[..., :, None]  # v_j along the last axis, v_i along the other
    before = (later < earlier) | ((later == earlier) & (index[None, :] < index[:, None]))  # [..., N, N]
    rank = tf.reduce_sum(tf.cast(before, tf.int32), axis=-1)  # [..., N]: where value i goes
    if values.shape.rank == 1:
        return tf.scatter_nd(rank[:, None], index, [size])
    return tf.reduce_sum(tf.cast(rank[..., :, None] == index, tf.int32) * index[:, None], axis=-2)  # each row's


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
