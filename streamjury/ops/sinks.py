"""Counts what a Lambda output sink wrote: verdicts with their event time, dead letters by reason.

The Lambda handler publishes through sinks and returns no outputs, so ``lambda run`` wraps its
sinks to feed the same metrics the streaming consumer reports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from streamjury.ops.metrics import Metrics
from streamjury.streams.base import OutRecord

log = logging.getLogger(__name__)

Kind = Literal["verdicts", "dead_letters"]


class Sink(Protocol):
    """``consumers.lambda_sinks.RecordSink``, as far as counting needs it."""

    target: Any

    def put(self, records: Sequence[OutRecord]) -> set[int]: ...


@dataclass(frozen=True, slots=True)
class _Written:
    event_occurred_at: datetime


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str


class ObservedSink:
    """Writes through ``sink``, then reports the records it did write as ``kind`` outputs."""

    def __init__(self, sink: Sink, kind: Kind, metrics: Metrics) -> None:
        self.sink = sink
        self.target = sink.target
        self._kind = kind
        self._metrics = metrics

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        failed = self.sink.put(records)
        written = [record.value for index, record in enumerate(records) if index not in failed]
        try:
            if self._kind == "verdicts":
                stamped = [_Written(_occurred_at(value)) for value in written]
                self._metrics.observe_batch(records=0, verdicts=stamped)
            else:
                refused = [_Refused(str(json.loads(value)["reason"])) for value in written]
                self._metrics.observe_batch(records=0, dead_letters=refused)
        except (ValueError, KeyError, TypeError) as exc:  # our own wire format: never expected
            log.warning(
                "could not count %d %s written to %s: %s",
                len(written),
                self._kind,
                self.target,
                exc,
            )
        return failed


def _occurred_at(value: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(value)["event_occurred_at"])
