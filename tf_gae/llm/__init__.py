"""Generalized Advantage Estimation for language models (RLHF's PPO), at a size two CPU cores train.

- :mod:`tf_gae.llm.advantages`: token rewards (score on the last valid token, per-token KL penalty),
  token-level GAE on right-padded `[B, T]` batches, masked whitening — and the mask bugs they avoid;
- :mod:`tf_gae.llm.task`: a verifiable-reward task generated in code (exact addition);
- :mod:`tf_gae.llm.lm`: a tiny causal transformer LM in Keras 3 with a value head, sampling, per-token
  log-probs and a supervised warm start;
- :mod:`tf_gae.llm.ppo`: PPO with a frozen reference, a critic and token-level GAE, or critic-free with a
  group baseline (GRPO's group-normalised score); the KL to the reference in the reward or in the loss.
  Used by chapter 6.
"""

from tf_gae.llm.advantages import (
    KL_ESTIMATORS,
    kl_penalty_rewards,
    masked_mean,
    masked_whiten,
    score_rewards,
    token_gae,
)
from tf_gae.llm.lm import TinyCausalLM, expected_accuracy, generate, supervised_warm_start
from tf_gae.llm.ppo import LMPPOConfig, LMPPOTrainer
from tf_gae.llm.task import AdditionTask

__all__ = [
    "score_rewards",
    "kl_penalty_rewards",
    "token_gae",
    "masked_mean",
    "masked_whiten",
    "KL_ESTIMATORS",
    "AdditionTask",
    "TinyCausalLM",
    "generate",
    "supervised_warm_start",
    "expected_accuracy",
    "LMPPOConfig",
    "LMPPOTrainer",
]
