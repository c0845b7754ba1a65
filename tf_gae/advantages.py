"""Generalized Advantage Estimation (GAE) and its relatives. Introduced in chapters 2-4.

Reference: J. Schulman, P. Moritz, S. Levine, M. I. Jordan, P. Abbeel, "High-Dimensional Continuous
Control Using Generalized Advantage Estimation", ICLR 2016, arXiv:1506.02438 (the "GAE paper").

Notation (the paper's, with explicit episode flags):

    δ_t   = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)                        (paper eq. 10)
    Â_t   = Σ_{l≥0} (γλ)^l δ_{t+l}, the sum stopping where the episode ends          (paper eq. 16)
          = δ_t + γλ (1 − terminated_t)(1 − truncated_t) Â_{t+1}                   (the recursion used here)
    R^λ_t = Â_t + V(s_t)                                                            (the λ-return, the value target)

`values[t]` is V(s_t) and `next_values[t]` is V(s_{t+1}) for the observation that step t produced; for a
time-limit truncation that is the final observation of the episode, not the first one of the next.
A terminated step does not bootstrap (its `next_values` entry is never read); a truncated step
bootstraps from its `next_values` entry but no advantage flows back across it. The step after the last
counts as cut, so a rollout that stops mid-episode bootstraps from `next_values[T-1]`.

Special cases: λ = 0 gives Â_t = δ_t (one-step TD error: low variance, biased by V's error);
λ = 1 gives Â_t = Σ γ^l r_{t+l} + γ^n V(s_{t+n}) − V(s_t) (bootstrapped discounted return minus V: unbiased
for the given bootstrap, high variance).

Non-finite inputs (NaN, ±inf) are not rejected: they make non-finite exactly the outputs whose equation
uses them, that is the same step and the earlier steps of the same episode. Nothing crosses an episode
boundary (a `where`, not a multiplication by zero, drops the carried advantage), and `next_values` at a
terminated step is never read, so NaN is a valid placeholder there.

Shapes: every array is `[T]` or `[T, B]` (time-major; `[B, T]` with `time_major=False`).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple

import numpy as np

from tf_gae._tf import tf

__all__ = [
    "GAEOutput",
    "gae",
    "td_residuals",
    "lambda_returns",
    "discounted_returns",
    "normalize_advantages",
]

_FLOAT_DTYPES = (tf.float32, tf.float64)


class GAEOutput(NamedTuple):
    """What :func:`gae` returns; both fields are gradient-stopped and shaped like `rewards`."""

    advantages: tf.Tensor
    """Â_t, the GAE(γ, λ) advantage estimate."""
    returns: tf.Tensor
    """R^λ_t = Â_t + V(s_t), the λ-return: the regression target for the value function."""


# --------------------------------------------------------------------------------------------------
# Input checking at the boundary: once, with messages that name the argument and the fix.
# --------------------------------------------------------------------------------------------------


def _check_discount(value: Any, name: str) -> Any:
    """Return `value` as a Python float in [0, 1], or a symbolic scalar tensor unchanged."""
    if tf.is_symbolic_tensor(value):
        if value.shape.rank not in (None, 0):
            raise ValueError(f"{name} must be a scalar in [0, 1], got a tensor of shape {value.shape}")
        return value  # symbolic: checked by the caller's own graph, if at all
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}")
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be a scalar in [0, 1], got an array of shape {array.shape}")
    number = float(array)
    if not 0.0 <= number <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1], got {number}; pass e.g. {name}=0.99")
    return number


def _scalar(number: Any, dtype: tf.DType) -> tf.Tensor:
    """A scalar of `dtype`; `tf.cast` of a Python float would round it through float32 first."""
    if isinstance(number, float):
        return tf.constant(number, dtype)
    return tf.cast(number, dtype)


def _to_tensor(x: Any, name: str) -> tf.Tensor:
    if isinstance(x, tf.Variable):
        return tf.convert_to_tensor(x)
    if isinstance(x, tf.Tensor):
        return x
    array = np.asarray(x)
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(f"{name} must be a numeric array or tensor, got dtype {array.dtype}")
    return tf.convert_to_tensor(array)


def _float_input(x: Any, name: str, dtype: tf.DType | None) -> tf.Tensor:
    """A float tensor; `dtype=None` means this is `rewards`, whose dtype sets everyone else's."""
    tensor = _to_tensor(x, name)
    if not tensor.dtype.is_floating:
        fix = "cast it, e.g. rewards.astype(np.float32)" if name == "rewards" else f"pass {name} as floats"
        raise TypeError(f"{name} must be float32 or float64, got {tensor.dtype.name}; {fix}")
    if dtype is None:
        if tensor.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"rewards must be float32 or float64, got {tensor.dtype.name}; cast it to float32")
        return tensor
    return tf.cast(tensor, dtype) if tensor.dtype != dtype else tensor


