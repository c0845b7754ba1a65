"""PPO for a language model with token-level GAE and a KL penalty to a frozen reference (RLHF's loop).

One iteration, as TRL / OpenRLHF / verl run it, at a size two CPU cores train:

    1. sample prompts x; sample responses y ~ π_θ(· | x) (temperature τ), right-padded, mask m
    2. score(x, y) from a verifier (here: exact arithmetic), log π_old(y_t), log π_ref(y_t), V_old(s_t)
    3. r_t = −β KL_t + score·[t = last token]                      (tf_gae.llm.kl_penalty_rewards)
       or, with kl_in = "loss", r_t = score·[t = last token] and β·KL enters the policy loss (step 5)
    4. Â_t, R_t = token_gae(r, V_old, m; γ, λ)                       (tf_gae.llm.token_gae)
       or, critic-free (GRPO-style): Â_t = (G_t − mean_g G_0) / (std_g G_0 + ε) with G_t = Σ_{k≥t} r_k
       over the prompt's group g (the division only with group_std; see group_baseline_advantages)
    5. Â ← masked_whiten(Â, m) (normalize_advantages); several epochs of shuffled minibatches of
       L_π = PPO's clipped surrogate over the valid tokens (tf_gae.losses.clipped_surrogate)
             [+ β · token mean of KL_t(π_θ ‖ π_ref), recomputed from π_θ, when kl_in = "loss"]
       L_V = mean over valid tokens of max((V − R)², (V_old + clip(V − V_old, ±ε_V) − R)²)   (critic only)

Where the KL goes. In the reward (InstructGPT, TRL's PPO) the KL is data: it shapes every token's
advantage, and a critic must learn to predict it. In the loss (GRPO, verl's `use_kl_loss`) the rewards are
the verifier's score alone and the KL's own gradient pulls π_θ toward π_ref. A comparison of advantage
estimators should hold this choice fixed, so that the estimator is the only difference (chapter 6).

The critic is a separate model, initialised from the reference model's weights (InstructGPT initialised
its value function from the reward model; here the score is a rule, so there is none), so that value-loss
gradients never move the policy. Introduced in chapter 6.

Both losses are means over the valid tokens of a minibatch (a token-mean, verl's default). With a
`tf.distribute.Strategy` (chapter 8) each replica takes an equal share of the minibatch's sequences, which
hold different numbers of valid tokens, so replica r's loss is Σ_{tokens in its share} ℓ / N with N the
minibatch's valid tokens, and the replicas' gradients are SUMMED: the gradient of the token mean over the
whole minibatch, as on one device (tf_gae.distribute).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any

from tf_gae._tf import tf  # first: TensorFlow imported once, without its start-up noise
import keras  # noqa: E402
import numpy as np

from tf_gae import losses
from tf_gae.checks import require
from tf_gae.config import _help
from tf_gae.distribute import check_even_split
from tf_gae.learner import Learner
from tf_gae.llm.advantages import kl_penalty_rewards, masked_whiten, token_gae
from tf_gae.llm.lm import TinyCausalLM, generate, response_log_probs_and_values
from tf_gae.llm.task import AdditionTask

__all__ = ["LMPPOConfig", "LMPPOTrainer", "IterationBatch", "group_baseline_advantages", "GROUP_STD_EPSILON", "copy_model"]



@dataclass(frozen=True)
class LMPPOConfig:
    """Settings of :class:`LMPPOTrainer`; each field's `help` is its docstring."""

    advantage: str = _help("'gae' (critic + token-level GAE) or 'group' (critic-free, group-mean baseline; GRPO with group_std)", default="gae")
    prompts_per_iteration: int = _help("distinct prompts sampled per iteration", default=64)
    samples_per_prompt: int = _help("responses per prompt (the group; > 1 for 'group')", default=1)
    temperature: float = _help("sampling temperature τ (log-probs use the same τ)", default=1.0)
    gamma: float = _help("discount γ within a response (RLHF uses 1)", default=1.0)
    lam: float = _help("GAE λ", default=0.95)
    kl_beta: float = _help("β of the KL to the reference (a per-token reward penalty, or a loss term: kl_in)", default=0.05)
    kl_estimator: str = _help("'k1' (log-ratio) or 'k3' (non-negative; kl_in='loss' needs it)", default="k1")
    kl_in: str = _help("where β·KL goes: 'reward' (per-token penalty, InstructGPT) or 'loss' (a policy-loss term, GRPO)", default="reward")
    group_std: bool = _help(
        "'group' only: divide by the group's standard deviation of total returns (GRPO also sets normalize_advantages=False)",
        default=False,
    )
    normalize_advantages: bool = _help("standardise (whiten) advantages over the valid tokens of the batch", default=True)
    n_epochs: int = _help("passes over each iteration's batch", default=4)
    minibatch_size: int = _help("sequences per minibatch", default=32)
    clip_range: float = _help("ε of the clipped surrogate", default=0.2)
    clip_range_value: float = _help("ε_V of value clipping (0 = none)", default=0.2)
    policy_learning_rate: float = _help("Adam step size of the policy", default=1e-4)
    critic_learning_rate: float = _help("Adam step size of the critic", default=1e-3)
    max_grad_norm: float = _help("clip each model's global gradient norm to this", default=1.0)
    seed: int = _help("seed of prompts, sampling and the minibatch shuffles", default=0)

    def __post_init__(self) -> None:
        def need(condition: bool, name: str, wanted: str) -> None:
            require(condition, name, wanted, getattr(self, name))

        need(self.advantage in ("gae", "group"), "advantage", "'gae' or 'group'")
        for name in ("prompts_per_iteration", "samples_per_prompt", "n_epochs", "minibatch_size"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and value >= 1, name, "a whole number ≥ 1")
        need(self.advantage != "group" or self.samples_per_prompt >= 2, "samples_per_prompt",
             "at least 2 for the group baseline (a group of one has nothing to compare with)")
        for name in ("gamma", "lam"):
            need(0.0 <= getattr(self, name) <= 1.0, name, "a number in [0, 1]")
        need(self.temperature > 0, "temperature", "positive")
        need(self.kl_beta >= 0, "kl_beta", "≥ 0")
        need(self.kl_estimator in ("k1", "k3"), "kl_estimator", "'k1' or 'k3'")
        need(self.kl_in in ("reward", "loss"), "kl_in", "'reward' or 'loss'")
        # k1's gradient is ∇log π_θ(y), zero in expectation on-policy: as a loss term it would not pull at all
        need(self.kl_in == "reward" or self.kl_estimator == "k3", "kl_estimator",
             "'k3' when kl_in='loss' (k1's gradient is zero in expectation, so it would not pull toward the reference)")
        need(not self.group_std or self.advantage == "group", "group_std", "False unless advantage='group'")
        need(0 < self.clip_range < 1, "clip_range", "in (0, 1)")
        need(self.clip_range_value >= 0, "clip_range_value", "≥ 0")
        for name in ("policy_learning_rate", "critic_learning_rate", "max_grad_norm"):
            need(getattr(self, name) > 0 and math.isfinite(getattr(self, name)), name, "a positive number")

    @property
    def sequences_per_iteration(self) -> int:
        """Sequences per iteration: prompts × samples per prompt."""
        return self.prompts_per_iteration * self.samples_per_prompt


