"""What a tf.distribute.Strategy needs of a batch and its gradients. Chapter 8.

The gradient itself is computed in :mod:`tf_gae.learner` (`batch_gradients`). With a strategy (e.g. `MirroredStrategy` over several GPUs, `MultiWorkerMirroredStrategy` across
machines) replica r computes the loss on the r-th of R equal shards of the batch and the replicas'
gradients are combined across devices:

- `MEAN` when the loss is a mean over samples: mean_r ∇(mean over shard r) = ∇(mean over the batch),
  because every shard has N/R samples (A2C, REINFORCE, PPO);
- `SUM` when each replica's loss is already its share of a global mean, Σ_{i in shard r} ℓ_i / N with N
  counted over the whole batch: Σ_r ∇ = ∇(Σ_i ℓ_i / N). This is the form for a token-mean loss, whose
  shards hold different numbers of valid tokens (chapter 6's PPO for language models).

Whatever the normalisation statistics (advantage whitening, token counts), they are taken over the whole
batch before it is split, so the result is the single-device gradient up to float rounding
(tests/test_distribute.py). Variables and optimizers must have been created in the strategy's scope.
"""

from __future__ import annotations

from typing import Sequence

from tf_gae._tf import tf

__all__ = ["check_even_split", "dense_gradients"]



def dense_gradients(gradients: Sequence[object]) -> list[object]:
    """`gradients` with every `tf.IndexedSlices` made a dense tensor (None stays None).

    Keras 3's Adam on TensorFlow took oversized steps with IndexedSlices gradients in this environment
    (tf_gae.llm.lm's docstring), and dense gradients are what the cross-replica reductions expect.
    """
    return [
        tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient
        for gradient in gradients
    ]


def check_even_split(sizes: Sequence[int], strategy: tf.distribute.Strategy | None, fix: str) -> None:
    """Raise ValueError unless every batch size in `sizes` splits evenly over the strategy's replicas."""
    if strategy is None:
        return
    replicas = strategy.num_replicas_in_sync
    for size in sizes:
        if size % replicas:
            raise ValueError(f"a batch of {size} samples does not split evenly over {replicas} replicas; {fix}")