def _flag_input(x: Any, name: str) -> tf.Tensor:
    """A bool tensor from bool or 0/1 numeric flags."""
    tensor = _to_tensor(x, name)
    if tensor.dtype == tf.bool:
        return tensor
    if not (tensor.dtype.is_integer or tensor.dtype.is_floating):
        raise TypeError(f"{name} must be bool or 0/1 numbers, got dtype {tensor.dtype.name}")
    is_binary = tf.reduce_all((tensor == 0) | (tensor == 1))
    if hasattr(is_binary, "numpy"):  # eager: check now
        if not bool(is_binary.numpy()):
            bad = tf.boolean_mask(tensor, ~((tensor == 0) | (tensor == 1)))[0].numpy()
            raise ValueError(f"{name} must hold only 0/1 (or bool) flags, found {bad!r}; pass a bool array")
        return tensor != 0
    with tf.control_dependencies(
        [tf.debugging.Assert(is_binary, [f"{name} must hold only 0/1 (or bool) flags"])]
    ):
        return tf.identity(tensor != 0)


def _check_shapes(named: dict[str, tf.Tensor], time_major: bool) -> tf.TensorShape:
    reference_name, reference = next(iter(named.items()))
    shape = reference.shape
    if shape.rank is not None and shape.rank not in (1, 2):
        layout = "[T, B]" if time_major else "[B, T]"
        raise ValueError(f"{reference_name} must have shape [T] or {layout}, got rank {shape.rank}: {shape}")
    for name, tensor in named.items():
        if not tensor.shape.is_compatible_with(shape):
            raise ValueError(
                f"{name} has shape {tensor.shape} but {reference_name} has shape {shape}; "
                "all inputs must share one shape"
            )
    time_axis = 0 if (time_major or shape.rank == 1) else 1
    for axis, dim in enumerate(shape):
        if dim == 0:
            what = "time steps (T)" if axis == time_axis else "environments (B)"
            raise ValueError(f"{reference_name} has shape {shape}: need at least one of the {what}")
    return shape


def _prepare(rewards, values, next_values, terminated, truncated, time_major):
    rewards = _float_input(rewards, "rewards", None)
    dtype = rewards.dtype
    values = _float_input(values, "values", dtype)
    next_values = _float_input(next_values, "next_values", dtype)
    terminated = _flag_input(terminated, "terminated")
    truncated = tf.zeros_like(terminated) if truncated is None else _flag_input(truncated, "truncated")
    named = dict(
        rewards=rewards, values=values, next_values=next_values, terminated=terminated, truncated=truncated
    )
    _check_shapes(named, time_major)
    return named


# --------------------------------------------------------------------------------------------------
# The compiled kernel.
# --------------------------------------------------------------------------------------------------


def _gae_recursion(rewards, values, next_values, terminated, truncated, gamma, lambda_):
    """The backward recursion on time-major `[T, B]` tensors. Runs inside the compiled kernel."""
    num_steps = tf.shape(rewards)[0]
    zero = tf.zeros_like(rewards[0])  # [B]
    gamma_lambda = gamma * lambda_

    def step(t, next_advantage, advantages):
        terminal = terminated[t]  # [B]
        # δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)
        delta = rewards[t] + tf.where(terminal, zero, gamma * next_values[t]) - values[t]
        # Â_t = δ_t + γλ (1 − terminated_t)(1 − truncated_t) Â_{t+1}
        continues = tf.logical_not(tf.logical_or(terminal, truncated[t]))
        advantage = delta + tf.where(continues, gamma_lambda * next_advantage, zero)
        return t - 1, advantage, advantages.write(t, advantage)

    advantages = tf.TensorArray(rewards.dtype, size=num_steps, element_shape=rewards.shape[1:])
    # Â_T = 0: the step after the last counts as cut.
    _, _, advantages = tf.while_loop(lambda t, *_: t >= 0, step, (num_steps - 1, zero, advantages))
    advantages = advantages.stack()  # [T, B]
    returns = advantages + values  # R^λ_t = Â_t + V(s_t)
    return advantages, returns


def _build_kernel(dtype: tf.DType, time_major: bool) -> Callable:
    series = tf.TensorSpec([None, None], dtype)
    flags = tf.TensorSpec([None, None], tf.bool)
    scalar = tf.TensorSpec([], dtype)

    @tf.function(jit_compile=True, input_signature=[series, series, series, flags, flags, scalar, scalar])
    def gae_kernel(rewards, values, next_values, terminated, truncated, gamma, lambda_):
        inputs = (rewards, values, next_values, terminated, truncated)
        if not time_major:  # [B, T] -> [T, B]; XLA fuses the transposes into the loop's reads.
            inputs = tuple(tf.transpose(x) for x in inputs)
        advantages, returns = _gae_recursion(*inputs, gamma, lambda_)
        if not time_major:
            advantages, returns = tf.transpose(advantages), tf.transpose(returns)
        # Targets and advantages never carry gradients back into the value function.
        return tf.stop_gradient(advantages), tf.stop_gradient(returns)

    return gae_kernel


