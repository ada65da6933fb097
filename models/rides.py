"""The ride models: trip duration in minutes and tip in dollars, from what is known at pickup.

Both are ridge regressions over the shared sparse design matrix: they train in about a second,
generalise across the 70k zone pairs through the per-zone terms, and are cheap to serve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge

from models.features import RideColumns, ride_design_matrix

Array = npt.NDArray[Any]
UNTIPPED_PAYMENT_TYPES = (2, 3, 4, 6)
"""Cash tips are not recorded by the TLC meter; no-charge, disputed and voided trips have none."""


class DurationRegressor:
    """Predicts minutes; fits log(1 + minutes) because trip times are skewed and multiplicative."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.estimator = TransformedTargetRegressor(
            regressor=Ridge(alpha=alpha), func=np.log1p, inverse_func=np.expm1
        )

    def fit(self, columns: RideColumns, minutes: Array) -> DurationRegressor:
        self.estimator.fit(ride_design_matrix(columns), minutes)
        return self

    def predict(self, columns: RideColumns) -> Array:
        if len(columns) == 0:
            return np.zeros(0)
        minutes: Array = np.maximum(self.estimator.predict(ride_design_matrix(columns)), 0.0)
        return minutes


class TipRegressor:
    """Predicts dollars: exactly zero for untipped payment types, a ridge fit for the rest.

    Learning only from rides that can carry a recorded tip keeps cash rides' zeros from dragging
    card estimates down, and the rule makes "cash tips nothing" a guarantee, not a tendency.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.estimator = Ridge(alpha=alpha)

    def fit(self, columns: RideColumns, tips: Array) -> TipRegressor:
        tipped = ~self.untipped(columns)
        self.estimator.fit(ride_design_matrix(columns.take(tipped)), tips[tipped])
        return self

    def predict(self, columns: RideColumns) -> Array:
        dollars = np.zeros(len(columns))
        tipped = ~self.untipped(columns)
        if tipped.any():
            estimate = self.estimator.predict(ride_design_matrix(columns.take(tipped)))
            dollars[tipped] = np.maximum(estimate, 0.0)
        return dollars

    @staticmethod
    def untipped(columns: RideColumns) -> Array:
        return np.isin(columns.payment_type, UNTIPPED_PAYMENT_TYPES)
