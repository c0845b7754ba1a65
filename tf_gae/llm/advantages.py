"""Token-level GAE for language models: the advantage estimate of RLHF's PPO, on padded `[B, T]` batches.

PPO for language models (Ziegler et al. 2019, arXiv:1909.08593; Ouyang et al. 2022, "Training language
models to follow instructions with human feedback", the InstructGPT paper) treats generation as an
episode: the state s_t is the prompt plus the response tokens y_<t generated so far, the action a_t is
the next token y_t, and the episode ends with the last token of the response. There is no discounting
inside a response (γ = 1 by default). The rewards are sparse plus dense:

    r_t = −β KL_t + score · [t is the last valid token]

where `score` is the reward model's scalar judgement of the whole response and KL_t is a per-token
estimate of KL(π ‖ π_ref) that keeps the policy near the reference (SFT) model. With the log-ratio
d_t = log π(y_t | s_t) − log π_ref(y_t | s_t) of the sampled token, the estimators (J. Schulman,
"Approximating KL Divergence", 2020, http://joschu.net/blog/kl-approx.html) are

    k1: KL_t = d_t                       (unbiased, can be negative)
    k3: KL_t = exp(−d_t) − 1 + d_t       (unbiased, always ≥ 0: (ρ − 1) − log ρ with ρ = π_ref / π)

A value head V(s_t) gives one value per token, and token-level GAE is the paper's estimator run along the
response (Schulman et al. 2016, arXiv:1506.02438, eqs. 10 and 16):

    δ_t = r_t + γ V_{t+1} [t+1 is a valid token] − V_t
    Â_t = δ_t + γλ Â_{t+1}          (Â = 0 after the last valid token: the response ends there)
    R_t = Â_t + V_t                 (the value head's target)

A response has no cut inside it (the episode ends only at its last token) and δ = 0 on the padding after
it, so along a row Â_t = Σ_{j≥t} (γλ)^(j−t) δ_j is a plain discounted suffix sum. :func:`token_gae`
computes that sum with matrix products on blocks of 32 tokens (:func:`_discounted_suffix_sums`) in one
XLA-compiled call, instead of T sequential steps; rows that need it (a non-finite input, a mask that is
not right-padded) go to the library's own recursion, the kernel of :func:`tf_gae.gae`, which also defines
the results: the two agree to float rounding (tested against a float64 reference written from the
equations). At B = 64, T = 8192 this is ~1.7 ms against ~6.4 ms through :func:`tf_gae.gae` and ~150 ms
for the per-token PyTorch loop of RLHF libraries (`benchmarks/token_gae.py`).

Batches are RIGHT-padded: `response_mask[b]` is 1…1 0…0 (response tokens, then padding). Mask bugs this
module is written to avoid, each tested:

- the score added to the first padding token instead of the last response token (TRL issue #3750, where
  `sequence_lengths + 1` points one past EOS): the loss mask then zeroes the token that carries the
  score, and training never sees it. Here the score goes to index `sum(mask) − 1` of its row;
- padding leaking into valid tokens: values or rewards at padding positions (garbage, even NaN, from a
  value head run on pad tokens) bootstrapping the last valid token or flowing back through the
  recursion. They are replaced with `tf.where`, not multiplied by the mask (NaN · 0 is NaN);
- left padding or holes in the mask passed where right padding is assumed: refused with a ValueError;
- statistics (whitening) taken over padding entries: :func:`masked_mean` and :func:`masked_whiten` use
  the mask==1 entries only and stay finite with fewer than two of them.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

from tf_gae._tf import tf
from tf_gae.advantages import GAEOutput, _check_discount, _flag_input, _gae_recursion, _scalar, _to_tensor
from tf_gae.losses import kl_from_log_ratio

__all__ = [
    "score_rewards",
    "kl_penalty_rewards",
    "token_gae",
    "masked_mean",
    "masked_whiten",
    "KL_ESTIMATORS",
]

KL_ESTIMATORS = ("k1", "k3")
"""The per-token KL estimators :func:`kl_penalty_rewards` accepts."""

_FLOAT_DTYPES = (tf.float32, tf.float64)


# --------------------------------------------------------------------------------------------------
# Input checking at the boundary.
# --------------------------------------------------------------------------------------------------


def _float_tensor(x: Any, name: str, dtype: tf.DType | None = None) -> tf.Tensor:
    """A float32/float64 tensor; with `dtype`, cast to it (the first float argument sets the dtype)."""
    tensor = _to_tensor(x, name)
    if dtype is not None:
        if not tensor.dtype.is_floating:
            raise TypeError(f"{name} must be floats, got {tensor.dtype.name}; pass {name} as float32 or float64")
        return tf.cast(tensor, dtype) if tensor.dtype != dtype else tensor
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be float32 or float64, got {tensor.dtype.name}; cast it, e.g. tf.cast({name}, tf.float32)"
        )
    return tensor


def _check_batch_shapes(named: dict[str, tf.Tensor]) -> None:
    """Every tensor `[B, T]` with B, T ≥ 1 and the same shape as the first."""
    reference_name, reference = next(iter(named.items()))
    shape = reference.shape
    if shape.rank is not None and shape.rank != 2:
        raise ValueError(
            f"{reference_name} must have shape [B, T] (sequences × tokens), got {shape}; "
            f"for one sequence pass {reference_name}[None, :]"
        )
    for name, tensor in named.items():
        if not tensor.shape.is_compatible_with(shape):
            raise ValueError(
                f"{name} has shape {tensor.shape} but {reference_name} has shape {shape}; "
                "all per-token inputs must share one [B, T] shape"
            )
    for axis, what in enumerate(("sequences (B)", "tokens (T)")):
        if shape.rank == 2 and shape[axis] == 0:
            raise ValueError(f"{reference_name} has shape {shape}: need at least one of the {what}")


def _mask_input(response_mask: Any) -> tf.Tensor:
    """`response_mask` as a bool `[B, T]` tensor (from bool or 0/1 numbers)."""
    return _flag_input(response_mask, "response_mask")


def _check_right_padded(valid: tf.Tensor, is_right_padded: tf.Tensor) -> tf.Tensor:
    """Raise (eagerly) or assert (in a graph) that every row of the mask is 1…1 0…0; returns `valid`."""
    message = (
        "response_mask must be right-padded: each row 1…1 then 0…0 (response tokens, then padding); "
        "found a 1 after a 0. Left-padded batches: move the padding to the right (e.g. roll each row by its "
        "number of leading zeros) before computing rewards and advantages"
    )
    if hasattr(is_right_padded, "numpy"):  # eager: check now
        if not bool(is_right_padded.numpy()):
            raise ValueError(message)
        return valid
    with tf.control_dependencies([tf.debugging.Assert(is_right_padded, [message])]):
        return tf.identity(valid)


def _holes(valid: tf.Tensor) -> tf.Tensor:
    """Bool `[B, T]`: a valid token right after a padding position (never true in a right-padded mask)."""
    previous_valid = tf.concat([tf.ones_like(valid[:, :1]), valid[:, :-1]], axis=1)  # [B, T]; 1 before token 0
    return tf.logical_and(valid, tf.logical_not(previous_valid))


def _right_padded(valid: tf.Tensor) -> tf.Tensor:
    """Scalar bool: no row has a valid token after a padding position."""
    return tf.logical_not(tf.reduce_any(_holes(valid)))


def _last_token(valid: tf.Tensor) -> tf.Tensor:
    """Bool `[B, T]`: true at the last valid token of each row (index sum(mask) − 1), nowhere for empty rows."""
    lengths = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)  # [B]
    positions = tf.range(tf.shape(valid)[1])  # [T]
    return tf.equal(positions[None, :], lengths[:, None] - 1)  # [B, T]; length 0 → −1 matches nothing


def _checked_mask(response_mask: Any) -> tf.Tensor:
    valid = _mask_input(response_mask)
    _check_batch_shapes(dict(response_mask=valid))
    return _check_right_padded(valid, _right_padded(valid))


# --------------------------------------------------------------------------------------------------
# Rewards.
# --------------------------------------------------------------------------------------------------


def score_rewards(scores: Any, response_mask: Any) -> tf.Tensor:
    """Per-token rewards `[B, T]` holding each sequence's scalar score on its last valid token.

    reward[b, t] = scores[b] if t = sum(response_mask[b]) − 1, else 0.

    The score goes on the last response token (index sum(mask) − 1), never on the padding token after
    it (TRL issue #3750). A row with no valid token has nowhere to put its score: the score is dropped
    and the row is all zeros (a NaN score there does not propagate).

    Args:
      scores: the reward model's score per sequence, float32 or float64, shape `[B]`; sets the dtype.
      response_mask: bool or 0/1, shape `[B, T]`, right-padded (each row 1…1 0…0).

    Returns:
      float `[B, T]`, gradient-stopped.

    Raises:
      TypeError: scores not float32/float64, a mask that is neither bool nor numeric.
      ValueError: scores not `[B]` with the mask's B, a mask that is not `[B, T]`, not 0/1 or not
        right-padded.
    """
    scores = _float_tensor(scores, "scores")
    valid = _checked_mask(response_mask)
    if scores.shape.rank is not None and scores.shape.rank != 1:
        raise ValueError(f"scores must have shape [B] (one score per sequence), got {scores.shape}; squeeze it")
    if not scores.shape.is_compatible_with(valid.shape[:1]):
        raise ValueError(
            f"scores has shape {scores.shape} but response_mask has shape {valid.shape}; "
            "need one score per row of response_mask"
        )
    rewards = tf.where(_last_token(valid), scores[:, None], tf.zeros([], scores.dtype))  # [B, T]
    return tf.stop_gradient(rewards)


def _check_beta(beta: Any) -> Any:
    """β as a Python float ≥ 0 (or a symbolic scalar tensor, unchecked)."""
    if tf.is_symbolic_tensor(beta):
        if beta.shape.rank not in (None, 0):
            raise ValueError(f"beta must be a scalar ≥ 0, got a tensor of shape {beta.shape}")
        return beta
    if isinstance(beta, (tf.Tensor, tf.Variable)):
        beta = beta.numpy()
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or getattr(beta, "ndim", 0) != 0:
        raise ValueError(f"beta must be a real number ≥ 0 (the KL coefficient), got {beta!r}; pass e.g. beta=0.05")
    beta = float(beta)
    if not beta >= 0.0:  # also rejects NaN
        raise ValueError(f"beta must be ≥ 0 (the KL coefficient), got {beta}; pass e.g. beta=0.05")
    return beta


def kl_penalty_rewards(
    scores: Any,
    log_probs: Any,
    reference_log_probs: Any,
    response_mask: Any,
    *,
    beta: float,
    estimator: str = "k1",
) -> tuple[tf.Tensor, tf.Tensor]:
    """RLHF token rewards r_t = −β KL_t + score · [t is the last valid token], and the KL_t themselves.

    With d_t = log π(y_t) − log π_ref(y_t), the log-ratio of the sampled token:
      "k1": KL_t = d_t;   "k3": KL_t = exp(−d_t) − 1 + d_t (≥ 0)   (Schulman, "Approximating KL Divergence").
    Padding positions get KL 0 and reward 0, whatever the log-probs hold there (even NaN or −inf).

    Args:
      scores: reward-model score per sequence, `[B]`.
      log_probs: log π(y_t | s_t) of the sampled tokens under the policy, float32 or float64, `[B, T]`;
        sets the dtype of the outputs.
      reference_log_probs: log π_ref(y_t | s_t) under the reference model, `[B, T]`.
      response_mask: bool or 0/1 `[B, T]`, right-padded.
      beta: KL coefficient β ≥ 0.
      estimator: "k1" or "k3".

    Returns:
      `(rewards, kl)`, both `[B, T]` and gradient-stopped: these are data for the advantage estimate,
      not a loss. (For a differentiable KL loss term, compute it from the log-probs directly.)

    Raises:
      TypeError: non-float inputs.
      ValueError: shapes that disagree, a bad mask (see :func:`token_gae`), beta < 0 or not a number,
        an unknown estimator.
    """
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}; pass estimator='k1' or 'k3'")
    beta = _check_beta(beta)
    log_probs = _float_tensor(log_probs, "log_probs")
    dtype = log_probs.dtype
    reference_log_probs = _float_tensor(reference_log_probs, "reference_log_probs", dtype)
    valid = _mask_input(response_mask)
    _check_batch_shapes(dict(log_probs=log_probs, reference_log_probs=reference_log_probs, response_mask=valid))
    scores = tf.cast(_float_tensor(scores, "scores"), dtype)
    score_part = score_rewards(scores, valid)  # [B, T]; also checks right padding and the shape of scores

    zero = tf.zeros([], dtype)
    # d_t = log π(y_t) − log π_ref(y_t), 0 on padding (where, not a product: the padding may hold NaN/inf)
    log_ratio = tf.where(valid, log_probs - reference_log_probs, zero)  # [B, T]
    kl = tf.where(valid, kl_from_log_ratio(log_ratio, estimator), zero)  # k1: d_t; k3: exp(−d_t) − 1 + d_t
    # r_t = −β KL_t + score · [t is the last valid token]
    rewards = tf.where(valid, -_scalar(beta, dtype) * kl + score_part, zero)
    return tf.stop_gradient(rewards), tf.stop_gradient(kl)


# --------------------------------------------------------------------------------------------------
# Token-level GAE.
# --------------------------------------------------------------------------------------------------


SUFFIX_SUM_BLOCK = 32
"""Tokens per block of :func:`_discounted_suffix_sums`' matrix products (a [32, 32] discount matrix)."""


def _discount_matrix(discount: tf.Tensor, size: int) -> tf.Tensor:
    """`[size, size]` with entry [j, i] = discount^(j − i) for j ≥ i and 0 above: x @ it sums x_j forward of i."""
    positions = tf.range(size)
    steps = positions[:, None] - positions[None, :]  # j − i, [size, size]
    powers = tf.pow(discount, tf.cast(tf.maximum(steps, 0), discount.dtype))  # discount^(j − i); 0^0 = 1
    return tf.where(steps >= 0, powers, tf.zeros([], discount.dtype))


def _levels_for(num_tokens: int | None) -> int:
    """How many block levels cover `num_tokens` tokens: the least n with SUFFIX_SUM_BLOCK^n ≥ T."""
    if num_tokens is None:  # unknown until run time (a graph with a None length): up to 32^5 = 33.5M tokens
        return 5
    levels, covered = 1, SUFFIX_SUM_BLOCK
    while covered < num_tokens:
        levels, covered = levels + 1, covered * SUFFIX_SUM_BLOCK
    return levels


def _discounted_suffix_sums(x: tf.Tensor, discount: tf.Tensor, levels: int, top: bool = True) -> tf.Tensor:
    """S_t = Σ_{j≥t} discount^(j−t) x_j along each row of `x` `[R, T]`, with no cut inside a row.

    This is Â_t = δ_t + γλ Â_{t+1} for a response (discount = γλ, x = δ, 0 after its end) written as
    matrix products instead of T sequential steps. The row is cut into blocks of K = SUFFIX_SUM_BLOCK
    tokens; for token i of block k (t = kK + i):

        S_t = Σ_{j=i}^{K−1} discount^(j−i) x_{kK+j}  +  discount^(K−i) S_{(k+1)K}
              (within the block: x_block @ the discount matrix)  (what comes after the block)

    and the block starts S_{kK} are themselves the suffix sums of the within-block sums at i = 0 with
    discount^K: the same function one level up, on a T/K times shorter row. `levels` (static) must
    satisfy K^levels ≥ T. Runs inside a compiled function; `x` float32/float64, `discount` a scalar of
    its dtype. The result equals the recursion up to float rounding relative to the row's scale: the
    products' summation order may depend on the number of rows (so a row's last bits can), and a term whose
    weight discount^(j−i) falls below the smallest normal float is dropped (XLA flushes subnormals), which
    matters only when |x_j| is within a few powers of ten of the largest float. A non-finite x_j makes its
    whole row non-finite here (0 · NaN = NaN in the products), unlike the recursion, so callers check.
    `top=False` is for the levels above, see the end.
    """
    rows, num_tokens = tf.shape(x)[0], tf.shape(x)[1]
    block = SUFFIX_SUM_BLOCK
    num_blocks = (num_tokens + block - 1) // block
    padded = tf.pad(x, [[0, 0], [0, num_blocks * block - num_tokens]])  # zeros after the end add nothing
    blocks = tf.reshape(padded, [rows * num_blocks, block])  # [R·n, K]
    within_matrix = _discount_matrix(discount, block)  # [K, K]
    if levels == 1:  # one block (K^levels ≥ T): nothing comes after it
        return tf.reshape(tf.matmul(blocks, within_matrix), [rows, block])[:, :num_tokens]
    within = tf.matmul(blocks, within_matrix)  # [R·n, K]: Σ_{j≥i} d^(j−i) x_j inside each block
    # S at each block start, [R, n]: the block-start sums, discounted by discount^K per block.
    starts = _discounted_suffix_sums(
        tf.reshape(within[:, 0], [rows, num_blocks]), tf.pow(discount, block), levels - 1, top=False
    )
    after = tf.concat([starts[:, 1:], tf.zeros_like(starts[:, :1])], axis=1)  # S_{(k+1)K}, 0 for the last
    decay = tf.pow(discount, tf.cast(block - tf.range(block), x.dtype))  # discount^(K − i), [K]
    if top:  # S = within + after · decay, left for XLA to fuse with what the caller does next
        sums = within + tf.reshape(after, [-1, 1]) * decay  # [R·n, K]
    else:  # a level above: the same sum as one small product [within | after] @ [I; decay], so that XLA
        # keeps it as an array instead of fusing it, index arithmetic and all, into every token below
        sums = tf.matmul(tf.concat([within, tf.reshape(after, [-1, 1])], axis=1),
                         tf.concat([tf.eye(block, dtype=x.dtype), decay[None, :]], axis=0))  # [R·n, K]
    return tf.reshape(sums, [rows, num_blocks * block])[:, :num_tokens]


def _episode_inputs(rewards: tf.Tensor, values: tf.Tensor, valid: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """Rewards, values and V_{t+1}·[t+1 valid] `[B, T]` with padding zeroed. Runs inside compiled functions."""
    zero = tf.zeros([], rewards.dtype)
    rewards = tf.where(valid, rewards, zero)  # padding garbage (even NaN) replaced with tf.where, not multiplied
    values = tf.where(valid, values, zero)
    # V_{t+1}: the next token's value, 0 after the last valid token (padding values are 0 now).
    next_values = tf.concat([values[:, 1:], tf.zeros_like(values[:, :1])], axis=1)
    return rewards, values, next_values


def _build_token_gae_kernel(dtype: tf.DType, levels: int) -> Callable:
    series = tf.TensorSpec([None, None], dtype)
    flags = tf.TensorSpec([None, None], tf.bool)
    scalar = tf.TensorSpec([], dtype)

    @tf.function(jit_compile=True, input_signature=[series, series, flags, scalar, scalar])
    def token_gae_kernel(rewards, values, valid, gamma, lambda_):
        """(advantages, returns, rows to check) for right-padded responses `[B, T]`, in one compiled call.

        A row is flagged (False in the third output) when its Â came out non-finite: a NaN or ±inf among
        its valid rewards or values, an overflow, or a valid token after a padding position (not right-
        padded), which poisons δ with NaN here so that one cheap test over [B] guards both. Flagged rows
        go to :func:`_checked_recursion_rows`; the others are final.
        """
        zero = tf.zeros([], dtype)
        clean_rewards, clean_values, next_values = _episode_inputs(rewards, values, valid)
        deltas = clean_rewards + gamma * next_values - clean_values  # δ_t = r_t + γ V_{t+1} − V_t; 0 on padding
        deltas = tf.where(_holes(valid), tf.constant(float("nan"), dtype), deltas)  # flags the row for the check
        # A response has no cut inside it and δ = 0 after it, so Â_t = Σ_{j≥t} (γλ)^(j−t) δ_j along the row.
        advantages = _discounted_suffix_sums(deltas, gamma * lambda_, levels)  # [B, T]
        # Â at token 0 weighs every δ of its row: it is non-finite exactly when one of them is (or on overflow).
        finite_rows = tf.math.is_finite(advantages[:, 0])  # [B]
        advantages = tf.where(valid, advantages, zero)  # exactly 0 on padding
        returns = tf.where(valid, advantages + values, zero)  # R_t = Â_t + V_t; 0 on padding
        return tf.stop_gradient(advantages), tf.stop_gradient(returns), finite_rows

    return token_gae_kernel


_TOKEN_GAE_KERNELS: dict[tuple[tf.DType, int], Callable] = {}


def _token_gae_kernel(dtype: tf.DType, num_tokens: int | None) -> Callable:
    """The compiled kernel for this dtype and row length: one trace per number of block levels."""
    key = (dtype, _levels_for(num_tokens))
    if key not in _TOKEN_GAE_KERNELS:
        # The concrete function skips tf.function's argument dispatch (~0.2 ms a call).
        _TOKEN_GAE_KERNELS[key] = _build_token_gae_kernel(*key).get_concrete_function()
    return _TOKEN_GAE_KERNELS[key]


@tf.function(jit_compile=True)
def _recursion_rows(rewards, values, valid, gamma, lambda_, finite_rows, advantages, returns):
    """Flagged rows recomputed by the library's recursion (tf_gae.gae's kernel), the others kept as they are.

    The matrix products give a row with a non-finite δ NaN everywhere (0 · NaN = NaN); the recursion lets a
    NaN or ±inf reach only its own and earlier tokens, as :func:`tf_gae.gae` promises.
    """
    clean_rewards, clean_values, next_values = _episode_inputs(rewards, values, valid)
    # The last valid token is terminal (no bootstrap) and so is every padding position: nothing crosses.
    terminated = tf.logical_not(tf.concat([valid[:, 1:], tf.zeros_like(valid[:, :1])], axis=1))
    time_major = [tf.transpose(x) for x in (clean_rewards, clean_values, next_values, terminated)]  # [T, B]
    exact, _ = _gae_recursion(*time_major, tf.zeros_like(time_major[3]), gamma, lambda_)
    zero = tf.zeros([], rewards.dtype)
    exact = tf.where(valid, tf.transpose(exact), zero)  # [B, T]
    keep = finite_rows[:, None]
    return tf.where(keep, advantages, exact), tf.where(keep, returns, tf.where(valid, exact + values, zero))


def _checked_recursion_rows(rewards, values, valid, gamma, lambda_, finite_rows, advantages, returns):
    """The slow path for flagged rows: first the right-padding check (raise or assert), then the recursion."""
    valid = _check_right_padded(valid, _right_padded(valid))
    # Data, not a loss: stopping the gradient here also keeps a watching gradient tape from asking XLA for a
    # differentiable version of the recursion (its TensorArray has no fixed size there, and XLA refuses it).
    data = [tf.stop_gradient(x) for x in (rewards, values, gamma, lambda_, finite_rows, advantages, returns)]
    rewards, values, gamma, lambda_, finite_rows, advantages, returns = data
    return _recursion_rows(rewards, values, valid, gamma, lambda_, finite_rows, advantages, returns)


def token_gae(
    rewards: Any,
    values: Any,
    response_mask: Any,
    *,
    gamma: float = 1.0,
    lambda_: float = 0.95,
) -> GAEOutput:
    """Token-level GAE(γ, λ) over right-padded responses, batch-major `[B, T]`.

    δ_t = r_t + γ V_{t+1} [t+1 valid] − V_t,   Â_t = δ_t + γλ Â_{t+1} over the valid tokens,
    R_t = Â_t + V_t.

    The last valid token of each row is terminal (bootstrap value 0 after it). Padding positions get
    Â = 0 and R = 0 exactly; an all-padding row is all zeros; a one-token response has Â = r − V.
    Rewards and values at padding positions are never read (they may hold anything, NaN included).
    One compiled call computes Â as a discounted suffix sum of δ with matrix products (see the module
    docstring); a row with a NaN or ±inf among its valid inputs is recomputed with the recursion of
    :func:`tf_gae.gae`, so that the bad value reaches only its own and earlier tokens, as there.
    Results equal :func:`tf_gae.gae` on the same inputs up to float rounding relative to each row's scale
    (near the largest float, an overflow to ±inf can land on other tokens than the recursion's).

    Args:
      rewards: r_t, float32 or float64, `[B, T]` (e.g. from :func:`kl_penalty_rewards`); sets the dtype.
      values: V(s_t) from the value head, `[B, T]`.
      response_mask: bool or 0/1 `[B, T]`, right-padded: each row 1…1 then 0…0.
      gamma: discount γ in [0, 1]; 1 (no discounting within a response) is the RLHF convention.
      lambda_: GAE λ in [0, 1].

    Returns:
      `GAEOutput(advantages, returns)`, each `[B, T]`, gradient-stopped.

    Raises:
      TypeError: rewards not float32/float64, values not float, a mask that is neither bool nor numeric.
      ValueError: shapes other than a common `[B, T]`, a mask that is not 0/1 or not right-padded (inside
        a `tf.function` the right-padding check is a graph assertion: InvalidArgumentError at run time),
        gamma or lambda_ outside [0, 1].
    """
    gamma = _check_discount(gamma, "gamma")
    lambda_ = _check_discount(lambda_, "lambda_")
    rewards = _float_tensor(rewards, "rewards")
    dtype = rewards.dtype
    values = _float_tensor(values, "values", dtype)
    valid = _mask_input(response_mask)
    _check_batch_shapes(dict(rewards=rewards, values=values, response_mask=valid))

    kernel = _token_gae_kernel(dtype, rewards.shape[1])
    discounts = _scalar(gamma, dtype), _scalar(lambda_, dtype)
    advantages, returns, finite_rows = kernel(rewards, values, valid, *discounts)
    slow_path_inputs = (rewards, values, valid, *discounts, finite_rows, advantages, returns)
    if tf.is_symbolic_tensor(advantages):  # in a graph: both paths as a tf.cond
        advantages, returns = tf.cond(
            tf.reduce_all(finite_rows), lambda: (advantages, returns), lambda: _checked_recursion_rows(*slow_path_inputs)
        )
    elif not finite_rows.numpy().all():  # eager: the slow path only when a row is flagged
        advantages, returns = _checked_recursion_rows(*slow_path_inputs)
    return GAEOutput(advantages, returns)


# --------------------------------------------------------------------------------------------------
# Masked statistics.
# --------------------------------------------------------------------------------------------------


def _masked_inputs(x: Any, mask: Any) -> tuple[tf.Tensor, tf.Tensor]:
    x = _float_tensor(x, "x")
    valid = _flag_input(mask, "mask")
    if not valid.shape.is_compatible_with(x.shape):
        raise ValueError(f"mask has shape {valid.shape} but x has shape {x.shape}; pass one mask entry per entry of x")
    return x, valid


def _masked_moments(x: tf.Tensor, valid: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(n, mean, biased variance) over the valid entries; mean and variance 0 when n = 0."""
    zero = tf.zeros([], x.dtype)
    count = tf.reduce_sum(tf.cast(valid, x.dtype))  # n = Σ m_i
    safe_count = tf.maximum(count, 1.0)
    kept = tf.where(valid, x, zero)  # padding may hold NaN: replaced, not multiplied
    mean = tf.reduce_sum(kept) / safe_count  # mean = Σ m_i x_i / n
    centered = tf.where(valid, x - mean, zero)
    variance = tf.reduce_sum(centered * centered) / safe_count  # var = Σ m_i (x_i − mean)² / n
    return count, mean, variance


def masked_mean(x: Any, mask: Any) -> tf.Tensor:
    """The mean of `x` over the entries where `mask` is 1: Σ m_i x_i / Σ m_i, a scalar.

    Entries outside the mask are never read (NaN there is fine). An empty mask gives 0, not NaN.
    `x` is float32/float64 of any shape; `mask` is bool or 0/1 of the same shape.
    """
    x, valid = _masked_inputs(x, mask)
    return _masked_moments(x, valid)[1]


def masked_whiten(x: Any, mask: Any, *, shift_mean: bool = True, epsilon: float = 1e-8) -> tf.Tensor:
    """(x − mean) / sqrt(var + ε) over the mask==1 entries; padding outputs 0. Shape of `x`, e.g. `[B, T]`.

    mean = Σ m_i x_i / n and var = Σ m_i (x_i − mean)² / n, the biased (population) variance, over the
    n valid entries only. Biased, so that the whitened valid entries have population standard deviation
    1 (`np.std`); TRL's `masked_whiten` uses the unbiased (n − 1) variance and
    :func:`tf_gae.normalize_advantages` the unbiased standard deviation. At RLHF token counts the two
    differ by a factor sqrt(n / (n − 1)) ≈ 1.

    `shift_mean=False` adds the mean back, (x − mean)/sqrt(var + ε) + mean: the scale is normalised and
    the mean kept, as TRL does for rewards. With fewer than two valid entries there is no spread to
    divide by: the valid entries become x − mean (x itself if `shift_mean=False`), never NaN.

    Raises:
      TypeError: x not float32/float64, mask neither bool nor numeric.
      ValueError: mask of another shape or not 0/1, epsilon negative.
    """
    x, valid = _masked_inputs(x, mask)
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon >= 0:
        raise ValueError(f"epsilon must be a number ≥ 0, got {epsilon!r}; pass e.g. epsilon=1e-8")
    count, mean, variance = _masked_moments(x, valid)
    centered = x - mean
    denominator = variance + _scalar(float(epsilon), x.dtype)  # var + ε; 0 only for ε = 0 and constant x
    inverse_std = tf.where(denominator > 0.0, tf.math.rsqrt(denominator), tf.ones([], x.dtype))
    # whitened = (x − mean) / sqrt(var + ε); with n < 2 only the centring applies
    whitened = tf.where(count >= 2.0, centered * inverse_std, centered)
    if not shift_mean:
        whitened = whitened + mean
    return tf.where(valid, whitened, tf.zeros([], x.dtype))