_KERNELS: dict[tuple[tf.DType, bool], tuple[Callable, Callable]] = {}


def _kernel(dtype: tf.DType, time_major: bool) -> Callable:
    """The one compiled kernel (a `tf.function`) for this dtype and layout, traced once for every T and B."""
    return _kernel_and_concrete(dtype, time_major)[0]


def _kernel_and_concrete(dtype: tf.DType, time_major: bool) -> tuple[Callable, Callable]:
    key = (dtype, bool(time_major))
    if key not in _KERNELS:
        function = _build_kernel(dtype, bool(time_major))
        # Calling the concrete function skips tf.function's argument dispatch (~0.2 ms a call).
        _KERNELS[key] = (function, function.get_concrete_function())
    return _KERNELS[key]


def gae(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any = None,
    *,
    gamma: float = 0.99,
    lambda_: float = 0.95,
    time_major: bool = True,
) -> GAEOutput:
    """Generalized Advantage Estimation, GAE(γ, λ) (Schulman et al. 2016, eq. 16). Chapters 2-4.

    Â_t = Σ_{l≥0} (γλ)^l δ_{t+l},   δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t),
    computed backwards as Â_t = δ_t + γλ (1 − terminated_t)(1 − truncated_t) Â_{t+1}, with Â_T = 0.

    Args:
      rewards: r_t, float32 or float64, shape `[T]` or `[T, B]` (`[B, T]` if `time_major=False`).
        Its dtype is the dtype of the outputs.
      values: V(s_t), same shape.
      next_values: V(s_{t+1}) for the observation step t produced (the final observation, for a
        time-limit truncation), same shape. Not read where `terminated` is set.
      terminated: bool or 0/1, same shape: step t reached a terminal state (no bootstrap).
      truncated: bool or 0/1, same shape, or None (no truncations): the episode was cut after step t
        without a terminal state; it bootstraps from `next_values[t]` and nothing flows back across it.
      gamma: discount γ in [0, 1].
      lambda_: GAE parameter λ in [0, 1]; 0 gives δ_t, 1 the discounted return minus V.
      time_major: True for `[T, B]`, False for `[B, T]`.

    Returns:
      `GAEOutput(advantages, returns)`, each shaped like `rewards`, gradient-stopped;
      `returns` = `advantages` + `values` is the λ-return.

    Raises:
      TypeError: integer or non-numeric rewards, values or flags of the wrong kind.
      ValueError: shapes that disagree, rank other than 1 or 2, T = 0 or B = 0, flags other than 0/1,
        gamma or lambda_ outside [0, 1].
    """
    gamma = _check_discount(gamma, "gamma")
    lambda_ = _check_discount(lambda_, "lambda_")
    named = _prepare(rewards, values, next_values, terminated, truncated, time_major)
    dtype = named["rewards"].dtype
    rank = named["rewards"].shape.rank
    inputs = list(named.values())
    if rank == 1:  # [T] -> [T, 1]: the time-major kernel serves both ranks.
        inputs = [tf.reshape(x, [-1, 1]) for x in inputs]
    _, kernel = _kernel_and_concrete(dtype, time_major or rank == 1)
    advantages, returns = kernel(*inputs, _scalar(gamma, dtype), _scalar(lambda_, dtype))  # stop-gradient'ed
    if rank == 1:
        advantages, returns = tf.reshape(advantages, [-1]), tf.reshape(returns, [-1])
    return GAEOutput(advantages, returns)


def lambda_returns(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any = None,
    *,
    gamma: float = 0.99,
    lambda_: float = 0.95,
    time_major: bool = True,
) -> tf.Tensor:
    """The λ-return R^λ_t = Â_t + V(s_t) (Sutton & Barto §12.1), the value target of PPO's implementations and
    of this package's trainers. (The GAE paper fits V to discounted Monte-Carlo returns with a trust region,
    eqs. 28–30, and names λ-return targets only in a footnote; its eq. 18 is GAE(γ, 1).) Chapter 4.

    Same arguments as :func:`gae`; returns `gae(...).returns`.
    """
    return gae(
        rewards, values, next_values, terminated, truncated, gamma=gamma, lambda_=lambda_, time_major=time_major
    ).returns


