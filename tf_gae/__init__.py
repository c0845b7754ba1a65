"""tf_gae: Generalized Advantage Estimation in TensorFlow 2 / Keras, from theory to practice.

The kernel and its relatives live in :mod:`tf_gae.advantages` (chapters 2-4 explain them).
"""

from tf_gae.advantages import (
    GAEOutput,
    discounted_returns,
    gae,
    lambda_returns,
    normalize_advantages,
    td_residuals,
)

__version__ = "0.1.0"

__all__ = [
    "GAEOutput",
    "gae",
    "td_residuals",
    "lambda_returns",
    "discounted_returns",
    "normalize_advantages",
    "__version__",
]
