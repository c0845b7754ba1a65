"""What the trainers share: the configuration, the advantage-weighted update and the training loop.

The update is the policy-gradient step of the GAE paper (§2, eq. 1 with Ψ_t = Â_t) with a fitted value function:

    Â_t, R^λ_t = tf_gae.gae(r, V(s_t), V(s_{t+1}), terminated, truncated; γ, λ)   (gradient-stopped)
    L_policy   = −mean_t[ log π_θ(a_t | s_t) · Â_t ]                             (ascent on E[∇ log π · Â])
    L_value    = mean_t[ (V_φ(s_t) − R^λ_t)² ]                                  (regression on the λ-return)
    L          = L_policy + c_v L_value − c_e mean_t[ H(π_θ(· | s_t)) ]

GAE is a fixed linear function of the rewards and the current V; gradient descent fits V and improves π.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import time
from typing import Any, Callable

import gymnasium as gym
from tf_gae._tf import tf  # first: TensorFlow imported once, without its start-up noise
import keras  # noqa: E402
import numpy as np

from tf_gae.advantages import gae, normalize_advantages
from tf_gae.config import SWEEPABLE, ConfigError, NamesSettings, TrainerConfig, flag_name
from tf_gae import losses
from tf_gae.distribute import check_even_split
from tf_gae.learner import Learner, TorchStyleRMSprop
from tf_gae.models import action_spec_from_space, build_actor_critic
import tf_gae.envs
from tf_gae.envs.adapter import GymnasiumEnv
from tf_gae.rollout import (
    NonFiniteObservation,
    Rollout,
    RewardScaler,
    RolloutCollector,
    check_env_id,
    finished_episodes,
    make_vector_env,
    registered_spec,
)

__all__ = [
    "TrainerConfig",
    "Trainer",
    "ConfigError",
    "TrainingDiverged",
    "PROGRESS_COLUMNS",
    "check_environment",
    "build_model",
    "flag_name",
    "TorchStyleRMSprop",
    "ProgressRows",
    "explained_variance",
]


class TrainingDiverged(NamesSettings, RuntimeError):
    """A loss, a metric, a weight or a running statistic became NaN or infinite, or the environment gave a
    non-finite observation: training stops before its caller checkpoints it, so the last good checkpoint is
    kept. `fields`: the settings the message names (the command says them as flags)."""


PROGRESS_COLUMNS = [
    "env_steps",
    "updates",
    "wall_time_s",
    "episode_return_mean",
    "episode_return_std",
    "episode_length_mean",
    "episodes",
    "policy_loss",
    "value_loss",
    "entropy",
    "explained_variance",
    "grad_norm",
]


def check_environment(env_id: str) -> tuple[gym.Space, gym.Space]:
    """The observation and action spaces of `env_id`, or ValueError naming what is unsupported."""
    check_env_id(env_id)
    try:
        env = gym.make(env_id)
    except Exception as error:  # DependencyNotInstalled, or an ImportError of a package the env needs
        text = (str(error).strip().splitlines() or [""])[0]
        kind = "" if isinstance(error, gym.error.Error) else f"{type(error).__name__}: "
        raise ValueError(f"cannot create {env_id}: {kind}{text}") from None
    try:
        observation_space, action_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not (
        isinstance(observation_space, gym.spaces.Box)
        and len(observation_space.shape) == 1
        and observation_space.shape[0] >= 1
    ):
        raise ValueError(
            f"{env_id} has observation space {observation_space}: only flat (1-D) Box observations of at least "
            "one number are supported"
        )
    action_spec_from_space(action_space)  # raises for unsupported action spaces
    return observation_space, action_space


def build_model(config: TrainerConfig, network: Any = None) -> Any:
    """The actor-critic that `config` describes, on the user's own Keras `network` if one is given (see
    :class:`tf_gae.models.ActorCritic`); one place, for training and for evaluating a run."""
    observation_space, action_space = check_environment(config.env_id)
    return build_actor_critic(
        observation_space,
        action_space,
        hidden_sizes=tuple(config.hidden_sizes),
        shared_trunk=config.shared_trunk,
        normalize_observations=config.normalize_observations,
        network=network,
    )


def explained_variance(
    predictions: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor | None = None, axis: int | None = None
) -> tf.Tensor:
    """1 − Var[targets − predictions] / Var[targets]: 1 is perfect, 0 is no better than a constant. [N] each;
    `mask` [N] bool: over those entries only. With `axis`, one answer per slice along it ([A, N], axis=-1: [A])."""

    def variance(x):  # population variance over the entries of the mask
        if mask is None:
            return tf.math.reduce_variance(x, axis)
        mean = losses.weighted_mean(x, mask, axis)
        mean = mean if axis is None else tf.expand_dims(mean, axis)
        return losses.weighted_mean(tf.square(x - mean), mask, axis)

    target_variance = variance(targets)
    return tf.where(target_variance > 0, 1.0 - variance(targets - predictions) / target_variance, np.nan)


class Trainer:
    """Collect a rollout, compute GAE, take one gradient step; repeat. Subclasses set defaults and losses."""

    config_class: type[TrainerConfig] = TrainerConfig
    algo: str = "base"
    progress_columns: list[str] = PROGRESS_COLUMNS

    def __init__(
        self, config: TrainerConfig, strategy: tf.distribute.Strategy | None = None, network: Any = None
    ) -> None:
        """`strategy`: a tf.distribute.Strategy (e.g. MirroredStrategy over several GPUs) to update with: the
        model and optimizer are created in its scope, each update's batch is split evenly over its replicas
        and their gradients are averaged before clipping (README: several devices and machines).
        `network`: the user's own Keras layer(s) in place of the MLPs (:class:`tf_gae.models.ActorCritic`)."""
        self.config = config
        self.strategy = strategy
        keras.utils.set_random_seed(config.seed)
        # The settings a sweep varies, as variables the graph reads rather than constants traced into it: runs
        # that differ only in them (and their seed) share one compiled program (tf_gae.sweep).
        self.hyperparameters = {
            name: tf.Variable(float(getattr(config, name)), dtype=tf.float64, trainable=False, name=name)
            for name in SWEEPABLE
        }
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.model = build_model(config, network)
            if config.optimizer == "rmsprop":  # PyTorch's RMSprop(alpha=0.99, eps=1e-5), as SB3's A2C
                self.optimizer = TorchStyleRMSprop(learning_rate=config.learning_rate, rho=0.99, epsilon=1e-5)
            else:
                self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=1e-5)
            self.optimizer.build(self.model.trainable_variables)
        # every gradient step of this trainer: ∇L, clip to max_grad_norm, apply unless non-finite; an episodic
        # batch's losses are means over the steps inside episodes, however the replicas' shards split them
        self.learner = Learner(
            self.model.trainable_variables, self.optimizer, max_grad_norm=config.max_grad_norm, strategy=strategy,
            seed=config.seed, **(dict(reduction="token_sum", weights_key="mask") if config.episodic else {}),
        )
        self.rollout_steps = self._rollout_steps(config)  # T
        if strategy is not None:
            fix = "choose num_envs × n_steps (and PPO's minibatch_size) divisible by the number of replicas"
            check_even_split(self.gradient_batch_sizes(), strategy, fix)
        gamma = self.hyperparameters["gamma"]
        reward_scaler = RewardScaler(config.num_envs, gamma) if config.normalize_rewards else None
        collecting = dict(num_steps=self.rollout_steps, seed=config.seed, reward_scaler=reward_scaler,
                          episodic=self.episodic)  # fmt: skip
        if config.backend == "tensorflow":  # the task in TensorFlow ops: the rollout never leaves the graph
            self.env = tf_gae.envs.make(config.env_id)
        else:  # gymnasium's, behind the same protocol: its steps go out through tf.numpy_function
            self.env = GymnasiumEnv(make_vector_env(config.env_id, config.num_envs, asynchronous=config.asynchronous_envs))
        self.collector = RolloutCollector(self.env, self.model, num_envs=config.num_envs, **collecting)
        self.env_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="env_steps")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")
        self._update = tf.function(self._update_graph, reduce_retracing=True, autograph=False)  # update(rollout): traced on use
        self._checkpoint: tf.train.Checkpoint | None = None  # made on first use (checkpoint())
        # Training iterations (rollout, GAE, losses, optimizer step, counters) run as ONE graph call for all
        # the updates between two progress rows (`_iterate`, traced on first use). On this project's 2-core
        # machines a graph call costs ~0.2 ms of dispatch, as much as A2C's whole optimizer step.

    @property
    def episodic(self) -> bool:
        """REINFORCE: each update is whole episodes of different lengths, masked to the rollout's size T."""
        return self.config.episodic

    @staticmethod
    def _rollout_steps(config: TrainerConfig) -> int:
        """T, the steps per environment of a rollout: `n_steps`; for an episodic configuration with n_steps 0,
        the environment's time limit, by which every episode has ended."""
        if config.n_steps or not config.episodic:
            return config.n_steps
        spec = registered_spec(config.env_id)  # registered: building the model checked the id
        limit = None if spec is None else spec.max_episode_steps
        if not limit:
            raise ConfigError(
                f"n_steps must be ≥ 1 for {config.env_id}: {config.env_id} has no time limit, and whole episodes "
                "need a longest one to wait for (e.g. n_steps 1000; an episode is cut there)",
                ("n_steps",),
            )
        return int(limit)

    @property
    def planned_steps(self) -> int:
        """The env steps the run takes in all: whole rollouts within total_steps; for whole episodes,
        total_steps (the last update ends past it by less than a batch of episodes)."""
        config = self.config
        return config.total_steps if self.episodic else config.num_updates * config.steps_per_update

    def describe_rollout(self) -> str:
        """What one update trains on, in words: '8 envs × 5 steps' or '8 whole episodes (≤ 500 steps)'."""
        if self.episodic:
            return f"{self.config.num_envs} whole episodes (≤ {self.rollout_steps} steps)"
        return f"{self.config.num_envs} envs × {self.config.n_steps} steps"

    @property
    def compiles_whole_call(self) -> bool:
        """With the environment in the graph, compile the whole training call as one XLA program (PPO decides
        by the size of its rollout: see there)."""
        return True

    @property
    def _in_graph_xla(self) -> bool:
        """XLA can compile the rollout: the environment is TensorFlow ops (gymnasium's leaves the graph), and
        there is no distribution strategy (whose cross-replica reductions XLA does not compile here)."""
        return self.config.backend == "tensorflow" and self.strategy is None

    @functools.cached_property
    def _iterate(self) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, ...]]:
        whole_program = self._in_graph_xla and self.compiles_whole_call
        observation_spec = tf.TensorSpec([self.collector.num_envs, self.collector.observation_size], tf.float32)
        return tf.function(self._iterate_graph, jit_compile=whole_program, autograph=False).get_concrete_function(
            observation_spec, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64)
        )

    @functools.cached_property
    def _collect_in_call(self) -> Callable[[tf.Tensor], tuple[dict[str, tf.Tensor], tf.Tensor]]:
        """The rollout inside the training call: its own XLA program with the environment in the graph (within
        a whole-call program it is simply part of it)."""
        return tf.function(self.collector.collect_graph_and_last, jit_compile=self._in_graph_xla, autograph=False)

    @property
    def updates_per_row(self) -> int:
        """Updates between two progress rows: the most one training call runs. Whole episodes take at least
        one step each, so log_every_steps / num_envs updates always reach the next row."""
        config = self.config
        if self.episodic:
            return -(-config.log_every_steps // config.num_envs)  # ⌈log_every_steps / B⌉
        return max(1, round(config.log_every_steps / config.steps_per_update))

    def gradient_batch_sizes(self) -> list[int]:
        """The numbers of samples one gradient step sees: the whole rollout, num_envs × T."""
        return [self.config.num_envs * self.rollout_steps]

    # ------------------------------------------------------------------ checkpointing

    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything a resumed run needs: weights, optimizer slots, counters, the sampling and shuffling RNGs.
        One object per trainer (its parts never change), so that its compiled save is traced once."""
        if self._checkpoint is None:
            self._checkpoint = self._make_checkpoint()
        return self._checkpoint

    def _make_checkpoint(self) -> tf.train.Checkpoint:
        parts = dict(
            model=self.model,
            optimizer=self.optimizer,
            env_steps=self.env_steps,
            updates=self.updates,
            generator=self.collector.generator,
            shuffle_generator=self.learner.generator,
        )
        if self.collector.reward_scaler is not None:
            parts["return_statistics"] = self.collector.reward_scaler.statistics
        parts.update(self.collector.state_variables())  # in-graph episodes themselves: resume continues them
        return tf.train.Checkpoint(**parts)

    # ------------------------------------------------------------------ the update

    def advantages_and_returns(self, rollout_tensors: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """GAE(γ, λ) on the rollout: [T, B] advantages and λ-return targets, gradient-stopped."""
        return gae(
            rollout_tensors["rewards"],
            rollout_tensors["values"],
            rollout_tensors["next_values"],
            rollout_tensors["terminated"],
            rollout_tensors["truncated"],
            gamma=self.hyperparameters["gamma"].read_value(),
            lambda_=self.hyperparameters["lam"].read_value(),
        )

    def flat_batch(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """GAE on the [T, B] rollout, then everything flattened to N = T·B samples."""
        advantages, returns = self.advantages_and_returns(rollout_tensors)  # [T, B] each
        observations = rollout_tensors["observations"]
        actions = rollout_tensors["actions"]

        def flatten(x):  # [T, B, ...] -> [T·B, ...]
            return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))

        dtype = tf.as_dtype(self.model.compute_dtype)  # the update computes in the model's float type

        def flatten_float(x):
            return tf.cast(flatten(x), dtype)

        batch = dict(
            observations=tf.reshape(observations, [-1, observations.shape[-1]]),  # [N, obs_dim]
            actions=flatten(actions),  # [N] or [N, act_dim]
            log_probs=flatten_float(rollout_tensors["log_probs"]),  # [N]
            values=flatten_float(rollout_tensors["values"]),  # [N]
            advantages=flatten_float(advantages),  # [N]
            returns=flatten_float(returns),  # [N]
        )
        if "mask" in rollout_tensors:  # whole episodes: 1 for the steps inside them [N]
            batch["mask"] = flatten_float(rollout_tensors["mask"])
        return batch

    raw_metric_names: tuple[str, ...] = ("loss", "policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm")
    """The scalars :meth:`_update_graph` returns, in the order :meth:`_iterate_graph` sums them."""

    def _iterate_graph(
        self, observations: tf.Tensor, num_updates: tf.Tensor, step_limit: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """`num_updates` (at most `updates_per_row`) times: collect a rollout (from `observations` [B, obs_dim]
        first, then from where the last one stopped), update on it, count it. Returns each raw metric summed
        over the updates [M], and the episode statistics of the rollouts, [U, T, B] with U = updates_per_row:
        `episode_returns[u, t, b]` the return of the episode that ended at step t of rollout u in environment
        b, NaN where none ended (and for u ≥ num_updates), `episode_lengths` its length; and whether every
        weight and statistic is still finite. Every shape is fixed, so that with environments in the graph
        the whole call compiles as one XLA program. With whole episodes the statistics are [U, 1, B], and
        the call also stops once env_steps reaches `step_limit` (a segment's steps are known in advance)."""
        config = self.config
        buffer_shape = [self.updates_per_row, self.collector.statistics_steps, self.collector.num_envs]  # [U, T or 1, B]

        def one_update(index, observations, sums, episode_returns, episode_lengths):
            rollout_tensors, last_observations = self._collect_in_call(observations)
            metrics = self._update_graph(rollout_tensors)
            if set(metrics) != set(self.raw_metric_names):
                raise TypeError(f"{type(self).__name__}._update_graph returned {sorted(metrics)}, not raw_metric_names")
            self.updates.assign_add(1)
            if self.episodic:  # the steps inside the episodes
                self.env_steps.assign_add(tf.cast(tf.reduce_sum(rollout_tensors["mask"]), tf.int64))
            else:
                self.env_steps.assign_add(config.steps_per_update)
            values = tf.stack([tf.cast(metrics[name], tf.float32) for name in self.raw_metric_names])
            at = [[index]]  # row `index` of the [U, T, B] buffers
            episode_returns = tf.tensor_scatter_nd_update(episode_returns, at, rollout_tensors["episode_returns"][None])
            episode_lengths = tf.tensor_scatter_nd_update(episode_lengths, at, rollout_tensors["episode_lengths"][None])
            return index + 1, last_observations, sums + values, episode_returns, episode_lengths

        start = (tf.constant(0), observations, tf.zeros([len(self.raw_metric_names), *self.metric_shape]),
                 tf.fill(buffer_shape, tf.constant(np.nan, tf.float64)), tf.zeros(buffer_shape, tf.int32))  # fmt: skip
        def go_on(index, *_):
            return (index < tf.minimum(num_updates, self.updates_per_row)) & (self.env_steps < step_limit)

        _, _, sums, episode_returns, episode_lengths = tf.while_loop(go_on, one_update, start)
        return sums, episode_returns, episode_lengths, self.state_is_finite_graph()

    def _update_graph(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The update on one rollout, as graph ops; returns the raw metrics for :meth:`finish_metrics`."""
        return self._gradient_step(rollout_tensors)

    @functools.cached_property
    def _gradient_step(self) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
        # Compiled by XLA into one kernel: ~20% cheaper than TensorFlow's executor running its ~150 small ops.
        # (Not with a distribution strategy, whose cross-replica reductions XLA does not compile here.)
        return tf.function(self._gradient_step_graph, jit_compile=self.strategy is None, autograph=False)

    def _gradient_step_graph(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        config = self.config
        batch = self.flat_batch(rollout_tensors)
        inside = batch["mask"] > 0 if "mask" in batch else None  # [N]: the steps inside episodes, if masked
        if config.normalize_advantages:  # over the whole batch, before any split over replicas
            batch["advantages"] = normalize_advantages(batch["advantages"], mask=inside)
        loss, metrics, grad_norm, _ = self.learner.step(self._losses, batch)
        return dict(
            loss=loss,
            **metrics,
            explained_variance=explained_variance(batch["values"], batch["returns"], inside),
            grad_norm=grad_norm,
        )

    def _losses(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The policy-gradient loss on a flat batch of N samples, and its parts."""
        distribution, values = self.model.policy_and_value(batch["observations"])
        log_probs = distribution.log_prob(batch["actions"])  # [N]
        weights = batch.get("mask")  # whole episodes: means over the steps inside them [N]; else None
        return self.loss_terms(log_probs, distribution.entropy(), values, batch["advantages"], batch["returns"], weights)

    def loss_terms(
        self, log_probs: tf.Tensor, entropies: tf.Tensor, values: tf.Tensor, advantages: tf.Tensor,
        returns: tf.Tensor, weights: tf.Tensor | None = None, axis: int | None = None,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The loss from the forward pass's log π(a_t|s_t), entropies and V(s_t) [N] each, and its parts; with
        `axis`, one loss per slice along it (a sweep's agents: [A, N], axis=-1)."""
        config = self.config
        # L_policy = −mean[log π(a_t|s_t) Â_t]; Â is a constant here (gae stops its gradient).
        policy_loss = losses.policy_gradient_loss(log_probs, advantages, weights, axis)
        # L_value = mean[(V(s_t) − R^λ_t)²]
        value_loss = losses.value_loss(values, returns, weights=weights, axis=axis)
        entropy = losses.mean_entropy(entropies, weights, axis)
        loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        return loss, dict(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)

    @staticmethod
    def rollout_tensors(rollout: Rollout) -> dict[str, tf.Tensor]:
        tensors = dict(
            observations=rollout.observations,
            actions=rollout.actions,
            rewards=rollout.rewards,
            values=rollout.values,
            next_values=rollout.next_values,
            terminated=rollout.terminated,
            truncated=rollout.truncated,
            log_probs=rollout.log_probs,
        )
        if rollout.mask is not None:
            tensors["mask"] = rollout.mask
        return tensors

    def update(self, rollout: Rollout) -> dict[str, float]:
        """One update on a rollout from `self.collector.collect()` (the training loop fuses the two)."""
        raw = {name: float(value) for name, value in self._update(self.rollout_tensors(rollout)).items()}
        first = int(self.updates.numpy()) + 1
        return self.finish_metrics(raw, num_updates=1, updates=f"{first}")

    def finish_metrics(self, sums: dict[str, float], num_updates: int, updates: str) -> dict[str, float]:
        """The progress row's metrics, averaged over `num_updates` updates from the sums of their raw metrics;
        raises if a loss was not finite (`updates` names them in the message)."""
        metrics = {name: value / num_updates for name, value in sums.items()}
        self.check_finite(metrics, updates)
        return metrics

    finite_metric_names: tuple[str, ...] = ("loss", "grad_norm")
    """Metrics that are finite in any healthy update (explained_variance may be NaN: constant targets)."""

    def check_finite(self, metrics: dict[str, float], updates: str) -> None:
        bad = {name: metrics[name] for name in self.finite_metric_names if not math.isfinite(metrics[name])}
        if bad:
            shown = ", ".join(f"{name}={value}" for name, value in bad.items())
            raise TrainingDiverged(
                f"non-finite loss at update {updates} ({shown}); lower learning_rate or set max_grad_norm",
                ("learning_rate", "max_grad_norm"),
            )

    def checkpoint_variables(self) -> list[tf.Variable]:
        """Every variable :meth:`checkpoint` saves: weights, optimizer slots, observation and return statistics."""
        variables = list(self.model.variables) + list(self.optimizer.variables)
        if self.collector.reward_scaler is not None:
            variables += list(self.collector.reward_scaler.statistics.variables)
        return variables

    def state_is_finite_graph(self) -> tf.Tensor:
        """bool: every float in :meth:`checkpoint_variables` is finite; graph ops, so that the training call
        answers it without reading the variables back one by one."""
        floats = [v for v in self.checkpoint_variables() if tf.as_dtype(v.dtype).is_floating]
        return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in floats]))

    def state_variables(self) -> list[tf.Variable]:
        """Every variable that makes up the run, in a fixed order: what :meth:`checkpoint` saves, the running
        discounted returns of reward scaling, and the values of `hyperparameters`. Two trainers of the same
        program (same algorithm, shapes and backend) list matching variables, so :meth:`load_state` can move
        a whole run from one to the other."""
        variables = self.checkpoint_variables()
        variables += [self.env_steps, self.updates, self.collector.generator.state, self.learner.generator.state]
        variables += list(self.collector.state_variables().values())
        if self.collector.reward_scaler is not None:
            variables.append(self.collector.reward_scaler.discounted_returns)
        return variables + list(self.hyperparameters.values())

    def load_state(self, other: "Trainer") -> None:
        """Make this trainer's run `other`'s: every variable of :meth:`state_variables` takes other's value
        (its configuration goes with it). The compiled program is this trainer's own, so a run moved here
        continues exactly as it would have in `other`."""
        mine, theirs = self.state_variables(), other.state_variables()
        shapes = [(v.shape, v.dtype) for v in mine]
        if shapes != [(v.shape, v.dtype) for v in theirs]:
            raise ValueError("load_state needs a trainer of the same program: same algorithm, shapes and backend")
        for variable, value in zip(mine, theirs):
            variable.assign(value)
        self.config = other.config

    def check_state_finite(self, updates: str, state_finite: bool | None = None) -> None:
        """TrainingDiverged if a weight, optimizer slot or running statistic is NaN/inf, so that such a
        state is never checkpointed (the last good checkpoints are kept). `state_finite`: the answer of
        :meth:`state_is_finite_graph`, when the training call computed it; else the variables are read here."""
        if state_finite is None:
            floats = (v for v in self.checkpoint_variables() if tf.as_dtype(v.dtype).is_floating)
            state_finite = all(np.isfinite(v.numpy()).all() for v in floats)
        if not state_finite:
            raise TrainingDiverged(
                f"non-finite weights or running statistics after update {updates}; lower learning_rate or "
                "check the environment's observations and rewards",
                ("learning_rate",),
            )

    # ------------------------------------------------------------------ the loop

    def train(
        self,
        on_row: Callable[[dict[str, float]], None] | None = None,
        on_update: Callable[[int, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Train until `total_steps`. After every `log_every_steps` (and the last update) `on_row` gets a
        progress row; the caller writes it and then saves the checkpoint, in that order. `should_stop` is
        asked between graph calls (after any row): when it says yes, KeyboardInterrupt is raised there."""
        config = self.config
        start_update = int(self.updates.numpy())
        # gymnasium's environments cannot be checkpointed: a resumed run starts fresh episodes, with a seed that
        # depends on where it is so that resumed runs are reproducible too. In-graph environments are in the
        # checkpoint, and continue where they were (their `start` does nothing).
        try:
            self.collector.start(seed=config.seed + 7919 * start_update)
        except NonFiniteObservation as error:
            raise TrainingDiverged(str(error)) from None
        self._train_runs([self], lambda index, row: None if on_row is None else on_row(row), on_update, should_stop)

    metric_shape: tuple[int, ...] = ()
    """The shape of each raw metric of an update: a scalar here; [A] for A agents trained together."""

    def _train_runs(
        self,
        runs: list["Trainer"],
        on_row: Callable[[int, dict[str, float]], None],
        on_update: Callable[[int, float], None] | None,
        should_stop: Callable[[], bool] | None,
        on_diverged: Callable[[int, TrainingDiverged], None] | None = None,
    ) -> None:
        """The loop of :meth:`train` for the runs this trainer's program trains at once (itself, or a sweep's
        agents: :mod:`tf_gae.agent_axis`): `on_row(k, row)` gets run k's rows. A run whose loss or state is
        not finite raises TrainingDiverged; with `on_diverged`, runs trained together (whose programs never mix
        their numbers) go on without it instead: `on_diverged(k, error)` is told, and run k gets no more rows."""
        start_update = int(self.updates.numpy())
        updates, env_steps = start_update, int(self.env_steps.numpy())  # completed, counted from the run's start
        progress = [ProgressRows(run, updates, env_steps) for run in runs]
        going = list(range(len(runs)))  # the runs that have not diverged
        while going and not self._finished(updates, env_steps):
            if should_stop is not None and should_stop():
                raise KeyboardInterrupt
            # All updates up to the next row in one graph call; the first call of a run does one update
            # alone (it pays the graph's one-time initialisation, so later calls measure steady training).
            num_updates, step_limit = self._next_call(updates, env_steps, first=updates == start_update)
            try:
                outputs = self.collector.run(self._iterate, tf.constant(num_updates), tf.constant(step_limit, tf.int64))
                results = self._results_of_runs(*outputs)
            except NonFiniteObservation as error:
                span = updates_span(updates, num_updates)
                raise TrainingDiverged(f"{error} (during update {span})") from None
            updates, env_steps = int(self.updates.numpy()), int(self.env_steps.numpy())
            rows = {}
            for index in list(going):
                try:
                    rows[index] = progress[index].add(*results[index], updates=updates, env_steps=env_steps)
                except TrainingDiverged as error:
                    if on_diverged is None:
                        raise
                    going.remove(index)
                    on_diverged(index, error)
            if on_update is not None:
                recent = [r for r in (progress[index].recent_return for index in going) if not math.isnan(r)]
                on_update(env_steps, float(np.mean(recent)) if recent else math.nan)
            for index, row in rows.items():
                if row is not None:
                    on_row(index, row)

    def _results_of_runs(
        self, raw_sums: tf.Tensor, episode_returns: tf.Tensor, episode_lengths: tf.Tensor, state_finite: tf.Tensor
    ) -> list[tuple[list[float], list[float], list[int], bool]]:
        """A training call's outputs, per run: (raw metric sums, returns and lengths of the episodes that
        ended, whether the state is finite), what :meth:`ProgressRows.add` takes."""
        returns, lengths = finished_episodes(episode_returns, episode_lengths)  # [K] each
        return [(raw_sums.numpy().tolist(), returns.tolist(), lengths.tolist(), bool(state_finite))]

    _NO_STEP_LIMIT = 2**62  # a segment's call is bounded by its number of updates alone

    def _finished(self, updates: int, env_steps: int) -> bool:
        """Whether the run has spent its budget: whole rollouts within total_steps, or (whole episodes) the
        steps themselves."""
        if self.episodic:
            return env_steps >= self.config.total_steps
        return updates >= self.config.num_updates

    def _next_call(self, updates: int, env_steps: int, first: bool) -> tuple[int, int]:
        """(most updates, env-step limit) of the next training call: up to the next progress row, or a single
        update for the first call of a run. Rows come every updates_per_row updates, or (whole episodes,
        whose steps are not known in advance) every time env_steps passes a multiple of log_every_steps."""
        config = self.config
        if self.episodic:
            next_row = (env_steps // config.log_every_steps + 1) * config.log_every_steps
            return (1 if first else self.updates_per_row), min(next_row, config.total_steps)
        row_end = min((updates // self.updates_per_row + 1) * self.updates_per_row, config.num_updates)
        return (1 if first else row_end - updates), self._NO_STEP_LIMIT

    def _row_due(self, updates: int, previous_env_steps: int, env_steps: int) -> bool:
        """Whether the call that just ended, at `updates` / `env_steps`, ends a progress row."""
        if self._finished(updates, env_steps):
            return True
        if self.episodic:
            return env_steps // self.config.log_every_steps > previous_env_steps // self.config.log_every_steps
        return updates % self.updates_per_row == 0

    def close(self) -> None:
        self.env.close()


def updates_span(completed: int, count: int) -> str:
    """The updates after `completed`, for messages: "7" or "7–12"."""
    return f"{completed + 1}" if count == 1 else f"{completed + 1}–{completed + count}"


class ProgressRows:
    """A run's progress rows from its training calls. Each call's summed metrics and finished episodes go in
    (:meth:`add`); a row comes out every log_every_steps and at the end: the means since the last row of the
    metrics and of the episodes that ended. One per run, so a sweep's agents trained together keep one each."""

    def __init__(self, trainer: "Trainer", updates: int, env_steps: int) -> None:
        self.trainer = trainer
        self.updates, self.env_steps = updates, env_steps  # completed so far
        self.started = time.perf_counter()
        self.recent_returns: collections.deque[float] = collections.deque(maxlen=20)
        self._since_row()

    def _since_row(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.sums: dict[str, float] = {}
        self.count = 0

    @property
    def recent_return(self) -> float:
        """The mean return of the last 20 episodes (NaN before the first ends): the progress bar's."""
        return float(np.mean(self.recent_returns)) if self.recent_returns else math.nan

    def add(
        self, raw_sums: list[float], episode_returns: list[float], episode_lengths: list[int], state_finite: bool,
        *, updates: int, env_steps: int,
    ) -> dict[str, float] | None:
        """A training call that ended at `updates` / `env_steps` (both counted from the run's start), its raw
        metrics summed over its updates (`raw_metric_names` order) and the episodes that ended in it. Raises
        TrainingDiverged if a loss or the state is not finite; returns the progress row when one is due."""
        trainer = self.trainer
        chunk = updates - self.updates  # the updates the call ran
        span = updates_span(self.updates, chunk)
        metrics = trainer.finish_metrics(dict(zip(trainer.raw_metric_names, raw_sums)), num_updates=chunk, updates=span)
        trainer.check_state_finite(span, state_finite)
        previous_env_steps = self.env_steps
        self.updates, self.env_steps = updates, env_steps
        self.returns += episode_returns
        self.lengths += episode_lengths
        self.recent_returns.extend(episode_returns)
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + value * chunk
        self.count += chunk
        if not trainer._row_due(updates, previous_env_steps, env_steps):
            return None
        returns, lengths = self.returns, self.lengths
        row = dict(
            env_steps=env_steps,
            updates=updates,
            wall_time_s=time.perf_counter() - self.started,
            episode_return_mean=float(np.mean(returns)) if returns else math.nan,
            episode_return_std=float(np.std(returns)) if returns else math.nan,
            episode_length_mean=float(np.mean(lengths)) if lengths else math.nan,
            episodes=len(returns),
            **{name: self.sums[name] / self.count for name in self.sums if name != "loss"},
        )
        self._since_row()
        return row