def td_residuals(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    *,
    gamma: float = 0.99,
) -> tf.Tensor:
    """TD residuals δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t) (GAE paper eq. 10). Chapter 2.

    Elementwise, so any layout works; shapes and dtypes as in :func:`gae`. Gradient-stopped.
    """
    gamma = _check_discount(gamma, "gamma")
    named = _prepare(rewards, values, next_values, terminated, None, True)
    rewards, values, next_values, terminated = (tf.stop_gradient(named[k]) for k in list(named)[:4])
    bootstrap = tf.where(terminated, tf.zeros_like(next_values), _scalar(gamma, rewards.dtype) * next_values)
    return tf.stop_gradient(rewards + bootstrap - values)


def discounted_returns(
    rewards: Any,
    terminated: Any,
    truncated: Any = None,
    bootstrap_values: Any = None,
    *,
    gamma: float = 0.99,
    time_major: bool = True,
) -> tf.Tensor:
    """Discounted returns G_t = r_t + γ G_{t+1} within each episode, bootstrapped where it is cut. Chapter 4.

    G_t = r_t                               where terminated_t,
    G_t = r_t + γ bootstrap_values_t        where the episode is cut after t (truncated_t, or t = T−1),
    G_t = r_t + γ G_{t+1}                   otherwise.

    `bootstrap_values` is shaped like `rewards` and read only where the episode is cut without
    termination (None: zeros, i.e. plain Monte-Carlo returns of the observed rewards). Gradient-stopped.
    """
    reward_tensor = _float_input(rewards, "rewards", None)
    flags = _flag_input(terminated, "terminated")
    if bootstrap_values is None:
        bootstrap = tf.zeros_like(reward_tensor)
    else:
        bootstrap = _float_input(bootstrap_values, "bootstrap_values", reward_tensor.dtype)
    _check_shapes(dict(rewards=reward_tensor, terminated=flags, bootstrap_values=bootstrap), time_major)
    if truncated is not None:
        truncated = _flag_input(truncated, "truncated")
        _check_shapes(dict(rewards=reward_tensor, truncated=truncated), time_major)
    # With V ≡ 0 and λ = 1, Â_t is the discounted sum of δ_t = r_t + γ (1 − terminated_t) next_values_t,
    # so next_values may be non-zero only where the episode is cut: the bootstrap of G.
    time_axis = 0 if (time_major or reward_tensor.shape.rank == 1) else 1
    num_steps = tf.shape(reward_tensor)[time_axis]
    is_last = tf.equal(tf.range(num_steps), num_steps - 1)  # [T]
    if reward_tensor.shape.rank == 2:
        is_last = is_last[:, None] if time_axis == 0 else is_last[None, :]
    cut = is_last if truncated is None else tf.logical_or(truncated, is_last)
    next_values = tf.where(cut, bootstrap, tf.zeros_like(bootstrap))
    return gae(
        reward_tensor,
        tf.zeros_like(reward_tensor),
        next_values,
        flags,
        truncated,
        gamma=gamma,
        lambda_=1.0,
        time_major=time_major,
    ).advantages


def normalize_advantages(advantages: Any, mask: Any = None, epsilon: float = 1e-8, axis: int | None = None) -> tf.Tensor:
    """(Â − mean) / (std + ε) over the entries where `mask` is true (all entries if None). Chapter 5.
    With `axis`, each slice along it on its own (axis=-1 on [A, N]: each agent of a sweep over its samples).

    Mean and the unbiased standard deviation (n − 1 in the denominator, as PyTorch's `std` in SB3 and
    CleanRL) are taken over the valid entries only; entries outside the mask are returned unchanged.
    With fewer than two valid entries there is no spread to divide by, and `advantages` is returned
    unchanged rather than as NaN (SB3 issue #325). Works eagerly and inside `tf.function`.
    """
    advantages = _float_input(advantages, "advantages", None)
    if mask is None:
        valid = tf.ones_like(advantages, dtype=tf.bool)
    else:
        valid = _flag_input(mask, "mask")
        if not valid.shape.is_compatible_with(advantages.shape):
            raise ValueError(f"mask has shape {valid.shape} but advantages has shape {advantages.shape}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon >= 0:
        raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
    weights = tf.cast(valid, advantages.dtype)
    count = tf.reduce_sum(weights, axis, keepdims=True)
    safe_count = tf.maximum(count, 2.0)
    # mean = Σ m_i A_i / n ;  var = Σ m_i (A_i − mean)² / (n − 1)
    # (tf.where, not a product with the mask: a NaN outside the mask must not reach the mean)
    mean = tf.reduce_sum(tf.where(valid, advantages, tf.zeros_like(advantages)), axis, keepdims=True) / safe_count
    centered = tf.where(valid, advantages - mean, tf.zeros_like(advantages))
    variance = tf.reduce_sum(centered * centered, axis, keepdims=True) / (safe_count - 1.0)
    normalized = (advantages - mean) / (tf.sqrt(variance) + _scalar(float(epsilon), advantages.dtype))
    return tf.where(valid & (count >= 2.0), normalized, advantages)
