"""A Lambda output sink, observed: what it wrote is counted, what it could not write is not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from streamjury.ops.metrics import ServiceMetrics
from streamjury.ops.sinks import ObservedSink
from streamjury.schemas import DeadLetter, SourcePosition, Verdict
from streamjury.streams.base import OutRecord

NOW = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
LAMBDA = {"service": "lambda", "check": "tip"}


class Sink:
    """Writes everything except the positions it is told to fail."""

    target = "kinesis:out"

    def __init__(self, failing: set[int] | None = None) -> None:
        self.failing = failing or set()
        self.written: list[OutRecord] = []

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        self.written += [r for i, r in enumerate(records) if i not in self.failing]
        return set(self.failing)


def verdict(event_id: str, age_s: float) -> OutRecord:
    occurred = NOW - timedelta(seconds=age_s)
    body = Verdict(
        event_id=event_id,
        event_type="ride",
        check="tip",
        model_name="tip",
        model_version="1",
        value=2.0,
        event_occurred_at=occurred,
        produced_at=NOW,
        source=SourcePosition(stream="rides", partition="shardId-0", offset=1),
    )
    return OutRecord(event_id, body.to_bytes())


def metrics() -> tuple[ServiceMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return ServiceMetrics(registry, "lambda", "tip", clock=NOW.timestamp), registry


def test_written_verdicts_are_counted_with_their_end_to_end_latency() -> None:
    observed, registry = metrics()
    inner = Sink(failing={1})
    sink = ObservedSink(inner, "verdicts", observed)

    failed = sink.put([verdict("a", 1.0), verdict("b", 2.0), verdict("c", 3.0)])

    assert failed == {1}
    assert [r.key for r in inner.written] == ["a", "c"]
    assert registry.get_sample_value("streamjury_verdicts_out_total", LAMBDA) == 2
    assert registry.get_sample_value("streamjury_end_to_end_seconds_sum", LAMBDA) == 4.0
    assert sink.target == "kinesis:out"


def test_written_dead_letters_are_counted_by_reason_class() -> None:
    observed, registry = metrics()
    letters = [
        OutRecord("x", DeadLetter.of(b"{", "record: Invalid JSON: EOF", "lambda:tip").to_bytes()),
        OutRecord("y", DeadLetter.of(b"[]", "record: Input should be an object", "t").to_bytes()),
    ]

    ObservedSink(Sink(), "dead_letters", observed).put(letters)

    dead = "streamjury_dead_letters_total"
    assert registry.get_sample_value(dead, {**LAMBDA, "reason": "invalid_json"}) == 1
    assert registry.get_sample_value(dead, {**LAMBDA, "reason": "validation"}) == 1


def test_an_output_it_cannot_read_is_still_written_and_only_logged() -> None:
    observed, registry = metrics()
    inner = Sink()

    failed = ObservedSink(inner, "verdicts", observed).put([OutRecord("k", b"not a verdict")])

    assert failed == set()
    assert len(inner.written) == 1
    assert registry.get_sample_value("streamjury_verdicts_out_total", LAMBDA) == 0
