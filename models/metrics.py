"""Held-out metrics, each reported beside the figure a trivial model gets on the same rows.

A number alone says little; "MAE 3.9 min against 14.3 for predicting the mean" says what it buys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score

from models.manifest import Metric
from streamjury.errors import ModelError

Array = npt.NDArray[Any]


def regression_metrics(truth: Array, predicted: Array, training_truth: Array) -> list[Metric]:
    """MAE then RMSE, against always predicting the training mean."""
    baseline = np.full(len(truth), float(np.mean(training_truth)))
    kind = "training mean"
    return [
        Metric(
            name="mae",
            value=float(mean_absolute_error(truth, predicted)),
            baseline=float(mean_absolute_error(truth, baseline)),
            baseline_kind=kind,
            higher_is_better=False,
        ),
        Metric(
            name="rmse",
            value=_rmse(truth, predicted),
            baseline=_rmse(truth, baseline),
            baseline_kind=kind,
            higher_is_better=False,
        ),
    ]


def classifier_metrics(truth: Array, probability: Array, training_truth: Array) -> list[Metric]:
    """ROC AUC (a constant scores 0.5) then Brier score (against the training base rate)."""
    labels = truth.astype(bool)
    if labels.all() or not labels.any():
        raise ModelError("the held-out rows hold only one class: train on more rows")
    base_rate = np.full(len(truth), float(np.mean(training_truth)))
    return [
        Metric(
            name="roc_auc",
            value=float(roc_auc_score(labels, probability)),
            baseline=0.5,
            baseline_kind="constant score",
            higher_is_better=True,
        ),
        Metric(
            name="brier",
            value=float(brier_score_loss(labels, probability)),
            baseline=float(brier_score_loss(labels, base_rate)),
            baseline_kind="training base rate",
            higher_is_better=False,
        ),
    ]


def _rmse(truth: Array, predicted: Array) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(predicted)) ** 2)))
