"""tf_gae.checks: the one set of argument checks, on the values users actually pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tf_gae.checks import finite_number, layer_widths, positive_int, require, unit_interval


def test_numbers_from_python_and_numpy_are_returned_as_plain_python_numbers():
    assert positive_int(np.int64(3), "n") == 3 and type(positive_int(np.int64(3), "n")) is int
    assert finite_number(np.float32(0.5), "x") == 0.5 and type(finite_number(np.float32(0.5), "x")) is float
    assert unit_interval(1, "gamma") == 1.0
    assert layer_widths([64, np.int32(32)]) == (64, 32)


@pytest.mark.parametrize(
    "check, message",
    [
        (lambda: positive_int(True, "num_envs"), "num_envs must be a positive integer, got True"),
        (lambda: positive_int(0, "num_envs", "8"), "num_envs must be a positive integer, got 0; pass e.g. num_envs=8"),
        (lambda: positive_int(2.0, "n"), "n must be a positive integer"),
        (lambda: finite_number(math.nan, "press_cost"), "press_cost must be a finite number"),
        (lambda: finite_number(np.bool_(True), "x"), "x must be a finite number"),
        (lambda: finite_number(-1.0, "press_cost", minimum=0.0), "press_cost must be ≥ 0.0, got -1.0"),
        (lambda: unit_interval(math.nan, "lam"), "lam must lie in [0, 1], got nan"),
        (lambda: unit_interval("0.9", "lam"), "lam must be a real number in [0, 1]"),
        (lambda: layer_widths(64), "hidden_sizes must be a sequence of positive integers"),
        (lambda: layer_widths(()), "hidden_sizes must be a sequence of positive integers"),
        (lambda: layer_widths((64, 0)), "hidden_sizes must be a sequence of positive integers"),
        (lambda: require(False, "--n-epochs", "a whole number ≥ 1", 0), "--n-epochs must be a whole number ≥ 1, got 0"),
    ],
)
def test_bad_values_get_one_line_naming_the_argument(check, message):
    with pytest.raises(ValueError) as error:
        check()
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
