"""A tiny causal transformer language model with a value head, its sampler, and a supervised warm start.

The model is the policy π_θ(y_t | x, y_<t) of RLHF at toy scale, with the critic V_φ on the same trunk:

    h⁰_t  = E[x_t] + W_pos[t]                              token embedding + learned position embedding
    hˡ    = hˡ⁻¹ + Attn(LN(hˡ⁻¹))                          causal self-attention (position t sees ≤ t only)
    hˡ    = hˡ  + MLP(LN(hˡ))                              MLP: Dense(4·d_model, gelu) → Dense(d_model)
    z_t   = W_out · LN(h^L_t) + b                          logits over the vocabulary  [B, L, V]
    V_t   = w_v · LN(h^L_t) + b_v                          value of the state "tokens[:, :t+1]"  [B, L]

Position/value alignment (what PPO for LMs must line up). With tokens = prompt [P] + response [R]:

    index t of token_log_probs(...)  = log π(tokens[:, t+1] | tokens[:, :t+1])     t = 0 … L−2
    index t of token_values(...)     = V(tokens[:, :t+1]) = values[:, t]          the state BEFORE token t+1

so log-prob and value at the same index t belong to the same decision: the state s_t = tokens[:, :t+1]
and the action a_t = tokens[:, t+1]. Response token j (0-based, at sequence position P + j) is index
P − 1 + j of both; `response_log_probs_and_values` returns exactly those R columns. V of the state after the
last token (after EOS) is never used: the episode terminates there, so GAE does not bootstrap from it.

Sparse gradients, a known issue here: `keras.layers.Embedding` (a `tf.gather`) gives `tf.IndexedSlices`
gradients, and Keras 3's Adam on TensorFlow took oversized steps with them in this environment. The
embedding here is therefore a one-hot matmul, one_hot(tokens, V) @ E, whose gradient is a dense [V, d]
tensor, and the position embedding is a slice (also dense). `dense_gradients` converts anything that is
still an `IndexedSlices` before an optimizer sees it, as a second guard for training loops built on this
model.

Warm start: `supervised_warm_start` trains next-token prediction on correct answers until the exact expected
sampled accuracy reaches WARM_START_TARGET_ACCURACY = 0.3, which leaves an imperfect reference policy
(sampled accuracy ≈ 0.26–0.37 on fresh prompts for seeds 0–4) for RL to improve on.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from tf_gae._tf import tf
from tf_gae.distribute import dense_gradients  # re-exported: the learner makes every gradient dense
from tf_gae.learner import Learner

import keras  # noqa: E402  (Keras 3, after TensorFlow is imported quietly)

from tf_gae.llm.task import EOS_ID, PAD_ID, AdditionTask  # noqa: E402
from tf_gae.checks import positive_int

__all__ = [
    "WARM_START_TARGET_ACCURACY",
    "WARM_START_STEPS",
    "WARM_START_CHECK_EVERY",
    "WARM_START_EVAL_PROBLEMS",
    "TinyCausalLM",
    "token_log_probs_and_values",
    "token_log_probs",
    "token_values",
    "response_log_probs_and_values",
    "generate",
    "dense_gradients",
    "supervised_warm_start",
    "answer_log_probs",
    "expected_accuracy",
    "accuracy",
]

WARM_START_TARGET_ACCURACY = 0.3
"""The warm start stops once the exact expected sampled accuracy (temperature 1) reaches this (an imperfect model)."""
WARM_START_STEPS = 1000
"""The cap on supervised steps (seeds 0–4 reached the target after 140–330 steps, 5–9 s on two CPU cores)."""
WARM_START_CHECK_EVERY = 5
"""Steps between two checks of the target accuracy."""
WARM_START_EVAL_PROBLEMS = 512
"""Size of the fixed problem set on which the warm start measures its expected accuracy."""

_EMBEDDING_STDDEV = 0.02  # GPT-2's initial scale for token and position embeddings
_VALUE_HEAD_STDDEV = 0.01  # small (not zero) so values depend on the tokens from the start


def _check_temperature(temperature: Any, allow_zero: bool) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise ValueError(f"temperature must be a number, got {temperature!r}")
    temperature = float(temperature)
    if not (temperature > 0 or (allow_zero and temperature == 0)) or not np.isfinite(temperature):
        hint = "≥ 0 (0 is greedy decoding)" if allow_zero else "> 0 (log-probs at temperature 0 are undefined)"
        raise ValueError(f"temperature must be finite and {hint}, got {temperature!r}")
    return temperature


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


class _DecoderBlock(keras.layers.Layer):
    """Pre-LayerNorm transformer block: h + Attn(LN(h)) with a causal mask, then h + MLP(LN(h))."""

    def __init__(self, d_model: int, num_heads: int, mlp_width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=d_model // num_heads, name="attention"
        )
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.mlp_hidden = keras.layers.Dense(mlp_width, activation="gelu", name="mlp_hidden")
        self.mlp_output = keras.layers.Dense(d_model, name="mlp_output")

    def call(self, hidden: tf.Tensor) -> tf.Tensor:
        normed = self.attention_norm(hidden)  # [B, L, d]
        # use_causal_mask: query t attends to keys ≤ t only, so no position depends on a later token
        hidden = hidden + self.attention(normed, normed, use_causal_mask=True)  # [B, L, d]
        return hidden + self.mlp_output(self.mlp_hidden(self.mlp_norm(hidden)))  # [B, L, d]


class TinyCausalLM(keras.Model):
    """A GPT-style decoder with a value head: `model(tokens [B, L]) -> (logits [B, L, V], values [B, L])`.

    Token embedding (a one-hot matmul, see the module docstring) + learned position embedding, `num_layers`
    pre-LayerNorm blocks (causal multi-head attention, MLP of width `mlp_width` = 4·d_model by default), a final
    LayerNorm, then two heads on the same final hidden states:

    - `lm_head`, an UNTIED Dense(vocab_size) (its own weights, not the transpose of the token embedding);
    - `value_head`, Dense(1) initialised small (normal, σ = 0.01; zero bias), so V ≈ 0 at the start.

    logits[:, t] is the next-token distribution given tokens[:, :t+1], and values[:, t] is the value of that
    same state. L may be anything up to `max_length` (the number of learned positions).

    Initialisation draws from Keras' global seed: call `keras.utils.set_random_seed(seed)` before building for
    a reproducible model. All layers are attributes (blocks as `block_0`, `block_1`, …), so
    `tf.train.Checkpoint(model=model)` saves every variable. The model is built when the constructor returns.
    """

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_width: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.max_length = positive_int(max_length, "max_length")
        self.d_model = positive_int(d_model, "d_model")
        self.num_heads = positive_int(num_heads, "num_heads")
        self.num_layers = positive_int(num_layers, "num_layers")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got d_model={self.d_model}, num_heads={self.num_heads}"
            )
        self.mlp_width = 4 * self.d_model if mlp_width is None else positive_int(mlp_width, "mlp_width")

        embedding_initializer = keras.initializers.RandomNormal(stddev=_EMBEDDING_STDDEV)
        self.token_embedding = self.add_weight(
            shape=(self.vocab_size, self.d_model), initializer=embedding_initializer, name="token_embedding"
        )  # E [V, d]
        self.position_embedding = self.add_weight(
            shape=(self.max_length, self.d_model), initializer=embedding_initializer, name="position_embedding"
        )  # P [max_length, d]
        blocks = []
        for index in range(self.num_layers):
            block = _DecoderBlock(self.d_model, self.num_heads, self.mlp_width, name=f"block_{index}")
            setattr(self, f"block_{index}", block)  # an attribute, so tf.train.Checkpoint tracks it
            blocks.append(block)
        self.blocks = tuple(blocks)
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.lm_head = keras.layers.Dense(self.vocab_size, name="lm_head")
        self.value_head = keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.RandomNormal(stddev=_VALUE_HEAD_STDDEV),
            bias_initializer="zeros",
            name="value_head",
        )
        self(tf.zeros([1, self.max_length], tf.int32))  # build every variable now

    def call(self, tokens: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits [B, L, V], values [B, L]) for integer tokens [B, L], L ≤ max_length."""
        tokens = tf.convert_to_tensor(tokens)
        if not tokens.dtype.is_integer:
            raise ValueError(f"tokens must be integer token ids, got dtype {tokens.dtype.name}")
        if tokens.shape.rank is not None and tokens.shape.rank != 2:
            raise ValueError(f"tokens must have shape [B, L], got {tokens.shape}; pass tokens[None] for one row")
        if tokens.shape[-1] is not None and tokens.shape[-1] > self.max_length:
            raise ValueError(
                f"tokens has length {tokens.shape[-1]} but the model has max_length={self.max_length} positions; "
                "build the model with a larger max_length"
            )
        length = tf.shape(tokens)[1]
        # One-hot matmul instead of a gather: a dense gradient for E (see the module docstring).
        one_hot = tf.one_hot(tokens, self.vocab_size, dtype=self.compute_dtype)  # [B, L, V]
        hidden = tf.matmul(one_hot, tf.convert_to_tensor(self.token_embedding))  # [B, L, d]  E[x_t]
        hidden = hidden + tf.convert_to_tensor(self.position_embedding)[None, :length]  # [B, L, d]  + W_pos[t]
        for block in self.blocks:
            hidden = block(hidden)  # [B, L, d]
        hidden = self.final_norm(hidden)  # [B, L, d]
        logits = self.lm_head(hidden)  # [B, L, V]
        values = tf.squeeze(self.value_head(hidden), axis=-1)  # [B, L]
        return logits, values

    def get_config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "max_length": self.max_length,
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "mlp_width": self.mlp_width,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TinyCausalLM":
        return cls(**config)


