"""Keras actor-critic models with TensorFlow Probability distribution heads. Used by the trainers (chapter 5).

An actor-critic holds two function approximators over the same observation s:

    π_θ(a | s)   the policy (actor): a distribution over actions
    V_φ(s)       the state-value function (critic): the baseline GAE subtracts and bootstraps from,
                 δ_t = r_t + γ V(s_{t+1}) − V(s_t)   (GAE paper, arXiv:1506.02438, eq. 10)

Policy heads:

    Discrete(n):  logits z = f_θ(s) ∈ R^n,  π(a | s) = softmax(z)_a,
                  log π(a | s) = z_a − log Σ_b exp z_b,   H = −Σ_a π_a log π_a
    Box(d,):      mean μ = f_θ(s) ∈ R^d and a state-independent, trainable log σ ∈ R^d,
                  π(a | s) = Π_i N(a_i; μ_i, σ_i²),
                  log π(a | s) = −Σ_i [ (a_i − μ_i)² / (2σ_i²) + log σ_i + ½ log 2π ],
                  H = Σ_i [ ½ log(2πe) + log σ_i ]

Both are returned as `tfp.distributions.Distribution` objects whose `log_prob` and `entropy` have shape `[N]`
(the Gaussian is wrapped in `Independent(..., reinterpreted_batch_ndims=1)` to sum over action dimensions).
Box actions are not clipped here: the log-probability is that of the unclipped sample, and the rollout clips
only the copy it sends to the environment (as Stable-Baselines3 and CleanRL do).

Initialization follows the PPO implementation literature (Huang et al., "The 37 Implementation Details of
Proximal Policy Optimization", ICLR blog track 2022; Andrychowicz et al., "What Matters in On-Policy
Reinforcement Learning?", arXiv:2006.05990): orthogonal weights (Saxe et al., arXiv:1312.6120) with gain
√2 for hidden layers, 0.01 for the policy head (a near-uniform / near-zero-mean initial policy) and 1 for the
value head; zero biases.

Observation normalization keeps running statistics merged batch by batch with the parallel formulas of
Chan, Golub and LeVeque ("Updating Formulae and a Pairwise Algorithm for Computing Sample Variances", 1979),
as Stable-Baselines3's `RunningMeanStd` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import gymnasium
import numpy as np

from tf_gae._tf import tf
from tf_gae.checks import layer_widths, positive_int
from tf_gae.rng import unit_uniform

import keras  # noqa: E402  (Keras 3, after TensorFlow is imported quietly)
import tensorflow_probability as tfp  # noqa: E402

__all__ = [
    "ActionSpec",
    "action_spec_from_space",
    "RunningObservationNormalizer",
    "ActorCritic",
    "build_actor_critic",
    "policy_distribution",
    "gumbel_max",
    "models_computing_in",
]

tfd = tfp.distributions

_HIDDEN_GAIN = math.sqrt(2.0)
_POLICY_HEAD_GAIN = 0.01
_VALUE_HEAD_GAIN = 1.0


# --------------------------------------------------------------------------------------------------
# Action spaces
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    """What the policy head needs to know about the action space, without holding a gymnasium object.

    `kind` is "discrete" (actions 0..size−1) or "box" (real vectors of length `size`); `low` and `high` are the
    box bounds (possibly ±inf), used by the rollout to clip what it sends to the environment, and None for
    discrete actions. Lists are accepted for the bounds (e.g. from a JSON config) and stored as tuples.
    """

    kind: str
    """"discrete" or "box"."""
    size: int
    """Number of actions (discrete) or action dimension (box)."""
    low: tuple[float, ...] | None = None
    """Lower bound per action dimension (box only)."""
    high: tuple[float, ...] | None = None
    """Upper bound per action dimension (box only)."""

    def __post_init__(self) -> None:
        if self.kind not in ("discrete", "box"):
            raise ValueError(f'ActionSpec kind must be "discrete" or "box", got {self.kind!r}')
        if isinstance(self.size, bool) or not isinstance(self.size, numbers.Integral) or self.size < 1:
            raise ValueError(f"ActionSpec size must be a positive integer, got {self.size!r}")
        object.__setattr__(self, "size", int(self.size))
        for name in ("low", "high"):
            bound = getattr(self, name)
            if bound is None:
                continue
            if self.kind == "discrete":
                raise ValueError(f"ActionSpec {name} must be None for discrete actions, got {bound!r}")
            values = tuple(float(b) for b in np.asarray(bound, dtype=np.float64).reshape(-1))
            if len(values) != self.size:
                raise ValueError(
                    f"ActionSpec {name} must have {self.size} entries (one per action dimension), got {len(values)}"
                )
            if any(math.isnan(v) for v in values):
                raise ValueError(f"ActionSpec {name} must not contain NaN, got {values}")
            object.__setattr__(self, name, values)
        if self.low is not None and self.high is not None and any(lo > hi for lo, hi in zip(self.low, self.high)):
            raise ValueError(f"ActionSpec low must not exceed high, got low={self.low} high={self.high}")

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"


def _unsupported_action_space(space: Any) -> ValueError:
    return ValueError(
        f"action space {space!r} is not supported: use an environment with a Discrete (start 0) "
        "or 1-D Box action space"
    )


def action_spec_from_space(space: gymnasium.Space) -> ActionSpec:
    """The :class:`ActionSpec` of a gymnasium `Discrete(n)` (start 0) or 1-D `Box(low, high, (d,))` space.

    Anything else (Dict, Tuple, MultiDiscrete, MultiBinary, a Box of rank ≠ 1, Discrete with a nonzero start)
    is a ValueError naming the space.
    """
    if isinstance(space, gymnasium.spaces.Discrete):
        if int(space.start) != 0:
            raise ValueError(
                f"action space {space!r} is not supported: Discrete actions must start at 0; "
                "wrap the environment so its actions are 0..n-1"
            )
        return ActionSpec(kind="discrete", size=int(space.n))
    if isinstance(space, gymnasium.spaces.Box):
        if len(space.shape) != 1 or space.shape[0] < 1:
            raise _unsupported_action_space(space)
        return ActionSpec(
            kind="box",
            size=int(space.shape[0]),
            low=tuple(float(b) for b in space.low),
            high=tuple(float(b) for b in space.high),
        )
    raise _unsupported_action_space(space)


def _as_action_spec(action_spec: ActionSpec | Mapping[str, Any]) -> ActionSpec:
    if isinstance(action_spec, ActionSpec):
        return action_spec
    if isinstance(action_spec, Mapping):
        return ActionSpec(**action_spec)
    raise TypeError(
        f"action_spec must be an ActionSpec or a dict of its fields, got {type(action_spec).__name__}; "
        "use action_spec_from_space(env.action_space)"
    )


# --------------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------------


def _observations_tensor(observations: Any, observation_size: int, name: str = "observations") -> tf.Tensor:
    """`observations` as a float32 tensor of shape [N, observation_size] (checked statically)."""
    tensor = tf.convert_to_tensor(observations)
    if tensor.dtype != tf.float32:
        if not (tensor.dtype.is_floating or tensor.dtype.is_integer or tensor.dtype == tf.bool):
            raise TypeError(f"{name} must be numeric, got dtype {tensor.dtype.name}")
        tensor = tf.cast(tensor, tf.float32)
    shape = tensor.shape
    if shape.rank is not None and (shape.rank != 2 or (shape[-1] is not None and shape[-1] != observation_size)):
        raise ValueError(
            f"{name} must have shape [N, {observation_size}], got {shape}; "
            f"pass a batch, e.g. observations[None] for a single observation"
        )
    return tensor


@keras.saving.register_keras_serializable(package="tf_gae")
class RunningObservationNormalizer(keras.layers.Layer):
    """Normalizes observations by running statistics: clip((s − μ) / √(σ² + ε), −clip, clip).

    The statistics are merged batch by batch (Chan, Golub and LeVeque 1979; Stable-Baselines3's
    `RunningMeanStd`). With the running (μ, σ², n) and a batch's (μ_B, σ²_B, n_B) (population variance):

        δ   = μ_B − μ,   n' = n + n_B
        μ'  = μ + δ n_B / n'
        σ²' = (σ² n + σ²_B n_B + δ² n n_B / n') / n'

    which equals the mean and population variance of all data seen, up to the initial pseudo-count
    n₀ = 1e-4 at μ = 0, σ² = 1 (as in SB3; it avoids dividing by zero before the first update).

    `mean` [obs_dim], `var` [obs_dim] and `count` [] are non-trainable float32 weights, so they are saved by
    `tf.train.Checkpoint` and `model.save_weights` together with the model they belong to. Calling the layer
    only normalizes; call :meth:`update` on each new batch (the rollout does, before the policy sees it).
    """

    INITIAL_COUNT = 1e-4
    """Pseudo-count of the initial statistics (mean 0, variance 1), as SB3's `RunningMeanStd(epsilon=1e-4)`."""

    def __init__(self, observation_size: int, clip: float = 10.0, epsilon: float = 1e-8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.observation_size = positive_int(observation_size, "observation_size")
        if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not float(clip) > 0:
            raise ValueError(f"clip must be a positive number, got {clip!r}; pass e.g. clip=10.0")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not float(epsilon) >= 0:
            raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}; pass e.g. epsilon=1e-8")
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self.mean = self.add_weight(
            shape=(self.observation_size,), initializer="zeros", dtype="float32", trainable=False, name="mean"
        )
        self.var = self.add_weight(
            shape=(self.observation_size,), initializer="ones", dtype="float32", trainable=False, name="var"
        )
        self.count = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.INITIAL_COUNT),
            dtype="float32",
            trainable=False,
            name="count",
        )
        self.built = True

    def update(self, observations: Any) -> None:
        """Merge the batch `observations` [N, obs_dim] into the running statistics (eagerly or in a tf.function).

        An empty batch (N = 0) leaves the statistics unchanged. The merge is computed in float64.
        """
        batch = tf.cast(_observations_tensor(observations, self.observation_size), tf.float64)  # [N, obs_dim]
        batch_count = tf.cast(tf.shape(batch)[0], tf.float64)  # n_B
        # μ_B and the population variance σ²_B; divide_no_nan makes an empty batch a no-op (n_B = 0)
        batch_mean = tf.math.divide_no_nan(tf.reduce_sum(batch, axis=0), batch_count)  # [obs_dim]
        batch_var = tf.math.divide_no_nan(
            tf.reduce_sum(tf.square(batch - batch_mean), axis=0), batch_count
        )  # [obs_dim]
        mean = tf.cast(tf.convert_to_tensor(self.mean), tf.float64)  # [obs_dim]
        var = tf.cast(tf.convert_to_tensor(self.var), tf.float64)  # [obs_dim]
        count = tf.cast(tf.convert_to_tensor(self.count), tf.float64)  # []
        # δ = μ_B − μ,  n' = n + n_B
        delta = batch_mean - mean
        total_count = count + batch_count
        # μ' = μ + δ n_B / n'
        new_mean = mean + delta * batch_count / total_count
        # σ²' = (σ² n + σ²_B n_B + δ² n n_B / n') / n'
        sum_of_squares = var * count + batch_var * batch_count + tf.square(delta) * count * batch_count / total_count
        new_var = sum_of_squares / total_count
        self.mean.assign(tf.cast(new_mean, tf.float32))
        self.var.assign(tf.cast(new_var, tf.float32))
        self.count.assign(tf.cast(total_count, tf.float32))

    def call(self, observations: Any) -> tf.Tensor:
        """clip((s − μ) / √(σ² + ε), −clip, clip), shape [N, obs_dim]."""
        observations = _observations_tensor(observations, self.observation_size)  # [N, obs_dim]
        mean = tf.convert_to_tensor(self.mean)  # [obs_dim]
        std = tf.sqrt(tf.convert_to_tensor(self.var) + self.epsilon)  # [obs_dim]
        return tf.clip_by_value((observations - mean) / std, -self.clip, self.clip)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(observation_size=self.observation_size, clip=self.clip, epsilon=self.epsilon)
        return config


