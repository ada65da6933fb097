"""The live-quality metrics: absolute error per check, model version and arm, and the join's size.

MAE of a series is ``streamjury_live_abs_error_sum / streamjury_live_abs_error_count`` (over a
range: ``rate(..._sum[1h]) / rate(..._count[1h])``). Labels are bounded: checks, the versions
being served and three arms; never an event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from decision.model_compare import TRUTH_OF_CHECK
from decision.quality.join import Error, Expired

SERVICE = "quality"
SERIES_LABELS = ("service", "check", "model_version", "arm")
ERROR_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)
"""Minutes for duration, dollars for tip."""


class QualityMetrics(Protocol):
    """What the quality service reports, once per batch."""

    def observe(
        self, errors: Sequence[Error], expired: Expired, pending: int, duplicates: int
    ) -> None:
        """Errors of predictions that met their outcome, what expired unmatched, the join size."""
        ...


class NullQualityMetrics:
    """Reports nothing: a service run without an HTTP port, and tests of the loop alone."""

    def observe(
        self, errors: Sequence[Error], expired: Expired, pending: int, duplicates: int
    ) -> None:
        return None


class PrometheusQualityMetrics:
    """The live-quality metrics on ``registry`` (the service's own, served on /metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._abs_error = Histogram(
            "streamjury_live_abs_error",
            "Absolute error of a prediction against its ride_completed outcome.",
            SERIES_LABELS,
            buckets=ERROR_BUCKETS,
            registry=registry,
        )
        self._signed_error = Gauge(
            "streamjury_live_signed_error_sum",
            "Sum of prediction minus outcome: divided by the abs error count, the bias.",
            SERIES_LABELS,
            registry=registry,
        )
        self._unmatched = Counter(
            "streamjury_live_unmatched",
            "Predictions (by check) or outcomes (check 'outcome') that left the join window "
            "without a partner.",
            ("service", "check"),
            registry=registry,
        )
        self._duplicates = Counter(
            "streamjury_live_duplicates",
            "Redelivered predictions and outcomes, ignored.",
            ("service",),
            registry=registry,
        ).labels(SERVICE)
        self._pending = Gauge(
            "streamjury_live_join_events",
            "Events held in the join window.",
            ("service",),
            registry=registry,
        ).labels(SERVICE)
        for check in (*TRUTH_OF_CHECK, "outcome"):
            self._unmatched.labels(SERVICE, check)
        self._duplicates_seen = 0

    def observe(
        self, errors: Sequence[Error], expired: Expired, pending: int, duplicates: int
    ) -> None:
        for error in errors:
            labels = (SERVICE, error.series.check, error.series.model_version, error.series.arm)
            self._abs_error.labels(*labels).observe(error.abs_error)
            self._signed_error.labels(*labels).inc(error.signed_error)
        for check, count in expired.predictions.items():
            self._unmatched.labels(SERVICE, check).inc(count)
        if expired.outcomes:
            self._unmatched.labels(SERVICE, "outcome").inc(expired.outcomes)
        if duplicates > self._duplicates_seen:
            self._duplicates.inc(duplicates - self._duplicates_seen)
            self._duplicates_seen = duplicates
        self._pending.set(pending)
