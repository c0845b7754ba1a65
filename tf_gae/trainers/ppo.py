"""Proximal Policy Optimization with GAE (Schulman et al. 2017, arXiv:1707.06347). Introduced in chapter 5.

The GAE paper optimised its policy with TRPO; PPO replaced TRPO in practice and is where GAE is used
most today. Per rollout: GAE once with the collecting policy's values, then `n_epochs` passes over
shuffled minibatches (tf_gae.learner's one minibatch loop), each one compiled step of

    ρ_t(θ)   = π_θ(a_t|s_t) / π_old(a_t|s_t) = exp(log π_θ − log π_old)
    L^CLIP   = −mean_t[ min(ρ_t Â_t, clip(ρ_t, 1 − ε, 1 + ε) Â_t) ]        (PPO paper eq. 7)
    L^V      = mean_t[ (V_θ(s_t) − R^λ_t)² ]       or, with value clipping (ε_V > 0, as baselines' ppo2),
               mean_t[ max((V_θ − R^λ)², (V_old + clip(V_θ − V_old, −ε_V, ε_V) − R^λ)²) ]
    L        = L^CLIP + c_v L^V − c_e mean_t[H(π_θ(·|s_t))]

with Â standardised per minibatch (mask-aware, unchanged below two samples, never NaN). Logged:
approx_kl = mean[(ρ − 1) − log ρ] (an unbiased, non-negative KL(π_old‖π_θ) estimator, as SB3) and
clip_fraction = mean[|ρ − 1| > ε]. With `target_kl` > 0 the epochs stop at the first minibatch whose
approx_kl exceeds 1.5·target_kl, and that minibatch's step is not applied (as SB3).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from tf_gae import losses
from tf_gae._tf import tf
from tf_gae.advantages import normalize_advantages
from tf_gae.config import PPOConfig
from tf_gae.trainers.base import PROGRESS_COLUMNS, Trainer, explained_variance

__all__ = ["PPOConfig", "PPOTrainer"]


class PPOTrainer(Trainer):
    config_class = PPOConfig
    algo = "ppo"
    progress_columns = PROGRESS_COLUMNS + ["approx_kl", "clip_fraction", "learning_rate", "clip_range", "epochs"]

    @property
    def compiles_whole_call(self) -> bool:
        """One XLA program for the whole training call when every minibatch is full (minibatch_size divides
        the rollout): then each minibatch step has a static shape. A pass that ends in a smaller minibatch
        gives that minibatch a size known only when it runs, which XLA pads to minibatch_size, and the step
        would count the padding as samples (Learner.minibatch_epochs). Then the rollout and each minibatch
        step are XLA programs of their own, one per minibatch shape, called from TensorFlow's executor (a
        fixed few tenths of a millisecond per call)."""
        return self.config.steps_per_update % self.config.minibatch_size == 0

    def gradient_batch_sizes(self) -> list[int]:
        """Full minibatches of minibatch_size, and the rollout's remainder when minibatch_size does not divide it."""
        rollout = self.config.steps_per_update
        full = min(self.config.minibatch_size, rollout)
        return [full] + ([rollout % full] if rollout % full else [])

    @functools.cached_property
    def _minibatch_step(self) -> Callable[..., dict[str, tf.Tensor]]:
        # One XLA kernel per minibatch step: cheaper than TensorFlow's executor running its small ops.
        # (Not with a distribution strategy, whose cross-replica reductions XLA does not compile here.)
        return tf.function(self._minibatch_graph, jit_compile=self.strategy is None, autograph=False)

    _METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm", "loss")
    raw_metric_names = tuple(f"sum_{name}" for name in _METRICS) + (
        "steps", "epochs", "last_kl", "explained_variance", "learning_rate", "clip_range"
    )

    def _minibatch_graph(self, batch: dict[str, tf.Tensor], clip_range: tf.Tensor, kl_limit: tf.Tensor):
        """One PPO step on a minibatch: (its metrics, whether the epochs go on)."""
        config = self.config
        if config.normalize_advantages:  # over the minibatch, before any split over replicas
            batch = dict(batch, advantages=normalize_advantages(batch["advantages"]))  # < 2 samples: unchanged

        def ppo_loss(batch):
            distribution, values = self.model.policy_and_value(batch["observations"])
            log_probs = distribution.log_prob(batch["actions"])  # [M]
            return self.ppo_loss_terms(log_probs, distribution.entropy(), values, batch, clip_range)

        # The KL early stop: a minibatch whose approx_kl exceeds the limit is not applied, and the epochs end.
        # A NaN approx_kl is not a KL stop (NaN > limit is false): the step goes on to `Learner.step`, which
        # never applies a non-finite gradient, and the NaN reaches the metrics, which stop training with the
        # clear message.
        within_kl = lambda metrics: ~(metrics["approx_kl"] > kl_limit)  # noqa: E731
        loss, metrics, grad_norm, _ = self.learner.step(ppo_loss, batch, apply=within_kl)
        return dict(loss=loss, grad_norm=grad_norm, **metrics), within_kl(metrics)

    def ppo_loss_terms(
        self, log_probs: tf.Tensor, entropies: tf.Tensor, values: tf.Tensor, batch: dict[str, tf.Tensor],
        clip_range: tf.Tensor, axis: int | None = None,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """PPO's loss from the forward pass's log π_θ(a_t|s_t), entropies and V(s_t) [M] on a minibatch (its
        old log-probabilities, values, advantages and returns in `batch`), and its parts; with `axis`, one
        loss per slice along it (agents side by side: [A, M], axis=-1)."""
        config = self.config
        surrogate = losses.clipped_surrogate(log_probs, batch["log_probs"], batch["advantages"], clip_range, axis=axis)
        value_loss = losses.value_loss(values, batch["returns"], batch["values"], config.clip_range_value, axis=axis)
        entropy = losses.mean_entropy(entropies, axis=axis)
        loss = surrogate.loss + config.value_coef * value_loss - config.entropy_coef * entropy
        return loss, dict(
            policy_loss=surrogate.loss,
            value_loss=value_loss,
            entropy=entropy,
            approx_kl=surrogate.approx_kl,
            clip_fraction=surrogate.clip_fraction,
        )

    def _update_graph(self, rollout_tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        config = self.config
        learning_rate, clip_range, kl_limit = self.schedule(self.updates, self.hyperparameters["learning_rate"])
        self.optimizer.learning_rate.assign(learning_rate)
        batch = self.flat_batch(rollout_tensors)  # GAE once, with the collecting values
        dtype = batch["advantages"].dtype  # the model's float type
        clip_range, kl_limit = tf.cast(clip_range, dtype), tf.constant(kl_limit, dtype)
        epochs = self.learner.minibatch_epochs(  # n_epochs shuffled passes, one compiled step per minibatch
            lambda minibatch: self._minibatch_step(minibatch, clip_range, kl_limit),
            batch,
            n_epochs=config.n_epochs,
            minibatch_size=config.minibatch_size,
            metric_names=self._METRICS,
        )
        return self.update_metrics(epochs, explained_variance(batch["values"], batch["returns"]), learning_rate, clip_range)

    def schedule(self, updates: tf.Tensor, base_rate: tf.Tensor) -> tuple[tf.Tensor, float | tf.Tensor, float]:
        """(learning rate, clip range, KL limit) of the update after `updates` updates: SB3's linear
        annealing of the fraction of training still to come. `base_rate` is a variable (sweeps vary it;
        [A] for agents side by side)."""
        config = self.config
        remaining = 1.0 - tf.cast(updates, tf.float32) / config.num_updates
        learning_rate = tf.cast(base_rate, tf.float32) * (remaining if config.anneal_lr else 1.0)
        clip_range = config.clip_range * (remaining if config.anneal_clip else 1.0)
        kl_limit = 1.5 * config.target_kl if config.target_kl > 0 else float("inf")
        return learning_rate, clip_range, kl_limit

    def update_metrics(
        self, epochs: Any, explained: tf.Tensor, learning_rate: tf.Tensor, clip_range: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The raw metrics (`raw_metric_names`) of an update from its minibatch epochs."""
        return dict(
            **{f"sum_{name}": epochs.sums[name] for name in self._METRICS},
            steps=epochs.steps,
            epochs=epochs.epochs,
            last_kl=epochs.last["approx_kl"],
            explained_variance=explained,
            learning_rate=tf.cast(learning_rate, tf.float32),
            clip_range=tf.cast(clip_range, tf.float32),
        )

    finite_metric_names = ("loss", "grad_norm", "approx_kl")

    def finish_metrics(self, sums: dict[str, float], num_updates: int, updates: str) -> dict[str, float]:
        steps = round(sums["steps"])  # minibatch steps applied over the `num_updates` updates
        means = {
            name: sums[f"sum_{name}"] / steps if steps else float("nan") for name in self._METRICS
        }  # per minibatch step
        if steps == 0:  # every first minibatch exceeded the KL limit: nothing was applied
            means.update(loss=0.0, grad_norm=0.0, approx_kl=sums["last_kl"] / num_updates)
        self.check_finite(means, updates)
        for name in ("explained_variance", "learning_rate", "clip_range", "epochs"):
            means[name] = sums[name] / num_updates  # per update
        return means