# --------------------------------------------------------------------------------------------------
# The actor-critic
# --------------------------------------------------------------------------------------------------


def _int32_seed(seed: Any) -> Any:
    """A tensor or array seed as TFP's stateless int32[2]; Python ints and None (stateful seeds) unchanged.

    `tf.random.Generator.make_seeds` and `tf.random.experimental.stateless_split` of an int64 seed give int64
    seeds, which TFP refuses; casting keeps the low 32 bits of each half, so equal seeds stay equal.
    """
    if isinstance(seed, (tf.Tensor, tf.Variable, np.ndarray, np.generic)):
        seed = tf.convert_to_tensor(seed)
        if seed.dtype != tf.int32:
            if not seed.dtype.is_integer:
                raise TypeError(f"seed must be an integer tensor of shape [2], got dtype {seed.dtype.name}")
            seed = tf.cast(seed, tf.int32)
    return seed


class _AcceptsInt64Seeds:
    """Mixin for TFP distributions: `sample(seed=...)` also takes an int64 stateless seed of shape [2]."""

    def sample(self, sample_shape: Any = (), seed: Any = None, name: str = "sample", **kwargs: Any) -> tf.Tensor:
        return super().sample(sample_shape, seed=_int32_seed(seed), name=name, **kwargs)

    def experimental_sample_and_log_prob(
        self, sample_shape: Any = (), seed: Any = None, name: str = "sample_and_log_prob", **kwargs: Any
    ) -> tuple[tf.Tensor, tf.Tensor]:
        return super().experimental_sample_and_log_prob(sample_shape, seed=_int32_seed(seed), name=name, **kwargs)



