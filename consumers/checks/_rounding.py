"""Python's ``round(x, digits)`` for a whole numpy array: same results, a tenth of the time.

Not a check itself (no ``SPEC``); the regression checks round every prediction they publish.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_EXACT_INTEGERS = 2.0**52
"""From here on a float64 has no fractional part, so scaling it up can lose digits."""
_TIE_ULPS = 4
"""How close (in units in the last place) to a tie a scaled value must be to count as doubtful."""
_VECTORISE_FROM = 32
"""Below this many values numpy's fixed cost per call (~10 µs) outweighs what it saves."""


def round_like_python(values: npt.NDArray[Any], digits: int) -> list[float]:
    """``[round(v, digits) for v in values.tolist()]``, vectorised, with identical results.

    Python's ``round`` picks the decimal nearest to the exact binary value, then the float
    nearest to that decimal. ``rint(v * 10**digits) / 10**digits`` does the same (IEEE division
    is correctly rounded) unless the product's own rounding moved it across, or onto, a
    half-way point; only values within a few ulps of one (or too large to scale, or not finite)
    can differ, and those few go through ``round`` itself. Costs ~0.03 µs a value, not ~0.3.
    """
    if len(values) < _VECTORISE_FROM:
        return [round(value, digits) for value in np.asarray(values, dtype=np.float64).tolist()]
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.asarray(values, dtype=np.float64) * scale
        distance_to_tie = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5)
        safe = (np.abs(scaled) < _EXACT_INTEGERS) & (
            distance_to_tie > _TIE_ULPS * np.spacing(np.abs(scaled))
        )
        rounded: list[float] = (np.rint(scaled) / scale).tolist()
    if not safe.all():
        originals = np.asarray(values, dtype=np.float64).tolist()
        for index in np.flatnonzero(~safe).tolist():
            rounded[index] = round(originals[index], digits)
    return rounded
