"""A watched backend: its group consumers drive readiness and lag, and otherwise change nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from decision.app import build_service
from decision.policy import load_policy
from decision.settings import DecisionSettings
from streamjury.ops.health import ASSIGNMENT, Readiness
from streamjury.ops.lag import LagMonitor, OwnedPartitions
from streamjury.ops.metrics import ServiceMetrics
from streamjury.ops.watch import WatchedBackend, WatchedConsumer
from streamjury.streams.base import OutRecord, Record, StreamConsumer
from streamjury.streams.memory import MemoryBackend

STREAM = "rides"
LABELS = {"service": "consumer", "check": "duration", "stream": STREAM}


def backend_with(records: int, partitions: int = 2) -> MemoryBackend:
    backend = MemoryBackend(partitions=partitions)
    backend.ensure_streams([STREAM])
    producer = backend.producer()
    producer.send(STREAM, [OutRecord(f"key-{n}", b"{}") for n in range(records)])
    producer.flush()
    return backend


def watched(
    backend: MemoryBackend, lag_interval_s: float = 0
) -> tuple[WatchedBackend, Readiness, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "consumer", "duration")
    readiness = Readiness([ASSIGNMENT])
    wrapper = WatchedBackend(
        backend,
        metrics,
        lambda owned: readiness.set(ASSIGNMENT, owned),
        lag_interval_s=lag_interval_s,
    )
    return wrapper, readiness, registry


def test_a_group_consumer_is_ready_once_a_poll_gave_it_partitions_and_not_after_close() -> None:
    backend, readiness, _ = watched(backend_with(10))
    consumer = backend.consumer([STREAM], "group")
    assert not readiness.ready

    records = consumer.poll(100, 0.5)

    assert len(records) == 10
    assert readiness.ready
    consumer.close()
    assert not readiness.ready


def test_a_reader_without_a_group_is_not_watched() -> None:
    backend, readiness, _ = watched(backend_with(3))
    reader = backend.consumer([STREAM], None)
    assert not isinstance(reader, WatchedConsumer)
    reader.poll(10, 0.2)
    assert not readiness.ready


def test_commits_go_through_to_the_backend() -> None:
    inner = backend_with(6, partitions=1)
    backend, _, _ = watched(inner)
    consumer = backend.consumer([STREAM], "group")

    consumer.commit(consumer.poll(100, 0.5))

    assert inner.committed(STREAM, "group") == {"0": 6}


def test_the_decision_service_runs_unchanged_over_a_watched_backend() -> None:
    settings = DecisionSettings(backend="memory")
    inner = MemoryBackend(partitions=2)
    backend, readiness, _ = watched(inner)

    with build_service(settings, backend, load_policy(None)) as service:
        service.step()  # its atomic writer was built over the real consumer
        assert readiness.ready


def lag_of(registry: CollectorRegistry, partition: str, name: str) -> float | None:
    return registry.get_sample_value(name, {**LABELS, "partition": partition})


def test_lag_is_the_end_offset_minus_the_committed_offset_of_each_owned_partition() -> None:
    inner = backend_with(10)
    consumer = inner.consumer([STREAM], "group")
    consumer.commit(consumer.poll(4, 0.5))
    owned = OwnedPartitions()
    owned.update(consumer.assignment())
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "consumer", "duration")
    end, committed = inner.end_offsets(STREAM), inner.committed(STREAM, "group")

    LagMonitor(inner, "group", owned, metrics).sample()

    for partition in ("0", "1"):
        expected = end[partition] - committed.get(partition, 0)
        assert lag_of(registry, partition, "streamjury_consumer_lag_records") == expected
    assert sum(end.values()) - 4 == sum(
        lag_of(registry, p, "streamjury_consumer_lag_records") or 0 for p in ("0", "1")
    )


def test_lag_series_go_away_when_the_partitions_do() -> None:
    inner = backend_with(4)
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "consumer", "duration")
    owned = OwnedPartitions()
    monitor = LagMonitor(inner, "group", owned, metrics)
    owned.update({STREAM: ["0", "1"]})
    monitor.sample()

    owned.update({})
    monitor.sample()

    assert lag_of(registry, "0", "streamjury_consumer_lag_records") is None


class BehindConsumer:
    """A stand-in for a Kinesis consumer that reports MillisBehindLatest."""

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        return []

    def commit(self, records: object) -> None: ...

    def assignment(self) -> dict[str, list[str]]:
        return {STREAM: ["shardId-0"]}

    def close(self) -> None: ...

    def millis_behind_latest(self) -> Mapping[str, Mapping[str, int]]:
        return {STREAM: {"shardId-0": 2500, "shardId-9": 1}}


class KinesisLike(MemoryBackend):
    """A backend named like Kinesis whose group consumers report MillisBehindLatest."""

    name = "kinesis"

    def consumer(  # type: ignore[override]
        self, *args: object, **kwargs: object
    ) -> StreamConsumer:
        return BehindConsumer()


def test_on_kinesis_lag_is_seconds_behind_latest_and_sequence_numbers_are_not_subtracted() -> None:
    owned = OwnedPartitions()
    owned.update(BehindConsumer().assignment())
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "consumer", "duration")

    LagMonitor(KinesisLike(), "group", owned, metrics, behind=BehindConsumer()).sample()

    assert lag_of(registry, "shardId-0", "streamjury_consumer_lag_seconds") == 2.5
    assert lag_of(registry, "shardId-9", "streamjury_consumer_lag_seconds") is None
    assert lag_of(registry, "shardId-0", "streamjury_consumer_lag_records") is None


def test_a_watched_kinesis_consumer_hands_its_own_lag_report_to_the_monitor() -> None:
    backend, _, _ = watched(KinesisLike(), lag_interval_s=3600)
    consumer = backend.consumer([STREAM], "group")
    assert isinstance(consumer, WatchedConsumer)
    assert consumer.millis_behind_latest() == BehindConsumer().millis_behind_latest()
    consumer.close()


def test_a_monitor_thread_samples_on_its_own_and_stops_with_the_consumer() -> None:
    backend, _, registry = watched(backend_with(8), lag_interval_s=0.05)
    consumer = backend.consumer([STREAM], "group")
    consumer.poll(100, 0.5)

    deadline = time.monotonic() + 5
    lags = [lag_of(registry, p, "streamjury_consumer_lag_records") for p in ("0", "1")]
    while None in lags and time.monotonic() < deadline:
        time.sleep(0.02)
        lags = [lag_of(registry, p, "streamjury_consumer_lag_records") for p in ("0", "1")]
    consumer.close()

    assert sum(lag or 0 for lag in lags) == 8  # read but not committed: all still lag
