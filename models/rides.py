"""The ride models: trip duration in minutes and tip in dollars, from what is known at pickup.

Both are ridge regressions over the shared sparse design matrix: they train in about a second,
generalise across the 70k zone pairs through the per-zone terms, and are cheap to serve. They are
fitted with scikit-learn but keep only their coefficients (``LinearTerms``), so a consumer that
loads one imports numpy and scipy.sparse, never scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from models.features import RideColumns, ride_design, ride_design_matrix
from models.linear import LinearTerms

Array = npt.NDArray[Any]
UNTIPPED_PAYMENT_TYPES = (2, 3, 4, 6)
"""Cash tips are not recorded by the TLC meter; no-charge, disputed and voided trips have none."""


class DurationRegressor:
    """Predicts minutes; fits log(1 + minutes) because trip times are skewed and multiplicative."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.terms: LinearTerms | None = None

    def fit(self, columns: RideColumns, minutes: Array) -> DurationRegressor:
        from sklearn.linear_model import Ridge  # training only: serving never imports sklearn

        ridge = Ridge(alpha=self.alpha).fit(ride_design_matrix(columns), np.log1p(minutes))
        self.terms = LinearTerms.of(ridge)
        return self

    def predict(self, columns: RideColumns) -> Array:
        if len(columns) == 0:
            return np.zeros(0)
        minutes: Array = np.maximum(
            np.expm1(_fitted(self.terms).predict(ride_design(columns))), 0.0
        )
        return minutes

    def __setstate__(self, state: dict[str, Any]) -> None:
        _adopt_legacy(self, state)


class TipRegressor:
    """Predicts dollars: exactly zero for untipped payment types, a ridge fit for the rest.

    Learning only from rides that can carry a recorded tip keeps cash rides' zeros from dragging
    card estimates down, and the rule makes "cash tips nothing" a guarantee, not a tendency.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.terms: LinearTerms | None = None

    def fit(self, columns: RideColumns, tips: Array) -> TipRegressor:
        from sklearn.linear_model import Ridge  # training only: serving never imports sklearn

        tipped = ~self.untipped(columns)
        ridge = Ridge(alpha=self.alpha).fit(ride_design_matrix(columns.take(tipped)), tips[tipped])
        self.terms = LinearTerms.of(ridge)
        return self

    def predict(self, columns: RideColumns) -> Array:
        dollars = np.zeros(len(columns))
        tipped = ~self.untipped(columns)
        if tipped.any():
            estimate = _fitted(self.terms).predict(ride_design(columns.take(tipped)))
            dollars[tipped] = np.maximum(estimate, 0.0)
        return dollars

    def __setstate__(self, state: dict[str, Any]) -> None:
        _adopt_legacy(self, state)

    @staticmethod
    def untipped(columns: RideColumns) -> Array:
        return np.isin(columns.payment_type, UNTIPPED_PAYMENT_TYPES)


def _fitted(terms: LinearTerms | None) -> LinearTerms:
    if terms is None:
        raise ValueError("the model has not been fitted")
    return terms


def _adopt_legacy(model: DurationRegressor | TipRegressor, state: dict[str, Any]) -> None:
    """Artifacts written before ``LinearTerms`` pickled the scikit-learn estimator itself
    (a Ridge, or a TransformedTargetRegressor over one for duration): take its numbers, so
    models trained by earlier releases keep serving with identical predictions."""
    legacy = state.pop("estimator", None)
    model.__dict__.update(state)
    if legacy is not None:
        ridge = getattr(legacy, "regressor_", legacy)
        model.terms = LinearTerms.of(ridge)
        model.__dict__.setdefault("alpha", getattr(ridge, "alpha", 1.0))
