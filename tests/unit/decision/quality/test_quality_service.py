"""The quality service over a real (in-memory) backend: what it exports, and when it commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from decision.quality.join import QualityJoin
from decision.quality.metrics import PrometheusQualityMetrics
from decision.quality.service import QualityService
from models.shadow import ShadowVerdict
from streamjury.schemas import RideCompleted, SourcePosition, Verdict
from streamjury.streams.base import OutRecord, Record, StreamConsumer
from streamjury.streams.memory import MemoryBackend
from streamjury.streams.names import StreamNames

NAMES = StreamNames("q-")
GROUP = "quality"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def verdict(event: str, version: str, value: float, arm: str | None = None) -> Verdict:
    return Verdict(
        event_id=event,
        event_type="ride",
        check="duration",
        model_name="duration",
        model_version=version,
        value=value,
        event_occurred_at=WHEN,
        produced_at=WHEN,
        source=SourcePosition(stream="rides", partition="0", offset=0),
        arm=arm,  # type: ignore[arg-type]
    )


def publish(backend: MemoryBackend, stream: str, records: Sequence[OutRecord]) -> None:
    backend.ensure_streams([stream])
    producer = backend.producer()
    producer.send(stream, records)
    producer.flush()


class Spy:
    """The group consumer, noting what the metrics held at each commit."""

    def __init__(self, consumer: StreamConsumer, registry: CollectorRegistry) -> None:
        self.consumer = consumer
        self.registry = registry
        self.counts_at_commit: list[float] = []

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        return self.consumer.poll(max_records, timeout)

    def commit(self, records: Sequence[Record]) -> None:
        self.counts_at_commit.append(total(self.registry, "_count"))
        self.consumer.commit(records)

    def assignment(self) -> dict[str, list[str]]:
        return self.consumer.assignment()

    def close(self) -> None:
        self.consumer.close()


def total(registry: CollectorRegistry, suffix: str) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "streamjury_live_abs_error"
        for sample in family.samples
        if sample.name.endswith(suffix)
    )


def sample(registry: CollectorRegistry, name: str, version: str, arm: str) -> float | None:
    labels = {"service": "quality", "check": "duration", "model_version": version, "arm": arm}
    return registry.get_sample_value(name, labels)


def test_errors_per_version_and_arm_are_exported_once_and_committed_after() -> None:
    backend = MemoryBackend()
    streams = [NAMES.verdicts, NAMES.verdicts_shadow, NAMES.outcomes]
    live = [verdict("a", "v1", 12.0, "live"), verdict("b", "v1", 7.0, "live")]
    canary = verdict("c", "v2", 20.0, "canary")
    shadow = ShadowVerdict(
        live=live[0], shadow=verdict("a", "v2", 11.0), batch_events=2,
        live_predict_s=0.1, shadow_predict_s=0.1,
    )  # fmt: skip
    truth = {"a": 10.0, "b": 10.0, "c": 15.0}
    published = [OutRecord(v.event_id, v.to_bytes()) for v in [*live, canary]]
    publish(backend, NAMES.verdicts, [*published, published[0], OutRecord("x", b"not json")])
    publish(backend, NAMES.verdicts_shadow, [OutRecord("a", shadow.to_bytes())] * 2)
    outcomes = [
        RideCompleted(event_id=e, occurred_at=WHEN, duration_minutes=m, tip_amount=1.0)
        for e, m in truth.items()
    ]
    publish(backend, NAMES.outcomes, [OutRecord(o.event_id, o.to_bytes()) for o in outcomes])
    registry = CollectorRegistry()
    spy = Spy(backend.consumer(streams, GROUP), registry)
    service = QualityService(
        spy, QualityJoin(60, 100, lambda: 0.0), NAMES, quality=PrometheusQualityMetrics(registry)
    )

    while service.step():
        pass

    count, total_error = "streamjury_live_abs_error_count", "streamjury_live_abs_error_sum"
    assert sample(registry, count, "v1", "live") == 2
    assert sample(registry, total_error, "v1", "live") == 2.0 + 3.0
    assert (
        sample(registry, count, "v2", "canary"),
        sample(registry, total_error, "v2", "canary"),
    ) == (1, 5.0)
    assert (
        sample(registry, count, "v2", "shadow"),
        sample(registry, total_error, "v2", "shadow"),
    ) == (1, 1.0)
    signed = "streamjury_live_signed_error_sum"
    assert sample(registry, signed, "v1", "live") == 2.0 - 3.0
    assert (
        registry.get_sample_value("streamjury_live_duplicates_total", {"service": "quality"}) == 2
    )
    assert service.stats.unreadable == 1
    assert spy.counts_at_commit[-1] == total(registry, "_count") == 4
    for stream in streams:
        written = {p: end for p, end in backend.end_offsets(stream).items() if end}
        assert backend.committed(stream, GROUP) == written
