"""tf_gae: Generalized Advantage Estimation in TensorFlow 2 / Keras, from theory to practice.

The kernel and its relatives live in :mod:`tf_gae.advantages` (chapters 2-4 explain them); `train`,
`load` and the `Agent` they return in :mod:`tf_gae.api` (chapter 5); `sweep`, many seeds and settings
through one compiled program, in :mod:`tf_gae.sweeps`.
"""

import importlib
from typing import Any

_LAZY = {name: "tf_gae.advantages" for name in
         ("GAEOutput", "gae", "td_residuals", "lambda_returns", "discounted_returns", "normalize_advantages")}  # fmt: skip
_LAZY.update({name: "tf_gae.api" for name in ("train", "load", "Agent")})
_LAZY["sweep"] = "tf_gae.sweeps"  # the module is named apart from the function it exports


def __getattr__(name: str) -> Any:
    """Import TensorFlow on first use of the kernel, not on `import tf_gae` (`tf-gae --help` stays quick)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tf_gae' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "GAEOutput",
    "gae",
    "td_residuals",
    "lambda_returns",
    "discounted_returns",
    "normalize_advantages",
    "train",
    "load",
    "Agent",
    "sweep",
    "__version__",
]
