"""What one Lambda invocation did, as numbers, and how they reach CloudWatch: Embedded Metric Format.

Powertools' EMF provider builds the document; printing it to stdout is all Lambda needs (the log
line becomes metrics). The local runner shows the same numbers live (``streamjury lambda run``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

DEFAULT_NAMESPACE = "streamjury"

RECORDS_IN = "RecordsIn"
VERDICTS = "Verdicts"
DEAD_LETTERS = "DeadLetters"
REPORTED_FAILURES = "ReportedFailures"
HANDLER_TIME = "HandlerTime"
PREDICT_TIME = "PredictTime"
ITERATOR_AGE = "IteratorAge"
COLD_START = "ColdStart"
DEADLINE_STOPS = "DeadlineStops"

UNITS: dict[str, MetricUnit] = {
    RECORDS_IN: MetricUnit.Count,
    VERDICTS: MetricUnit.Count,
    DEAD_LETTERS: MetricUnit.Count,
    REPORTED_FAILURES: MetricUnit.Count,
    HANDLER_TIME: MetricUnit.Milliseconds,
    PREDICT_TIME: MetricUnit.Milliseconds,
    ITERATOR_AGE: MetricUnit.Milliseconds,
    COLD_START: MetricUnit.Count,
    DEADLINE_STOPS: MetricUnit.Count,
}
"""Every metric the handler emits, with its CloudWatch unit (docs/lambda.md explains each)."""


@dataclass(frozen=True, slots=True)
class InvocationMetrics:
    """The figures of one invocation; the same object feeds EMF and the local live summary."""

    function_name: str
    request_id: str
    check: str
    model_version: str
    records_in: int
    verdicts: int
    dead_letters: int
    reported_failures: int
    """Records the response hands back to Lambda: the first one not done and all after it."""
    handler_ms: float
    predict_ms: float
    iterator_age_ms: float | None
    """Now minus the oldest record's approximateArrivalTimestamp; None for an empty batch."""
    cold_start: bool
    deadline_stop: bool = False
    """The handler stopped taking work because the function's timeout was near."""
    shard_id: str | None = None
    first_sequence: str | None = None
    last_sequence: str | None = None

    def values(self) -> dict[str, float]:
        """Metric name -> value, exactly the set written to CloudWatch."""
        values: dict[str, float] = {
            RECORDS_IN: self.records_in,
            VERDICTS: self.verdicts,
            DEAD_LETTERS: self.dead_letters,
            REPORTED_FAILURES: self.reported_failures,
            HANDLER_TIME: round(self.handler_ms, 3),
            PREDICT_TIME: round(self.predict_ms, 3),
            COLD_START: int(self.cold_start),
            DEADLINE_STOPS: int(self.deadline_stop),
        }
        if self.iterator_age_ms is not None:
            values[ITERATOR_AGE] = round(max(0.0, self.iterator_age_ms), 3)
        return values


def iterator_age_ms(arrivals_s: Sequence[float], now_s: float | None = None) -> float | None:
    """Milliseconds between now and the oldest arrival, or None when there is no record."""
    if not arrivals_s:
        return None
    return ((time.time() if now_s is None else now_s) - min(arrivals_s)) * 1000


class InvocationObserver(Protocol):
    """Anything told the figures of each invocation: EMF on AWS, a live table locally."""

    def observe(self, metrics: InvocationMetrics) -> None: ...


class EmfMetrics:
    """Writes one EMF document per invocation through Powertools' CloudWatch EMF provider.

    Two dimension sets: (service, check) for alarms that survive a model upgrade, and
    (service, check, model_version) to compare versions. ``POWERTOOLS_METRICS_DISABLED``
    (or ``POWERTOOLS_DEV``) turns it off, as in every Powertools function.
    """

    def __init__(
        self,
        namespace: str,
        service: str,
        *,
        write: Callable[[str], object] | None = None,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self._write = write or _print_line

    def document(self, metrics: InvocationMetrics) -> dict[str, Any]:
        """The EMF document for ``metrics`` (what ``observe`` prints)."""
        provider = AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
        provider.add_dimension(name="service", value=self.service)
        provider.add_dimension(name="check", value=metrics.check)
        provider.add_dimensions(
            service=self.service, check=metrics.check, model_version=metrics.model_version
        )
        for name, value in metrics.values().items():
            provider.add_metric(name=name, unit=UNITS[name], value=value)
        provider.add_metadata(key="function_name", value=metrics.function_name)
        provider.add_metadata(key="function_request_id", value=metrics.request_id)
        if metrics.shard_id is not None:
            provider.add_metadata(key="shard_id", value=metrics.shard_id)
            provider.add_metadata(key="first_sequence", value=metrics.first_sequence)
            provider.add_metadata(key="last_sequence", value=metrics.last_sequence)
        document: dict[str, Any] = dict(provider.serialize_metric_set())
        return document

    def observe(self, metrics: InvocationMetrics) -> None:
        if is_metrics_disabled():
            return
        self._write(json.dumps(self.document(metrics), separators=(",", ":")))


def _print_line(line: str) -> None:
    """stdout is the function's log stream: CloudWatch turns EMF lines there into metrics."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