def copy_model(model: TinyCausalLM, name: str) -> TinyCausalLM:
    """A new TinyCausalLM with the same architecture and weights (e.g. the frozen reference)."""
    config = dict(model.get_config(), name=name)
    copy = TinyCausalLM.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _without(variables: list[Any], excluded: list[Any]) -> list[Any]:
    return [v for v in variables if not any(v is e for e in excluded)]


GROUP_STD_EPSILON = 1e-6
"""ε of the group standard deviation's division (verl's compute_grpo_outcome_advantage uses 1e-6)."""


def group_baseline_advantages(
    rewards: tf.Tensor, response_mask: tf.Tensor, group_size: int, *, divide_by_std: bool = False
) -> tf.Tensor:
    """Critic-free advantages: return-to-go minus the mean total return of the prompt's group.

        G_t = Σ_{k≥t} r_k (γ = 1),   b_g = mean_{i in group g} G_0^(i),   Â_t = G_t − b_g  on valid tokens
        divide_by_std:  Â_t = (G_t − b_g) / (s_g + ε),  s_g = sample standard deviation (n − 1) of G_0 in g

    `rewards` [B, T] with B = prompts × group_size, the group's samples adjacent (rows g·n … g·n + n − 1).
    REINFORCE with a group-mean baseline, as GRPO (Shao et al. 2024, arXiv:2402.03300) uses instead of V;
    with the rewards a score on the last token (the KL in the loss) G_t is the score at every token and the
    divided form is GRPO's outcome advantage. A group whose totals are all equal gets Â = 0.
    """
    mask = tf.cast(response_mask, rewards.dtype)  # [B, T]
    rewards = rewards * mask
    returns_to_go = tf.cumsum(rewards, axis=1, reverse=True)  # G_t [B, T]
    totals = tf.reshape(returns_to_go[:, 0], [-1, group_size])  # G_0 [prompts, n]
    baseline = tf.repeat(tf.reduce_mean(totals, axis=1), group_size)  # b_g per row [B]
    advantages = returns_to_go - baseline[:, None]  # [B, T]
    if divide_by_std:
        deviations = totals - tf.reduce_mean(totals, axis=1, keepdims=True)  # [prompts, n]
        spread = tf.sqrt(tf.reduce_sum(tf.square(deviations), axis=1) / (group_size - 1))  # s_g [prompts]
        advantages = advantages / (tf.repeat(spread, group_size)[:, None] + GROUP_STD_EPSILON)
    return advantages * mask