def gumbel_max(logits: tf.Tensor, uniform: tf.Tensor) -> tf.Tensor:
    """argmax_k (logits_k + g_k) with g = −log(−log u), from `uniform` u ∈ (0, 1) float64 of logits' shape
    (broadcast against it): a sample of Categorical(logits), int64 [...]."""
    gumbel = -tf.math.log(-tf.math.log(uniform))  # g ~ Gumbel(0, 1), finite
    return tf.argmax(logits + tf.cast(gumbel, logits.dtype), axis=-1)


class _Categorical(_AcceptsInt64Seeds, tfd.Categorical):
    """`tfp.distributions.Categorical` whose `sample` also accepts int64 stateless seeds, and draws by the
    Gumbel-max trick, so that sampling compiles under XLA (which has no multinomial sampler on CPU):

        a = argmax_k (logits_k + g_k),   g_k = −log(−log u_k),   u_k ~ Uniform(0, 1) i.i.d.

    P(a = k) = softmax(logits)_k exactly (Gumbel 1954; Maddison et al. 2014): the distribution of TFP's own
    sampler, from another stream of random numbers, and the same draws eagerly, in a graph and under XLA.
    """

    def _sample_n(self, n: Any, seed: Any = None) -> tf.Tensor:
        logits = self._logits_parameter_no_checks()  # [..., K]
        shape = tf.concat([[n], tf.shape(logits)], axis=0)  # [n, ..., K]
        if seed is None or isinstance(seed, int):  # a stateful seed: a stateless key drawn from it
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32, seed=seed)
        uniform = unit_uniform(shape, tf.cast(seed, tf.int32), open_interval=True)  # u ∈ (0, 1), float64
        return tf.cast(gumbel_max(logits, uniform), self.dtype)  # [n, ...]


