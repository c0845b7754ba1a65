"""The losses that turn advantages into gradients: pure functions of tensors. Introduced in chapter 5.

Every trainer builds its loss from these (the gym trainers, the language-model PPO, the multi-agent
PPO), so a loss is written once and tested once. Each takes optional `weights` of the same shape as
its per-sample terms: None gives the plain mean over samples; a 0/1 response mask gives the token mean
of language-model training; any non-negative weights give Σ w x / Σ w. Entries of weight 0 are never
read (NaN there is fine), and all-zero weights give 0, not NaN.

Notation: ρ_t = π_θ(a_t|s_t) / π_old(a_t|s_t); Â_t advantages (constants: `tf_gae.gae` stops their
gradient); R_t value targets; shapes are any `[...]`, the same for every per-sample argument.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tf_gae._tf import tf

__all__ = [
    "weighted_mean",
    "policy_gradient_loss",
    "SurrogateTerms",
    "clipped_surrogate",
    "value_loss",
    "mean_entropy",
    "KL_ESTIMATORS",
    "kl_from_log_ratio",
]

KL_ESTIMATORS = ("k1", "k2", "k3")


def weighted_mean(x: tf.Tensor, weights: Any = None, axis: int | None = None) -> tf.Tensor:
    """mean[x] over every entry (`weights` None), or Σ_i w_i x_i / Σ_i w_i over the entries with w_i ≠ 0.

    `x` [...] float; `weights` [...] bool or numbers ≥ 0 (a mask is the 0/1 case). Returns a scalar; with
    `axis`, the means along that axis (e.g. axis=-1 on [A, N]: one mean per agent of a sweep, [A]). Every
    function of this module takes `axis` in this sense.
    """
    if weights is None:
        return tf.reduce_mean(x, axis)
    weights = tf.cast(weights, x.dtype)  # [...]
    # Σ w x with w = 0 entries never read (tf.where, not a product: 0 · NaN is NaN)
    total = tf.reduce_sum(tf.where(weights != 0, x * weights, tf.zeros_like(x)), axis)
    return tf.math.divide_no_nan(total, tf.reduce_sum(weights, axis))  # / Σ w; 0 if every weight is 0


def policy_gradient_loss(
    log_probs: tf.Tensor, advantages: tf.Tensor, weights: Any = None, axis: int | None = None
) -> tf.Tensor:
    """The policy-gradient loss whose gradient is the GAE paper's estimator (eq. 1 with Â^{GAE(γ,λ)}):

        L^PG(θ) = −mean_t[ log π_θ(a_t|s_t) · Â_t ],   −∇_θ L^PG = mean_t[ ∇_θ log π_θ(a_t|s_t) Â_t ] = ĝ

    `log_probs` [...] differentiable; `advantages` [...] constants. A scalar.
    """
    return -weighted_mean(log_probs * advantages, weights, axis)


class SurrogateTerms(NamedTuple):
    loss: tf.Tensor  # L^CLIP, scalar
    clip_fraction: tf.Tensor  # share of samples with |ρ − 1| > ε, gradient-stopped
    approx_kl: tf.Tensor  # mean[(ρ − 1) − log ρ] ≈ KL(π_old ‖ π_θ), gradient-stopped


def clipped_surrogate(
    log_probs: tf.Tensor,
    old_log_probs: tf.Tensor,
    advantages: tf.Tensor,
    clip_range: float | tf.Tensor,
    weights: Any = None,
    axis: int | None = None,
) -> SurrogateTerms:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), with its two diagnostics:

        ρ_t      = exp(log π_θ(a_t|s_t) − log π_old(a_t|s_t))
        L^CLIP   = −mean_t[ min(ρ_t Â_t, clip(ρ_t, 1 − ε, 1 + ε) Â_t) ]
        approx_kl = mean_t[ (ρ_t − 1) − log ρ_t ]      (the k3 estimator of KL(π_old ‖ π_θ); ≥ 0, unbiased)
        clip_fraction = mean_t[ |ρ_t − 1| > ε ]

    The min(·) makes the objective pessimistic: once ρ has moved past 1 ± ε in the direction the
    advantage favours, the clipped term is constant and its gradient is zero. Arguments `[...]`; with `axis`,
    each term one per slice along it (agents side by side: [A, M], axis=-1).
    """
    log_ratio = log_probs - old_log_probs  # log ρ_t  [...]
    ratio = tf.exp(log_ratio)  # ρ_t
    unclipped = ratio * advantages
    clipped = tf.clip_by_value(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages
    loss = -weighted_mean(tf.minimum(unclipped, clipped), weights, axis)
    clip_fraction = weighted_mean(tf.cast(tf.abs(ratio - 1.0) > clip_range, log_probs.dtype), weights, axis)
    # samples come from π_old, so d = log π_old − log π_θ = −log ρ, and k3 = exp(−d) − 1 + d = (ρ − 1) − log ρ
    approx_kl = weighted_mean(kl_from_log_ratio(-log_ratio, "k3"), weights, axis)
    return SurrogateTerms(loss, tf.stop_gradient(clip_fraction), tf.stop_gradient(approx_kl))


def value_loss(
    values: tf.Tensor,
    returns: tf.Tensor,
    old_values: tf.Tensor | None = None,
    clip_range: float = 0.0,
    weights: Any = None,
    axis: int | None = None,
) -> tf.Tensor:
    """The critic's regression loss on the targets R_t (GAE's λ-returns, `returns` of `tf_gae.gae`):

        L^V = mean_t[ (V_φ(s_t) − R_t)² ]                                          (clip_range = 0)
        L^V = mean_t[ max((V_φ − R_t)², (V_old + clip(V_φ − V_old, −ε_V, ε_V) − R_t)²) ]   (ε_V > 0)

    The clipped form (OpenAI baselines' ppo2, SB3's `clip_range_vf`) keeps V near the values `old_values`
    that the advantages were computed with. `values` [...] differentiable; the rest [...] constants.
    """
    squared_error = tf.square(values - returns)  # (V − R)²
    if clip_range > 0:
        if old_values is None:
            raise ValueError("value_loss with clip_range > 0 needs old_values, the values the rollout recorded")
        clipped_values = old_values + tf.clip_by_value(values - old_values, -clip_range, clip_range)
        squared_error = tf.maximum(squared_error, tf.square(clipped_values - returns))
    return weighted_mean(squared_error, weights, axis)


def mean_entropy(entropies: tf.Tensor, weights: Any = None, axis: int | None = None) -> tf.Tensor:
    """mean_t[ H(π_θ(·|s_t)) ], the entropy bonus's term (the loss subtracts c_e times it). `entropies` [...]."""
    return weighted_mean(entropies, weights, axis)


def kl_from_log_ratio(log_ratio: tf.Tensor, estimator: str = "k1") -> tf.Tensor:
    """Per-sample estimators of KL(π ‖ π_ref) from d = log π(y) − log π_ref(y), y ~ π (elementwise):

        k1 = d                    unbiased, can be negative
        k2 = d² / 2               biased, low variance
        k3 = exp(−d) − 1 + d      unbiased and ≥ 0       (Schulman, "Approximating KL Divergence", 2020)

    Used for the language model's per-token KL penalty and, with d = −log ρ, for PPO's approx_kl.
    """
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * tf.square(log_ratio)
    if estimator == "k3":
        # expm1: in float32, exp(−d) − 1 + d loses the d²/2 it is made of to rounding (negative for |d| ~ 1e-3)
        return tf.math.expm1(-log_ratio) + log_ratio
    raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")