@dataclass
class IterationBatch:
    """One iteration's samples and the numbers computed from them, batch-major [B, R]."""

    prompts: np.ndarray  # [B, P] int32
    operands: np.ndarray  # [B, 2]
    responses: tf.Tensor  # [B, R] int32
    mask: tf.Tensor  # [B, R] float32, 1 on response tokens (the EOS included)
    scores: np.ndarray  # [B] verifier score (1 = exact answer + EOS)
    log_probs: tf.Tensor  # [B, R] log π_old(y_t)
    reference_log_probs: tf.Tensor  # [B, R] log π_ref(y_t)
    values: tf.Tensor  # [B, R] V_old(s_t) (zeros without a critic)
    rewards: tf.Tensor  # [B, R] −β KL_t + score on the last token (the score alone with kl_in = "loss")
    kl: tf.Tensor  # [B, R] per-token KL estimate
    advantages: tf.Tensor  # [B, R] before whitening
    returns: tf.Tensor  # [B, R] critic targets (GAE) or returns-to-go (group)


class LMPPOTrainer:
    """PPO on a :class:`TinyCausalLM` policy with a frozen reference and (for 'gae') a separate critic."""

    def __init__(
        self,
        policy: TinyCausalLM,
        task: AdditionTask,
        config: LMPPOConfig,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        """`policy` is trained in place. `strategy`: a tf.distribute.Strategy to update with (chapter 8); the
        policy must then have been built inside `strategy.scope()`, and the trainer builds the reference, the
        critic and the optimizers there too. Every minibatch must split evenly over the replicas."""
        self.config = config
        self.task = task
        self.policy = policy
        self.strategy = strategy
        if strategy is not None:
            outside = [  # a Keras 3 variable holds the tf.Variable (mirrored, in the scope) as `.value`
                v.name for v in policy.variables if not strategy.extended.variable_created_in_scope(v.value)
            ]
            if outside:
                raise ValueError(
                    f"policy has {len(outside)} variables created outside the strategy's scope (e.g. {outside[0]}); "
                    "build it inside `with strategy.scope():` (or copy it there: "
                    "`with strategy.scope(): policy = tf_gae.llm.ppo.copy_model(policy, 'policy')`)"
                )
            check_even_split(
                self.minibatch_sizes(), strategy,
                "choose minibatch_size and prompts_per_iteration × samples_per_prompt divisible by the number of "
                "replicas",
            )  # fmt: skip
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.reference = copy_model(policy, "reference")  # frozen: never given to an optimizer
            self.critic = copy_model(policy, "critic") if config.advantage == "gae" else None
            # The policy is trained through its LM head only and the critic through its value head only.
            self.policy_variables = _without(policy.trainable_variables, policy.value_head.trainable_variables)
            self.policy_optimizer = keras.optimizers.Adam(config.policy_learning_rate)
            self.policy_optimizer.build(self.policy_variables)
            # token-mean losses: each replica's share n/N of the minibatch's N valid tokens, summed
            learner = functools.partial(
                Learner, max_grad_norm=config.max_grad_norm, strategy=strategy, reduction="token_sum", weights_key="mask",
                seed=config.seed,
            )
            self.policy_learner = learner(self.policy_variables, self.policy_optimizer)
            if self.critic is not None:
                self.critic_variables = _without(
                    self.critic.trainable_variables, self.critic.lm_head.trainable_variables
                )
                self.critic_optimizer = keras.optimizers.Adam(config.critic_learning_rate)
                self.critic_optimizer.build(self.critic_variables)
                self.critic_learner = learner(self.critic_variables, self.critic_optimizer)
        self.rng = np.random.default_rng(config.seed)
        self.iteration = 0
        self._update = tf.function(self._update_graph, reduce_retracing=True, autograph=False)
        self._score_tokens = tf.function(self._score_tokens_graph, reduce_retracing=True, autograph=False)

    def minibatch_sizes(self) -> list[int]:
        """The numbers of sequences one gradient step sees: full minibatches and the remainder, if any."""
        batch, minibatch = self.config.sequences_per_iteration, self.config.minibatch_size
        sizes = [min(batch, minibatch)]
        if minibatch < batch and batch % minibatch:
            sizes.append(batch % minibatch)
        return sizes

    # ------------------------------------------------------------------ one batch of experience

    def _score_tokens_graph(self, prompts, responses):
        log_probs, _ = response_log_probs_and_values(self.policy, prompts, responses, self.config.temperature)
        reference_log_probs, _ = response_log_probs_and_values(self.reference, prompts, responses, self.config.temperature)
        if self.critic is not None:
            _, values = response_log_probs_and_values(self.critic, prompts, responses, self.config.temperature)
        else:
            values = tf.zeros_like(log_probs)
        return log_probs, reference_log_probs, values

    def collect(self) -> IterationBatch:
        """Steps 1-4: sample, score, shape the rewards, compute advantages."""
        config = self.config
        prompts, operands = self.task.sample_prompts(config.prompts_per_iteration, self.rng)
        prompts = np.repeat(prompts, config.samples_per_prompt, axis=0)  # a prompt's group is adjacent
        operands = np.repeat(operands, config.samples_per_prompt, axis=0)
        responses, mask = generate(
            self.policy, prompts, self.task.max_response_length, temperature=config.temperature,
            seed=[config.seed, self.iteration],
        )  # fmt: skip
        scores = self.task.rewards(operands, responses.numpy(), mask.numpy())  # [B]
        log_probs, reference_log_probs, values = self._score_tokens(tf.constant(prompts), responses)
        scores = tf.cast(scores, log_probs.dtype)  # the model's float type sets every quantity's
        beta = config.kl_beta if config.kl_in == "reward" else 0.0  # with kl_in = "loss" the rewards are the score
        rewards, kl = kl_penalty_rewards(scores, log_probs, reference_log_probs, mask, beta=beta, estimator=config.kl_estimator)
        if config.advantage == "gae":
            advantages, returns = token_gae(rewards, values, mask, gamma=config.gamma, lambda_=config.lam)
        else:
            advantages = group_baseline_advantages(rewards, mask, config.samples_per_prompt, divide_by_std=config.group_std)
            returns = tf.cumsum(rewards * mask, axis=1, reverse=True)
        return IterationBatch(
            prompts, operands, responses, mask, scores, log_probs, reference_log_probs, values, rewards, kl,
            advantages, returns,
        )  # fmt: skip

    # ------------------------------------------------------------------ the updates

    def policy_loss(self, shard: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """(L_π, metrics) on a shard of sequences: the token mean of PPO's clipped surrogate, plus β·KL with
        kl_in = "loss", KL_t = k3(d_t) = e^{−d_t} − 1 + d_t, d_t = log π_θ(y_t) − log π_ref(y_t).
        Differentiable through the policy; `shard` holds prompts, responses, mask, log_probs (π_old),
        reference_log_probs and advantages, each [M, ...].

        The k3 term's value estimates KL(π_θ ‖ π_ref) on samples y ~ π; its gradient, (1 − π_ref/π_θ)(y) ∇log π_θ(y),
        has on-policy expectation ∇KL(π_ref ‖ π_θ), the reverse KL. Both pull π_θ toward π_ref (GRPO's k3 loss
        does the same). The tokens come from π_old, without an importance ratio: exact on the first minibatch step,
        approximate on the later ones."""
        config = self.config
        valid = shard["mask"] > 0  # [M, R]
        log_probs, _ = response_log_probs_and_values(self.policy, shard["prompts"], shard["responses"], config.temperature)
        log_probs = tf.boolean_mask(log_probs, valid)  # log π_θ(y_t) [valid tokens]
        # PPO's clipped surrogate over the valid tokens only (a token-mean loss, as verl's default).
        terms = losses.clipped_surrogate(
            log_probs, tf.boolean_mask(shard["log_probs"], valid), tf.boolean_mask(shard["advantages"], valid),
            config.clip_range,
        )  # fmt: skip
        log_ratio = log_probs - tf.boolean_mask(shard["reference_log_probs"], valid)  # d_t
        kl = tf.reduce_mean(losses.kl_from_log_ratio(log_ratio, config.kl_estimator))  # token mean of KL_t
        loss = terms.loss + config.kl_beta * kl if config.kl_in == "loss" else terms.loss
        return loss, dict(approx_kl=terms.approx_kl, clip_fraction=terms.clip_fraction, kl_to_reference=kl)

    def _policy_step_graph(self, minibatch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """One policy step on :meth:`policy_loss`."""
        loss, metrics, _, _ = self.policy_learner.step(self.policy_loss, minibatch)
        return dict(policy_loss=loss, **metrics)

    def _critic_step_graph(self, minibatch: dict[str, tf.Tensor]) -> tf.Tensor:
        """One critic step on the token mean of the (clipped) value loss; returns the loss."""
        clip = self.config.clip_range_value

        def token_mean(shard):
            _, values = response_log_probs_and_values(
                self.critic, shard["prompts"], shard["responses"], self.config.temperature
            )
            # token mean of (V − R)², or of its clipped form, over the shard's valid tokens [M/R, R_len]
            return losses.value_loss(values, shard["returns"], shard["values"], clip, weights=shard["mask"]), {}

        loss, _, _, _ = self.critic_learner.step(token_mean, minibatch)
        return loss

    _METRICS = ("policy_loss", "approx_kl", "clip_fraction", "kl_to_reference", "value_loss")

    def _update_graph(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """`n_epochs` shuffled passes over the iteration's sequences (tf_gae.learner's one minibatch loop),
        a policy step and a critic step per minibatch; returns each metric's mean over the minibatch steps."""

        def minibatch_step(minibatch):
            metrics = self._policy_step_graph(minibatch)
            metrics["value_loss"] = self._critic_step_graph(minibatch) if self.critic is not None else tf.zeros([])
            return metrics, tf.constant(True)

        result = self.policy_learner.minibatch_epochs(
            minibatch_step, batch, n_epochs=self.config.n_epochs, minibatch_size=self.config.minibatch_size,
            metric_names=self._METRICS,
        )  # fmt: skip
        return result.means()

    def step(self) -> tuple[IterationBatch, dict[str, float]]:
        """One iteration: :meth:`collect`, then :meth:`update`. Returns the batch and the update's metrics."""
        batch = self.collect()
        return batch, self.update(batch)

    def update(self, batch: IterationBatch) -> dict[str, float]:
        """Step 5 on a batch from :meth:`collect`: `n_epochs` of shuffled minibatch updates. Returns the metrics
        (each loss's mean over the minibatch steps, the batch's mean score, KL per sequence and token count)."""
        advantages = batch.advantages
        if self.config.normalize_advantages:
            advantages = masked_whiten(advantages, batch.mask)
        sequences = dict(  # every entry [B, ...], B = prompts × samples per prompt
            prompts=tf.constant(batch.prompts), responses=batch.responses, mask=batch.mask,
            log_probs=batch.log_probs, reference_log_probs=batch.reference_log_probs, values=batch.values,
            advantages=advantages, returns=batch.returns,
        )  # fmt: skip
        metrics = {name: float(value) for name, value in self._update(sequences).items()}
        self.iteration += 1
        mask = batch.mask.numpy()
        metrics.update(
            iteration=self.iteration,
            score=float(np.mean(batch.scores)),
            kl_per_sequence=float(np.mean(np.sum(batch.kl.numpy() * mask, axis=1))),
            response_tokens=float(np.sum(mask)),
        )
        if not all(math.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(f"non-finite metrics at iteration {self.iteration}: {metrics}")
        return metrics

    def sequence_kl(self, operands: np.ndarray) -> float:
        """KL(π ‖ π_ref) per sequence, estimated on fresh samples y ~ π for the prompts of `operands`:
        mean over sequences of Σ_t (log π − log π_ref)(y_t) (k1 summed over the response; unbiased)."""
        prompts = self.task.prompts(operands)
        responses, mask = generate(
            self.policy, prompts, self.task.max_response_length, temperature=self.config.temperature,
            seed=[self.config.seed + 1, 10_000 + self.iteration],
        )  # fmt: skip
        log_probs, reference_log_probs, _ = self._score_tokens(tf.constant(prompts), responses)
        return float(tf.reduce_mean(tf.reduce_sum((log_probs - reference_log_probs) * mask, axis=1)))