class _Independent(_AcceptsInt64Seeds, tfd.Independent):
    """`tfp.distributions.Independent` whose `sample` also accepts int64 stateless seeds."""



def policy_distribution(action_spec: ActionSpec, policy_output: tf.Tensor, log_std: Any = None) -> tfd.Distribution:
    """π(· | s) from the policy head's output [..., n] or [..., act_dim]: `Categorical(logits)`, or for box
    actions `Independent(Normal(μ, exp(log σ)), 1)` with `log_std` [act_dim] (or any shape that broadcasts
    against μ, e.g. one row per agent of a sweep)."""
    if action_spec.is_discrete:
        # π(a | s) = softmax(z)_a; samples and mode() are int32
        return _Categorical(logits=policy_output)
    # π(a | s) = Π_i N(a_i; μ_i, σ_i²) with σ = exp(log σ) shared by every state
    std = tf.exp(tf.convert_to_tensor(log_std))  # [act_dim]
    scale = tf.ones_like(policy_output) * std  # [N, act_dim]
    return _Independent(tfd.Normal(loc=policy_output, scale=scale), reinterpreted_batch_ndims=1)

def _orthogonal(gain: float, seed: int | None, offset: int) -> keras.initializers.Initializer:
    """Orthogonal(gain); each layer gets its own seed (one int seed shared by layers would repeat matrices)."""
    return keras.initializers.Orthogonal(gain=gain, seed=None if seed is None else seed + offset)


