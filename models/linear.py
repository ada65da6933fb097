"""A fitted linear model reduced to its numbers, so serving it needs numpy and nothing else.

The ride models are ridge regressions: once fitted, a prediction is ``X @ coef + intercept``.
Keeping only those arrays in the pickled artifact means loading it never imports scikit-learn
(about 2 s of imports, scipy.stats among them), which is most of a Lambda cold start, and a
prediction skips scikit-learn's per-call input checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.features import RideDesign
from streamjury.errors import ModelError

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class LinearTerms:
    """Coefficients and intercept of a fitted linear regression."""

    coef: Array
    intercept: float

    @classmethod
    def of(cls, estimator: Any) -> LinearTerms:
        """From a fitted scikit-learn linear regressor (anything with ``coef_``/``intercept_``)."""
        coef = np.asarray(estimator.coef_, dtype=np.float64).ravel()
        return cls(coef=coef, intercept=float(np.asarray(estimator.intercept_).ravel()[0]))

    def predict(self, design: RideDesign) -> Array:
        """Each row's entries gathered from ``coef`` and summed: the sparse product, in numpy."""
        if design.width != self.coef.shape[0]:
            raise ModelError(
                f"the model expects {self.coef.shape[0]} features, the data has {design.width}: "
                "retrain it with this release ('streamjury train')"
            )
        scores: Array = (self.coef[design.indices] * design.data).sum(axis=1)
        return scores + self.intercept
