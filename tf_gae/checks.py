"""Argument checks at the library's boundary, one copy for every module.

Each function returns the value as a plain Python number, or raises ValueError (or the `error` class
given) with one line that names the argument, says what it must be and, where one helps, shows a value
to pass. NumPy scalars count as numbers; booleans never do (True is not a count of layers). Imports
neither TensorFlow nor NumPy, so the command's flag checks stay instant.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

__all__ = ["require", "positive_int", "finite_number", "unit_interval", "layer_widths"]


def _example(name: str, example: str | None) -> str:
    return f"; pass e.g. {name}={example}" if example is not None else ""


def require(
    condition: bool, name: str, wanted: str, value: Any, *, error: Callable[[str], Exception] = ValueError
) -> None:
    """Raise `error("<name> must be <wanted>, got <value>")` unless `condition` (`error`: an exception class,
    or any callable that makes one from the message)."""
    if not condition:
        raise error(f"{name} must be {wanted}, got {value!r}")


def _is_integer(value: Any) -> bool:  # NumPy's bool_ is no Integral; Python's bool is
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value: Any, name: str, example: str | None = None) -> int:
    """`value` as an int ≥ 1."""
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}{_example(name, example)}")
    return int(value)


def finite_number(value: Any, name: str, example: str | None = None, *, minimum: float | None = None) -> float:
    """`value` as a finite float, at least `minimum` when one is given."""
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}{_example(name, example)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value!r}{_example(name, example)}")
    return float(value)


def unit_interval(value: Any, name: str, example: str | None = None) -> float:
    """`value` as a float in [0, 1] (a discount γ, a λ, a probability)."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}{_example(name, example)}")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must lie in [0, 1], got {number}{_example(name, example)}")
    return number


def layer_widths(value: Any, name: str = "hidden_sizes") -> tuple[int, ...]:
    """`value` (a sequence of positive integers, e.g. (64, 64)) as a tuple of ints."""
    try:
        widths = tuple(value)
    except TypeError:
        widths = None
    if not widths or not all(_is_integer(width) and width >= 1 for width in widths):
        raise ValueError(f"{name} must be a sequence of positive integers, e.g. (64, 64), got {value!r}")
    return tuple(int(width) for width in widths)
