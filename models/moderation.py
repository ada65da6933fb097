"""Text classifiers for upload moderation (nsfw, violence): TF-IDF words plus uploader history.

Why logistic regression: it minimises log loss, a proper scoring rule, so its outputs are
already calibrated probabilities on the training distribution; a separate calibration step
(``CalibratedClassifierCV``) would cost several refits for little gain. Class weights are left
unbalanced on purpose, since re-weighting would shift the probabilities away from the true rates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.features import UploadColumns

if TYPE_CHECKING:
    from scipy import sparse

Array = npt.NDArray[Any]


class TextFlagClassifier:
    """P(flag) for one moderation label from an upload's words and its uploader's record."""

    def __init__(self, c: float = 4.0, max_features: int = 20_000) -> None:
        # Imported here, not at module level: a process that serves only ride checks imports
        # this module (through the check registry) and must not pay for scikit-learn.
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True
        )
        self.classifier = LogisticRegression(C=c, max_iter=1_000)

    def fit(self, columns: UploadColumns, flagged: Array) -> TextFlagClassifier:
        words = self.vectorizer.fit_transform(columns.text)
        self.classifier.fit(self._design(words, columns), flagged.astype(bool))
        return self

    def predict_proba(self, columns: UploadColumns) -> Array:
        """Probability of the flag, one per upload, in order."""
        if len(columns) == 0:
            return np.zeros(0)
        return self.probabilities(self.vectorizer.transform(columns.text), columns)

    def probabilities(self, words: sparse.spmatrix, columns: UploadColumns) -> Array:
        """``predict_proba`` from words this model's vectorizer (or an equal one) made of
        ``columns.text``: lets models with equal vectorizers share one transform per batch."""
        probabilities: Array = self.classifier.predict_proba(self._design(words, columns))[:, 1]
        return probabilities

    @staticmethod
    def _design(words: sparse.spmatrix, columns: UploadColumns) -> sparse.csr_matrix:
        from scipy import sparse  # with scikit-learn, which needs it anyway

        return sparse.hstack([words, sparse.csr_matrix(columns.uploader_matrix())], format="csr")