@keras.saving.register_keras_serializable(package="tf_gae")
class ActorCritic(keras.Model):
    """Policy π_θ(a | s) and value V_φ(s) as MLPs, with separate trunks by default.

    Layout (hidden layers: Dense + `activation`, orthogonal gain √2; heads linear):

        separate (default):  s → [normalizer] → policy MLP → policy head (gain 0.01) → logits [N, n] | μ [N, d]
                                             → value MLP  → value head  (gain 1.0)  → V(s) [N]
        shared_trunk=True:   s → [normalizer] → one MLP → both heads

    Separate trunks keep the value loss from moving the policy's features (and vice versa); a shared trunk
    has fewer parameters, and its loss must weight the value term (e.g. c_v · L_V in PPO's eq. 9).

    Your own network: `network`, a Keras layer or model mapping observations [N, obs_dim] to features [N, F],
    replaces the MLPs and feeds both heads (like shared_trunk=True); a pair (policy_network, value_network)
    feeds each head from its own. The heads, the TFP distributions, the observation normalizer and the
    initialisation of the heads stay as above; `hidden_sizes` and `shared_trunk` are then unused. The layers
    are saved with the model (`get_config` serialises them, so `keras.models.load_model` rebuilds them).

    Layer attributes: `trunk` (a tuple of the shared hidden layers, empty unless shared), `policy_trunk` and
    `value_trunk` (tuples, empty when shared; each layer is also the attribute named like the layer, e.g.
    `policy_hidden_0`, so that `tf.train.Checkpoint` saves it), `policy_head`, `value_head`; for Box actions
    also `log_std` [act_dim], a trainable weight initialised to `initial_log_std`; `observation_normalizer` is a
    :class:`RunningObservationNormalizer` if `normalize_observations`, else None.

    The model is built (all variables exist) when the constructor returns, so it can be checkpointed or
    have weights loaded at once. `seed` (an addition to the usual options) seeds the initializers; with
    None they draw from Python's `random`, which `keras.utils.set_random_seed` seeds.
    """

    def __init__(
        self,
        observation_size: int,
        action_spec: ActionSpec | Mapping[str, Any],
        hidden_sizes: tuple[int, ...] = (64, 64),
        shared_trunk: bool = False,
        activation: str = "tanh",
        normalize_observations: bool = False,
        initial_log_std: float = 0.0,
        seed: int | None = None,
        network: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.network = _as_network(network)
        self.observation_size = positive_int(observation_size, "observation_size")
        self.action_spec = _as_action_spec(action_spec)
        self.hidden_sizes = layer_widths(hidden_sizes)
        if not isinstance(shared_trunk, (bool, np.bool_)):
            raise ValueError(f"shared_trunk must be True or False, got {shared_trunk!r}")
        self.shared_trunk = bool(shared_trunk)
        try:
            keras.activations.get(activation)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"activation must name a Keras activation such as 'tanh' or 'relu', got {activation!r}"
            ) from error
        self.activation = activation
        self.normalize_observations = bool(normalize_observations)
        if (
            isinstance(initial_log_std, bool)
            or not isinstance(initial_log_std, numbers.Real)
            or not math.isfinite(initial_log_std)
        ):
            raise ValueError(
                f"initial_log_std must be a finite number, got {initial_log_std!r}; pass e.g. 0.0 (σ = 1)"
            )
        self.initial_log_std = float(initial_log_std)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

        self.observation_normalizer = (
            RunningObservationNormalizer(self.observation_size, name="observation_normalizer")
            if self.normalize_observations
            else None
        )
        offsets = itertools.count()

        def hidden_layers(prefix: str) -> tuple[keras.layers.Dense, ...]:
            layers = []
            for i, units in enumerate(self.hidden_sizes):
                layer = keras.layers.Dense(
                    units,
                    activation=activation,
                    kernel_initializer=_orthogonal(_HIDDEN_GAIN, self.seed, next(offsets)),
                    bias_initializer="zeros",
                    name=f"{prefix}_{i}",
                )
                # One attribute per layer: tf.train.Checkpoint does not see layers that are only held in a
                # list (Keras 3 tracks lists for its own saving, but they are not TensorFlow trackables).
                setattr(self, f"{prefix}_{i}", layer)
                layers.append(layer)
            return tuple(layers)

        if self.network is not None:  # the user's own layers in place of the MLPs
            shared = len(self.network) == 1
            self.trunk = self.network if shared else ()
            self.policy_trunk, self.value_trunk = ((), ()) if shared else ((self.network[0],), (self.network[1],))
            for index, layer in enumerate(self.network):  # tracked by tf.train.Checkpoint under these names
                setattr(self, ("shared_network", "policy_network", "value_network")[index + (0 if shared else 1)], layer)
        else:
            self.trunk = hidden_layers("shared_hidden") if self.shared_trunk else ()
            self.policy_trunk = () if self.shared_trunk else hidden_layers("policy_hidden")
            self.value_trunk = () if self.shared_trunk else hidden_layers("value_hidden")
        self.policy_head = keras.layers.Dense(
            self.action_spec.size,
            kernel_initializer=_orthogonal(_POLICY_HEAD_GAIN, self.seed, next(offsets)),
            bias_initializer="zeros",
            name="policy_head",
        )
        self.value_head = keras.layers.Dense(
            1,
            kernel_initializer=_orthogonal(_VALUE_HEAD_GAIN, self.seed, next(offsets)),
            bias_initializer="zeros",
            name="value_head",
        )
        self.log_std = (
            None
            if self.action_spec.is_discrete
            else self.add_weight(
                shape=(self.action_spec.size,),
                initializer=keras.initializers.Constant(self.initial_log_std),
                dtype="float32",
                trainable=True,
                name="log_std",
            )
        )
        if self.network is not None:
            _check_features(self.network, self.observation_size)
        self.build((None, self.observation_size))  # every variable exists from here on

    def build(self, input_shape: Any) -> None:
        """Create every variable for observations [N, obs_dim]. The MLPs are built layer by layer from their
        widths, with no forward pass (Keras would otherwise trace the model symbolically and then run it
        once, most of the cost of making a trainer); the user's own network by one forward pass on zeros.
        The weights do not depend on the order of building: each initializer drew its seed when made."""
        if self.network is not None:
            self.call(tf.zeros([1, self.observation_size], tf.float32))
            return
        if self.observation_normalizer is not None:
            self.observation_normalizer.build((None, self.observation_size))
        width = self.observation_size
        for layer in self.trunk:
            layer.build((None, width))
            width = layer.units
        policy_width = value_width = width
        for layer in self.policy_trunk:
            layer.build((None, policy_width))
            policy_width = layer.units
        for layer in self.value_trunk:
            layer.build((None, value_width))
            value_width = layer.units
        self.policy_head.build((None, policy_width))
        self.value_head.build((None, value_width))

    # -------------------------------------------------------------------------------- forward pass

    def call(self, observations: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """(policy head output, values): logits [N, n] or Gaussian mean [N, act_dim], and V(s) [N]."""
        features = _observations_tensor(observations, self.observation_size)  # [N, obs_dim]
        if self.observation_normalizer is not None:
            features = self.observation_normalizer(features)  # [N, obs_dim]
        for layer in self.trunk:
            features = layer(features)  # [N, hidden]
        policy_features = features
        for layer in self.policy_trunk:
            policy_features = layer(policy_features)  # [N, hidden]
        value_features = features
        for layer in self.value_trunk:
            value_features = layer(value_features)  # [N, hidden]
        policy_output = self.policy_head(policy_features)  # [N, n] logits or [N, act_dim] mean
        values = tf.squeeze(self.value_head(value_features), axis=-1)  # [N]
        return policy_output, values

    def _distribution_from_output(self, policy_output: tf.Tensor) -> tfd.Distribution:
        return policy_distribution(self.action_spec, policy_output, self.log_std)

    def policy_and_value(self, observations: Any) -> tuple[tfd.Distribution, tf.Tensor]:
        """π(· | s) (batch shape [N]) and V(s) [N] from one forward pass."""
        policy_output, values = self(observations)
        return self._distribution_from_output(policy_output), values

    def distribution(self, observations: Any) -> tfd.Distribution:
        """π(· | s) with batch shape [N]: `Categorical(logits)` or `Independent(Normal(μ, exp(log σ)), 1)`.

        `log_prob(actions)` and `entropy()` have shape [N]. `sample(seed=seed)` with an int32 or int64 tensor of
        shape [2] is TFP's stateless sampling: the same seed gives the same actions. (The objects are thin
        subclasses of `Categorical` and `Independent` that cast int64 seeds to the int32 TFP requires.)
        """
        return self.policy_and_value(observations)[0]

    def value(self, observations: Any) -> tf.Tensor:
        """V(s), shape [N]."""
        return self(observations)[1]

    def mode(self, observations: Any) -> tf.Tensor:
        """The deterministic action: argmax_a z_a [N] for discrete actions, μ [N, act_dim] for box actions.

        Discrete modes are int32, the dtype of the Categorical's samples (gymnasium accepts them).
        """
        policy_output, _ = self(observations)
        if self.action_spec.is_discrete:
            return tf.argmax(policy_output, axis=-1, output_type=tf.int32)  # [N]
        return policy_output  # [N, act_dim]

    # -------------------------------------------------------------------------------- configuration

    def get_config(self) -> dict[str, Any]:
        """Plain values only (`action_spec` as a dict), enough for `ActorCritic(**config)`."""
        return {
            "observation_size": self.observation_size,
            "action_spec": dataclasses.asdict(self.action_spec),
            "hidden_sizes": list(self.hidden_sizes),
            "shared_trunk": self.shared_trunk,
            "activation": self.activation,
            "normalize_observations": self.normalize_observations,
            "initial_log_std": self.initial_log_std,
            "seed": self.seed,
            "name": self.name,
            "network": None if self.network is None else [keras.saving.serialize_keras_object(layer) for layer in self.network],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ActorCritic":
        config = dict(config)
        if config.get("network") is not None:  # Keras's own deserialisation, under its safe mode
            config["network"] = tuple(keras.saving.deserialize_keras_object(layer) for layer in config["network"])
        return cls(**config)


def _as_network(network: Any) -> tuple[Any, ...] | None:
    """None, or the user's layers as a tuple: (shared,) or (policy, value)."""
    if network is None:
        return None
    layers = tuple(network) if isinstance(network, (tuple, list)) else (network,)
    if len(layers) not in (1, 2) or not all(isinstance(layer, keras.layers.Layer) for layer in layers):
        raise ValueError(
            "network must be a Keras layer or model mapping observations [N, obs_dim] to features [N, F], or a "
            f"pair (policy_network, value_network) of them, got {network!r}"
        )
    return layers


def _check_features(network: tuple[Any, ...], observation_size: int) -> None:
    for layer in network:
        shape = tuple(layer(tf.zeros([2, observation_size])).shape)
        if len(shape) != 2 or shape[0] != 2:
            raise ValueError(
                f"network {layer.name!r} maps observations [N, {observation_size}] to shape {shape}, not to features "
                "[N, F]; end it with a Dense (or Flatten) layer"
            )


def build_actor_critic(
    observation_space: gymnasium.Space, action_space: gymnasium.Space, **options: Any
) -> ActorCritic:
    """An :class:`ActorCritic` for a 1-D Box observation space and a Discrete or 1-D Box action space.

    `options` are :class:`ActorCritic`'s keyword arguments (hidden_sizes, shared_trunk, activation,
    normalize_observations, initial_log_std, seed, network, name).
    """
    if not isinstance(observation_space, gymnasium.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(
            f"observation space {observation_space!r} is not supported: the models take a 1-D Box of floats; "
            "wrap the environment in gymnasium.wrappers.FlattenObservation"
        )
    if observation_space.shape[0] < 1:
        raise ValueError(f"observation space {observation_space!r} is empty: it needs at least one dimension")
    action_spec = action_spec_from_space(action_space)
    return ActorCritic(int(observation_space.shape[0]), action_spec, **options)


@contextlib.contextmanager
def models_computing_in(dtype: str) -> Iterator[None]:
    """Within the block, Keras builds models that compute in `dtype` ('float32' or 'float64'); both of
    Keras's global settings, floatx and the dtype policy (made from floatx when first asked for), are set
    and put back after, or every model built later would compute in `dtype` too. Chapter 8 and the tests
    compare computations in float64 this way, so that float rounding is far below what they compare."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)
