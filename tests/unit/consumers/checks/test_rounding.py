"""round_like_python: the vectorised rounding gives exactly what Python's round gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from consumers.checks._rounding import round_like_python


def python_round(values: np.ndarray, digits: int) -> list[float]:
    return [round(value, digits) for value in values.tolist()]


def same_floats(got: list[float], want: list[float]) -> bool:
    """Equal, with the same sign for zeros and NaN where NaN is expected."""
    return len(got) == len(want) and all(
        (math.isnan(g) and math.isnan(w)) or (g == w and math.copysign(1, g) == math.copysign(1, w))
        for g, w in zip(got, want, strict=True)
    )


def near_ties(digits: int) -> np.ndarray:
    """Values at, and one or two ulps either side of, every half-way point: where scaling by
    10**digits and rounding would disagree with Python's correctly rounded ``round``."""
    ties = (np.arange(-50_000, 50_000) + 0.5) / 10.0**digits
    below, above = np.nextafter(ties, -np.inf), np.nextafter(ties, np.inf)
    return np.concatenate(
        [ties, below, above, np.nextafter(below, -np.inf), np.nextafter(above, np.inf)]
    )


@pytest.mark.parametrize("digits", [2, 4])
def test_values_next_to_half_way_points_round_exactly_as_python_rounds_them(digits: int) -> None:
    values = near_ties(digits)
    naive = (np.rint(values * 10.0**digits) / 10.0**digits).tolist()
    assert not same_floats(naive, python_round(values, digits))  # the inputs are discriminating

    assert same_floats(round_like_python(values, digits), python_round(values, digits))


@pytest.mark.parametrize("digits", [2, 4])
def test_random_predictions_round_exactly_as_python_rounds_them(digits: int) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [rng.random(50_000) * 120, rng.lognormal(0, 3, 50_000), -rng.random(1_000)]
    )

    assert same_floats(round_like_python(values, digits), python_round(values, digits))


def test_special_and_huge_values_round_as_python_rounds_them() -> None:
    specials = [0.0, -0.0, -0.001, 5e-324, 2.675, 1.005, 2.0**52 / 100, 2.0**53, 1e300, -1e300]
    specials += [1.7976931348623157e308, math.inf, -math.inf, math.nan, 12345678901234.567]
    values = np.array(specials * 4)  # long enough to take the vectorised path

    assert same_floats(round_like_python(values, 2), python_round(values, 2))


def test_short_arrays_and_empty_ones_give_plain_floats() -> None:
    assert round_like_python(np.array([2.675, 0.125]), 2) == [2.67, 0.12]
    assert round_like_python(np.zeros(0), 2) == []
    assert all(type(v) is float for v in round_like_python(np.arange(100.0) / 3, 2))