# --------------------------------------------------------------------------------------------------
# Log-probabilities and values, aligned
# --------------------------------------------------------------------------------------------------


def _token_tensor(tokens: Any, name: str) -> tf.Tensor:
    tokens = tf.convert_to_tensor(tokens)
    if not tokens.dtype.is_integer:
        raise ValueError(f"{name} must be integer token ids, got dtype {tokens.dtype.name}")
    if tokens.shape.rank is not None and tokens.shape.rank != 2:
        raise ValueError(f"{name} must have shape [B, L], got {tokens.shape}")
    return tokens


def token_log_probs_and_values(
    model: TinyCausalLM, tokens: Any, temperature: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """(log_probs [B, L−1], values [B, L−1]) from one forward pass; index t is the decision at tokens[:, :t+1].

    log_probs[:, t] = log softmax(z_t / T)[tokens[:, t+1]]     log π(tokens[:, t+1] | tokens[:, :t+1])
    values[:, t]    = V(tokens[:, :t+1])                       the model's values at positions 0 … L−2
    """
    temperature = _check_temperature(temperature, allow_zero=False)
    tokens = _token_tensor(tokens, "tokens")  # [B, L]
    if tokens.shape[-1] is not None and tokens.shape[-1] < 2:
        raise ValueError(f"tokens must have length L ≥ 2 (a state and a next token), got {tokens.shape}")
    logits, values = model(tokens)  # [B, L, V], [B, L]
    log_policy = tf.nn.log_softmax(logits[:, :-1] / temperature, axis=-1)  # [B, L-1, V]
    # A one-hot product rather than a gather keeps this gradient dense as well.
    next_tokens = tf.one_hot(tokens[:, 1:], model.vocab_size, dtype=log_policy.dtype)  # [B, L-1, V]
    log_probs = tf.reduce_sum(next_tokens * log_policy, axis=-1)  # [B, L-1]
    return log_probs, values[:, :-1]


def token_log_probs(model: TinyCausalLM, tokens: Any, temperature: float = 1.0) -> tf.Tensor:
    """log π(tokens[:, t+1] | tokens[:, :t+1]) for t = 0 … L−2, shape [B, L−1], from the logits / temperature."""
    return token_log_probs_and_values(model, tokens, temperature)[0]


def token_values(model: TinyCausalLM, tokens: Any) -> tf.Tensor:
    """V(tokens[:, :t+1]) for t = 0 … L−2, shape [B, L−1]: the value of the state BEFORE predicted token t+1.

    Index t lines up with index t of :func:`token_log_probs` (same state, the action is tokens[:, t+1]).
    """
    return token_log_probs_and_values(model, tokens)[1]


def response_log_probs_and_values(
    model: TinyCausalLM, prompt_ids: Any, response_ids: Any, temperature: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per response token j = 0 … R−1: (log π(y_j | x, y_<j) [B, R], V(x, y_<j) [B, R]) from one forward pass.

    These are columns P−1 … P+R−2 of :func:`token_log_probs_and_values` on concat(prompt, response):
    the value is of the state just before y_j was chosen. Entries after the first EOS (PAD tokens) are
    computed too; multiply by the response mask.
    """
    prompt_ids = _token_tensor(prompt_ids, "prompt_ids")  # [B, P]
    response_ids = _token_tensor(response_ids, "response_ids")  # [B, R]
    prompt_length = prompt_ids.shape[1]
    if prompt_length is None or prompt_length < 1:
        raise ValueError(f"prompt_ids must have a known length P ≥ 1, got shape {prompt_ids.shape}")
    tokens = tf.concat([prompt_ids, tf.cast(response_ids, prompt_ids.dtype)], axis=1)  # [B, P+R]
    log_probs, values = token_log_probs_and_values(model, tokens, temperature)  # [B, P+R-1] each
    return log_probs[:, prompt_length - 1 :], values[:, prompt_length - 1 :]  # [B, R] each


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


def _stateless_seed(seed: Any) -> tf.Tensor:
    """An int seed or a shape-[2] integer seed as TF's stateless int64[2]."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([int(seed), 0], tf.int64)
    if isinstance(seed, (tf.Tensor, tf.Variable, np.ndarray, list, tuple)):
        seed = tf.convert_to_tensor(seed)
        if seed.dtype.is_integer and seed.shape == (2,):
            return tf.cast(seed, tf.int64)
    raise ValueError(f"seed must be an integer or an integer tensor of shape [2], got {seed!r}")


@tf.function(reduce_retracing=True)
def _generate_graph(
    model: TinyCausalLM,
    prompt_ids: tf.Tensor,
    seed: tf.Tensor,
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    batch_size = tf.shape(prompt_ids)[0]
    prompt_length = prompt_ids.shape[1]
    total_length = prompt_length + max_new_tokens
    # The buffer holds the prompt then PAD placeholders; position P + i is written at step i. The causal mask
    # means the placeholders never influence logits[:, P + i − 1], so recomputing the full buffer each step
    # (no KV cache) gives the same distribution as running on the prefix alone.
    tokens = tf.concat([prompt_ids, tf.fill([batch_size, max_new_tokens], tf.constant(pad_id, tf.int32))], 1)
    positions = tf.range(total_length)[None, :]  # [1, P+R]
    finished = tf.zeros([batch_size], tf.bool)  # a row is finished once it has produced EOS
    for step in tf.range(max_new_tokens):
        logits, _ = model(tokens)  # [B, P+R, V]
        next_logits = tf.gather(logits, prompt_length - 1 + step, axis=1)  # [B, V] given tokens[:, :P+step]
        if temperature == 0.0:
            next_tokens = tf.argmax(next_logits, axis=-1, output_type=tf.int32)  # [B] greedy
        else:
            step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
            next_tokens = tf.random.stateless_categorical(
                next_logits / temperature, 1, seed=step_seed, dtype=tf.int32
            )[:, 0]  # [B] y ~ softmax(z / T)
        next_tokens = tf.where(finished, tf.constant(pad_id, tf.int32), next_tokens)  # PAD after EOS
        finished = tf.logical_or(finished, tf.equal(next_tokens, eos_id))
        tokens = tf.where(tf.equal(positions, prompt_length + step), next_tokens[:, None], tokens)  # [B, P+R]
    response_ids = tokens[:, prompt_length:]  # [B, R]
    is_eos = tf.cast(tf.equal(response_ids, eos_id), tf.int32)  # [B, R]
    # mask_t = 1 ⇔ no EOS strictly before t: up to and including the first EOS
    mask_dtype = model.compute_dtype  # float32 unless the model computes in another float type
    response_mask = tf.cast(tf.equal(tf.cumsum(is_eos, axis=1, exclusive=True), 0), mask_dtype)  # [B, R]
    return response_ids, response_mask


def generate(
    model: TinyCausalLM,
    prompt_ids: Any,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    seed: Any,
    eos_id: int = EOS_ID,
    pad_id: int = PAD_ID,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Sample responses: (response_ids [B, R] int32, response_mask [B, R] float32), R = max_new_tokens.

    Autoregressive: y_j ~ softmax(z(x, y_<j) / temperature), greedy argmax when temperature == 0. Sampling is
    stateless — `seed` (an int or an integer tensor of shape [2]) fixes every token, so equal seeds give equal
    responses; step j uses stateless_fold_in(seed, j). Tokens after a row's first EOS are PAD and masked 0;
    the EOS itself is masked 1. A row without EOS has mask all ones (it ran out of tokens; the task gives it
    reward 0). Compiled as one tf.function per model, prompt length, R and temperature.
    """
    max_new_tokens = positive_int(max_new_tokens, "max_new_tokens")
    temperature = _check_temperature(temperature, allow_zero=True)
    prompt_ids = tf.cast(_token_tensor(prompt_ids, "prompt_ids"), tf.int32)  # [B, P]
    prompt_length = prompt_ids.shape[1]
    if prompt_length is None or prompt_length < 1:
        raise ValueError(f"prompt_ids must have a known length P ≥ 1, got shape {prompt_ids.shape}")
    if prompt_length + max_new_tokens > model.max_length:
        raise ValueError(
            f"prompt length {prompt_length} + max_new_tokens {max_new_tokens} exceeds the model's "
            f"max_length={model.max_length}; build the model with max_length ≥ {prompt_length + max_new_tokens}"
        )
    for name, value in (("eos_id", eos_id), ("pad_id", pad_id)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < model.vocab_size:
            raise ValueError(f"{name} must be a token id in [0, {model.vocab_size}), got {value!r}")
    return _generate_graph(
        model, prompt_ids, _stateless_seed(seed), max_new_tokens, temperature, int(eos_id), int(pad_id)
    )


# --------------------------------------------------------------------------------------------------
# Supervised warm start
# --------------------------------------------------------------------------------------------------


def _sequence_log_probs(model: TinyCausalLM, tokens: tf.Tensor, loss_mask: tf.Tensor, temperature: float) -> tf.Tensor:
    """Σ_t loss_mask[:, t] · log π(tokens[:, t+1] | tokens[:, :t+1]), shape [n]."""
    return tf.reduce_sum(loss_mask * token_log_probs(model, tokens, temperature), axis=1)


def answer_log_probs(model: TinyCausalLM, task: AdditionTask, operands: Any, temperature: float = 1.0) -> tf.Tensor:
    """log π(answer + EOS | prompt) per problem, shape [n]: the log-probability of sampling the correct response."""
    temperature = _check_temperature(temperature, allow_zero=False)
    tokens, loss_mask = task.supervised_examples(operands)  # [n, P+R], [n, P+R-1]
    return _sequence_log_probs(model, tf.constant(tokens), tf.constant(loss_mask), temperature)


def expected_accuracy(
    model: TinyCausalLM, task: AdditionTask, operands: Any = None, temperature: float = 1.0
) -> float:
    """The exact expected reward of sampling: mean over problems of π(answer + EOS | prompt), no sampling noise.

    Sampling at `temperature` earns reward 1 exactly when it draws answer + EOS, whose probability is
    Π_j π(y_j | x, y_<j); :func:`accuracy` is a Monte-Carlo estimate of this mean. `operands` None means every
    problem of the task once (`task.all_operands()`).
    """
    operands = task.all_operands() if operands is None else operands
    return float(tf.reduce_mean(tf.exp(answer_log_probs(model, task, operands, temperature))))


def supervised_warm_start(
    model: TinyCausalLM,
    task: AdditionTask,
    *,
    steps: int = WARM_START_STEPS,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    target_accuracy: float | None = WARM_START_TARGET_ACCURACY,
    check_every: int = WARM_START_CHECK_EVERY,
) -> list[float]:
    """Train next-token prediction on `task.supervised_corpus` until an imperfect target; return every step's loss.

    L = −Σ_{b,t} m_{b,t} log π(tokens[b, t+1] | tokens[b, :t+1]) / Σ m      (m: loss_mask, response positions)

    Adam(learning_rate), one compiled (tf.function) step per batch of `batch_size` fresh examples drawn from
    np.random.default_rng(seed). The value head is not trained (this loss gives it no gradient).

    Stopping. The purpose is an IMPERFECT reference policy for RL, and the accuracy of this model rises steeply
    (≈ 0.1 → 0.7 within 50–75 steps) at a step that depends on the initialisation (between about 125 and 300
    steps for seeds 0–3 at the defaults), so no fixed step count leaves every seed imperfect. Instead, every
    `check_every` steps the warm start computes the exact expected sampled accuracy at temperature 1,
    mean_i π(answer_i + EOS | prompt_i) (see :func:`expected_accuracy`), on a fixed set of
    WARM_START_EVAL_PROBLEMS problems drawn from np.random.default_rng([seed, 1]), and stops at the first check
    where it is ≥ `target_accuracy` (default 0.3). `steps` is the cap (a warning says when it is reached
    first); `target_accuracy=None` runs exactly `steps` steps. At the defaults the sampled accuracy on fresh
    prompts lands near 0.3 for every seed, in well under 30 s on two CPU cores.
    """
    steps = positive_int(steps, "steps")
    batch_size = positive_int(batch_size, "batch_size")
    check_every = positive_int(check_every, "check_every")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}; e.g. 1e-3")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if target_accuracy is not None and (
        isinstance(target_accuracy, bool)
        or not isinstance(target_accuracy, numbers.Real)
        or not 0 < target_accuracy <= 1
    ):
        raise ValueError(f"target_accuracy must be in (0, 1] or None (no early stop), got {target_accuracy!r}")
    if task.sequence_length > model.max_length:
        raise ValueError(
            f"the task's sequences have length {task.sequence_length} but the model has "
            f"max_length={model.max_length}; build it with TinyCausalLM(..., max_length={task.sequence_length})"
        )
    if task.vocab_size != model.vocab_size:
        raise ValueError(
            f"the task has vocab_size {task.vocab_size} but the model {model.vocab_size}; "
            f"build it with TinyCausalLM(vocab_size={task.vocab_size}, ...)"
        )
    value_head_paths = {variable.path for variable in model.value_head.trainable_variables}
    variables = [variable for variable in model.trainable_variables if variable.path not in value_head_paths]
    optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate))
    optimizer.build(variables)
    learner = Learner(variables, optimizer)  # plain steps: no clipping

    def negative_log_likelihood(batch):
        log_probs = token_log_probs(model, batch["tokens"])  # [B, P+R-1]
        loss_mask = batch["loss_mask"]
        return -tf.reduce_sum(loss_mask * log_probs) / tf.reduce_sum(loss_mask), {}  # mean NLL per answer token

    @tf.function
    def train_step(tokens: tf.Tensor, loss_mask: tf.Tensor) -> tf.Tensor:
        return learner.step(negative_log_likelihood, dict(tokens=tokens, loss_mask=loss_mask)).loss

    eval_tokens, eval_mask = (
        tf.constant(array)
        for array in task.supervised_examples(
            task.sample_operands(WARM_START_EVAL_PROBLEMS, np.random.default_rng([int(seed), 1]))
        )
    )  # [N, P+R], [N, P+R-1]

    @tf.function
    def eval_expected_accuracy() -> tf.Tensor:
        return tf.reduce_mean(tf.exp(_sequence_log_probs(model, eval_tokens, eval_mask, 1.0)))  # mean π(answer)

    rng = np.random.default_rng(seed)
    losses = []
    reached = target_accuracy is None
    for step in range(1, steps + 1):
        tokens, loss_mask = task.supervised_corpus(batch_size, rng)  # [B, P+R], [B, P+R-1]
        losses.append(train_step(tf.constant(tokens), tf.constant(loss_mask)))
        if target_accuracy is not None and step % check_every == 0:
            if float(eval_expected_accuracy()) >= target_accuracy:
                reached = True
                break
    if not reached:
        warnings.warn(
            f"supervised_warm_start took all {steps} steps without reaching expected accuracy {target_accuracy}; "
            "pass more steps or a larger learning_rate",
            stacklevel=2,
        )
    return [float(loss) for loss in losses]


def accuracy(model: TinyCausalLM, task: AdditionTask, n: int, seed: int, temperature: float = 1.0) -> float:
    """Mean verifiable reward of sampled responses on n fresh prompts (prompts and sampling both from `seed`)."""
    n = positive_int(n, "n")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    prompt_ids, operands = task.sample_prompts(n, np.random.default_rng(seed))
    response_ids, response_mask = generate(
        model, prompt_ids, task.max_response_length, temperature=temperature, seed=[int(seed), 1]
    )
    return float(np.mean(task.rewards(operands, response_ids.numpy(), response_mask.numpy())))
