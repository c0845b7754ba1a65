"""REINFORCE with a learned baseline (Williams 1992; Sutton & Barto §13.4). Introduced in chapter 3.

Each update trains on B whole episodes, one per environment, each from its first step to its end:

    G_t = Σ_{l=0}^{L−1−t} γ^l r_{t+l}        (the Monte-Carlo return to the episode's end, step L−1)
    Â_t = G_t − V(s_t)                        (V is only the baseline: nothing is bootstrapped from it)

which is GAE with λ = 1 on an episode that ends at L (chapter 4: the TD errors telescope to G_t − V(s_t)).
A time limit, or the cap `n_steps`, ends an episode as its termination does: the return counts the
rewards received and stops. Set `--lam` below 1 to use GAE(γ, λ) inside each episode instead.

The episodes of a batch have different lengths; the rollout is T = n_steps (default the time limit)
steps long with a mask that is 1 inside each episode, and every loss and statistic is a mean over the
masked steps (tf_gae.rollout, "episodic"). env_steps counts the steps inside the episodes.
"""

from __future__ import annotations

from tf_gae._tf import tf
from tf_gae.config import ReinforceConfig
from tf_gae.trainers.base import Trainer

__all__ = ["ReinforceConfig", "ReinforceTrainer"]


class ReinforceTrainer(Trainer):
    config_class = ReinforceConfig
    algo = "reinforce"

    def advantages_and_returns(self, rollout_tensors: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """GAE(γ, λ) with every episode's last step as its end, however it ended: [T, B] advantages and
        targets; with λ = 1, Â_t = G_t − V(s_t) and the target is G_t."""
        ended = rollout_tensors["terminated"] | rollout_tensors["truncated"]  # [T, B]
        last_row = tf.range(tf.shape(ended)[0])[:, None] == tf.shape(ended)[0] - 1  # [T, 1]: T cuts the rest
        ends = dict(rollout_tensors, terminated=ended | last_row, truncated=tf.zeros_like(ended))
        return super().advantages_and_returns(ends)
