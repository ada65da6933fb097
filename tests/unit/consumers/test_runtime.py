"""Specification of the consumer loop on the memory backend: write durably, then commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest

from consumers.check import CheckModel, CheckSpec, Prediction
from consumers.runtime import ConsumerRuntime, RuntimeConfig
from streamjury.errors import DeliveryError, PartialDeliveryError
from streamjury.schemas import DeadLetter, RideEvent, UploadEvent, Verdict
from streamjury.streams.base import OutRecord, Record, StartFrom, StreamConsumer, StreamProducer
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.doubles import MinutesPerMileModel, RideFactory, ride_check

RIDES, VERDICTS, DEADLETTER = "rides", "verdicts", "deadletter"
GROUP = "streamjury-minutes"


@pytest.fixture
def backend() -> MemoryBackend:
    backend = MemoryBackend(partitions=4)
    backend.ensure_streams([RIDES, VERDICTS, DEADLETTER])
    return backend


def publish(backend: MemoryBackend, records: Sequence[OutRecord]) -> None:
    producer = backend.producer()
    producer.send(RIDES, records)
    producer.flush()


def publish_rides(backend: MemoryBackend, make_ride: RideFactory, count: int) -> list[str]:
    ids = [f"ride-{i}" for i in range(count)]
    publish(backend, [OutRecord(i, json.dumps(make_ride(event_id=i)).encode()) for i in ids])
    return ids


def read_all(backend: MemoryBackend, stream: str) -> list[Record]:
    return [
        record
        for partition in backend.end_offsets(stream)
        for record in backend.read_partition(stream, partition)
    ]


def verdict_ids(backend: MemoryBackend) -> list[str]:
    return [Verdict.model_validate_json(r.value).event_id for r in read_all(backend, VERDICTS)]


def committed_total(backend: MemoryBackend) -> int:
    return sum(backend.committed(RIDES, GROUP).values())


def uncommitted(backend: MemoryBackend) -> int:
    """How many input records the group has not committed yet."""
    committed = backend.committed(RIDES, GROUP)
    return sum(end - committed.get(p, 0) for p, end in backend.end_offsets(RIDES).items())


def runtime_for(
    spec: CheckSpec,
    model: CheckModel,
    producer: StreamProducer,
    *,
    batch_size: int = 10,
    sleeps: list[float] | None = None,
    log_every_batches: int = 100,
) -> ConsumerRuntime:
    config = RuntimeConfig(
        batch_size=batch_size,
        batch_timeout_ms=5,
        retry_backoff_s=0.5,
        write_attempts=4,
        log_every_batches=log_every_batches,
    )
    recorded = sleeps if sleeps is not None else []
    return ConsumerRuntime(
        spec,
        model,
        producer,
        verdict_stream=VERDICTS,
        deadletter_stream=DEADLETTER,
        config=config,
        sleep=recorded.append,
    )


def consumer_for(backend: MemoryBackend, runtime: ConsumerRuntime) -> StreamConsumer:
    return backend.consumer(
        [RIDES],
        GROUP,
        StartFrom.earliest(),
        on_assign=runtime.partitions_assigned,
        on_revoke=runtime.partitions_revoked,
    )


def drain(runtime: ConsumerRuntime, consumer: StreamConsumer) -> None:
    """Run batches until a poll finds nothing (bounded, so a bug cannot hang the suite)."""
    for _ in range(1_000):
        if runtime.run_once(consumer) == 0:
            return
    raise AssertionError("the stream never drained")


def test_every_event_gets_a_verdict_and_every_input_is_committed(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    ids = publish_rides(backend, make_ride, 25)
    runtime = runtime_for(spec, model, backend.producer())

    stats = runtime.run(consumer_for(backend, runtime), lambda: runtime.stats.records >= 25)

    assert sorted(verdict_ids(backend)) == sorted(ids)
    assert uncommitted(backend) == 0
    assert (stats.records, stats.verdicts, stats.dead_letters) == (25, 25, 0)


class ChunkyConsumer:
    """A consumer whose polls return at most three records, as a slow trickle of input would."""

    def __init__(self, inner: StreamConsumer) -> None:
        self.inner = inner
        self.polls = 0

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        self.polls += 1
        return self.inner.poll(min(max_records, 3), timeout)

    def commit(self, records: Sequence[Record]) -> None:
        self.inner.commit(records)

    def assignment(self) -> dict[str, list[str]]:
        return self.inner.assignment()

    def close(self) -> None:
        self.inner.close()


def test_a_batch_is_filled_from_several_polls_up_to_the_batch_size(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 25)
    runtime = runtime_for(spec, model, backend.producer(), batch_size=10)
    consumer = ChunkyConsumer(consumer_for(backend, runtime))

    handled = runtime.run_once(consumer)

    assert handled == 10
    assert model.calls == [10]
    assert consumer.polls == 4


def test_a_batch_closes_when_the_stream_runs_dry(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 4)
    runtime = runtime_for(spec, model, backend.producer(), batch_size=10)

    handled = runtime.run_once(consumer_for(backend, runtime))

    assert handled == 4
    assert committed_total(backend) == 4


class CommitSpy:
    """A consumer that notes, at each commit, how many outputs were already durable."""

    def __init__(self, inner: StreamConsumer, backend: MemoryBackend) -> None:
        self.inner = inner
        self.backend = backend
        self.seen: list[tuple[int, int]] = []
        self.committed = 0

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        return self.inner.poll(max_records, timeout)

    def commit(self, records: Sequence[Record]) -> None:
        self.committed += len(records)
        durable = len(read_all(self.backend, VERDICTS)) + len(read_all(self.backend, DEADLETTER))
        self.seen.append((self.committed, durable))
        self.inner.commit(records)

    def assignment(self) -> dict[str, list[str]]:
        return self.inner.assignment()

    def close(self) -> None:
        self.inner.close()


def test_outputs_are_durable_before_the_commit_that_covers_their_inputs(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 35)
    publish(backend, [OutRecord("junk", b"not json")])
    runtime = runtime_for(spec, model, backend.producer())
    spy = CommitSpy(consumer_for(backend, runtime), backend)

    drain(runtime, spy)

    assert len(spy.seen) == 4
    assert all(committed == durable for committed, durable in spy.seen)


def test_a_bad_record_is_dead_lettered_under_its_original_key(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel
) -> None:
    publish(backend, [OutRecord("bad-1", b"\xff not an event")])
    runtime = runtime_for(spec, model, backend.producer())

    drain(runtime, consumer_for(backend, runtime))

    (record,) = read_all(backend, DEADLETTER)
    assert record.key == "bad-1"
    assert DeadLetter.model_validate_json(record.value).original == b"\xff not an event"
    assert uncommitted(backend) == 0


def test_a_keyless_bad_record_is_dead_lettered_under_its_position(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel
) -> None:
    publish(backend, [OutRecord("", b"{}")])
    runtime = runtime_for(spec, model, backend.producer())

    drain(runtime, consumer_for(backend, runtime))

    (record,) = read_all(backend, DEADLETTER)
    letter = DeadLetter.model_validate_json(record.value)
    assert record.key == str(letter.source)
    assert record.key.startswith("rides/")


class FailingProducer:
    """Fault injection: the first ``failures`` flushes fail and lose what was sent, as Kafka's
    and the local backend's do; later flushes deliver to the real producer."""

    def __init__(self, inner: StreamProducer, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.pending: list[tuple[str, list[OutRecord]]] = []

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        self.pending.append((stream, list(records)))

    def flush(self, timeout: float = 30.0) -> None:
        pending, self.pending = self.pending, []
        if self.failures > 0:
            self.failures -= 1
            raise DeliveryError("broker unreachable")
        for stream, records in pending:
            self.inner.send(stream, records)
        self.inner.flush(timeout)

    def close(self) -> None:
        self.inner.close()


def test_a_flush_that_keeps_failing_stops_the_runtime_without_committing(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 5)
    sleeps: list[float] = []
    runtime = runtime_for(spec, model, FailingProducer(backend.producer(), 99), sleeps=sleeps)

    with pytest.raises(DeliveryError):
        runtime.run(consumer_for(backend, runtime), lambda: False)

    assert backend.committed(RIDES, GROUP) == {}
    assert read_all(backend, VERDICTS) == []
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_stop_requested_while_a_write_is_retried_ends_the_retries_and_commits_nothing(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    """A SIGTERM during a retry schedule must not wait out every attempt (an orchestrator's
    termination grace is shorter): the batch stays uncommitted, and the next reader redoes it."""
    ids = publish_rides(backend, make_ride, 5)
    producer = FailingProducer(backend.producer(), 99)
    sleeps: list[float] = []
    runtime = runtime_for(spec, model, producer, sleeps=sleeps)
    stop = {"asked": False}

    def stop_after_the_first_failure() -> bool:
        stop["asked"] = stop["asked"] or producer.failures < 99
        return stop["asked"]

    consumer = consumer_for(backend, runtime)
    runtime.run(consumer, stop_after_the_first_failure)
    consumer.close()

    assert producer.failures == 98  # one attempt, no retry
    assert sleeps == []
    assert backend.committed(RIDES, GROUP) == {}
    recovered = runtime_for(spec, model, backend.producer())
    drain(recovered, consumer_for(backend, recovered))
    assert sorted(verdict_ids(backend)) == sorted(ids)


def test_a_flush_that_recovers_delivers_every_verdict_then_commits(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    ids = publish_rides(backend, make_ride, 5)
    sleeps: list[float] = []
    runtime = runtime_for(spec, model, FailingProducer(backend.producer(), 2), sleeps=sleeps)

    drain(runtime, consumer_for(backend, runtime))

    assert sorted(verdict_ids(backend)) == sorted(ids)
    assert uncommitted(backend) == 0
    assert sleeps == [0.5, 1.0]


class PartlyFailingProducer:
    """Fault injection: the first flush writes every other record and says, by stream, which
    ones it did not write (as the Kafka producer does); later flushes write everything."""

    def __init__(self, inner: StreamProducer) -> None:
        self.inner = inner
        self.failed = False
        self.pending: list[tuple[str, list[OutRecord]]] = []
        self.sent: list[list[str]] = []
        """The keys of each flush's records, in order."""

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        self.pending.append((stream, list(records)))

    def flush(self, timeout: float = 30.0) -> None:
        pending, self.pending = self.pending, []
        self.sent.append([record.key for _, records in pending for record in records])
        unwritten: dict[str, tuple[int, ...]] = {}
        for stream, records in pending:
            written = records if self.failed else records[::2]
            unwritten[stream] = () if self.failed else tuple(range(1, len(records), 2))
            self.inner.send(stream, written)
        self.inner.flush(timeout)
        if not self.failed:
            self.failed = True
            indices = tuple(i for stream_indices in unwritten.values() for i in stream_indices)
            raise PartialDeliveryError("half of it", indices, unwritten)

    def close(self) -> None:
        self.inner.close()


def test_a_retried_flush_re_sends_only_what_the_producer_says_was_not_written(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    ids = publish_rides(backend, make_ride, 6)
    producer = PartlyFailingProducer(backend.producer())
    runtime = runtime_for(spec, model, producer)

    drain(runtime, consumer_for(backend, runtime))

    first, retry = producer.sent
    assert retry == first[1::2]
    assert sorted(verdict_ids(backend)) == sorted(ids)  # each exactly once
    assert uncommitted(backend) == 0


class StopDuringPredict:
    """Wraps the model to request a stop while the first batch is being scored."""

    def __init__(self, inner: MinutesPerMileModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.stop = False

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        self.stop = True
        return self.inner.predict(events)


def test_a_stop_requested_mid_batch_finishes_and_commits_that_batch_only(
    backend: MemoryBackend, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 30)
    stopping = StopDuringPredict(model)
    runtime = runtime_for(ride_check(stopping), stopping, backend.producer(), batch_size=10)

    stats = runtime.run(consumer_for(backend, runtime), lambda: stopping.stop)

    assert stats.records == 10
    assert len(read_all(backend, VERDICTS)) == 10
    assert committed_total(backend) == 10


def test_a_stop_requested_before_the_first_batch_reads_nothing(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    publish_rides(backend, make_ride, 5)
    runtime = runtime_for(spec, model, backend.producer())

    stats = runtime.run(consumer_for(backend, runtime), lambda: True)

    assert stats.records == 0
    assert backend.committed(RIDES, GROUP) == {}


class FenceAfterFirstPoll:
    """Takes the group away from the member right after its first poll, as a rebalance would."""

    def __init__(self, inner: StreamConsumer, backend: MemoryBackend) -> None:
        self.inner = inner
        self.backend = backend
        self.polls = 0

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        records = self.inner.poll(max_records, timeout)
        self.polls += 1
        if self.polls == 1:
            self.backend.fence(GROUP)
        return records

    def commit(self, records: Sequence[Record]) -> None:
        self.inner.commit(records)

    def assignment(self) -> dict[str, list[str]]:
        return self.inner.assignment()

    def close(self) -> None:
        self.inner.close()


def test_records_of_partitions_revoked_while_a_batch_is_collected_are_not_processed_twice(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    ids = publish_rides(backend, make_ride, 5)
    runtime = runtime_for(spec, model, backend.producer(), batch_size=100)
    consumer = FenceAfterFirstPoll(consumer_for(backend, runtime), backend)

    drain(runtime, consumer)

    assert sorted(verdict_ids(backend)) == sorted(ids)
    assert uncommitted(backend) == 0


class FenceBeforeFirstCommit(FenceAfterFirstPoll):
    """Takes the group away after the first batch was written but before it is committed."""

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        return self.inner.poll(max_records, timeout)

    def commit(self, records: Sequence[Record]) -> None:
        self.polls += 1
        if self.polls == 1:
            self.backend.fence(GROUP)
        self.inner.commit(records)


def test_losing_the_partitions_before_a_commit_is_not_fatal(
    backend: MemoryBackend, spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory
) -> None:
    ids = publish_rides(backend, make_ride, 8)
    runtime = runtime_for(spec, model, backend.producer(), batch_size=100)

    drain(runtime, FenceBeforeFirstCommit(consumer_for(backend, runtime), backend))

    assert runtime.stats.lost_batches == 1
    assert set(verdict_ids(backend)) == set(ids)
    assert uncommitted(backend) == 0


def test_progress_is_logged_once_every_n_batches(
    backend: MemoryBackend,
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish_rides(backend, make_ride, 50)
    runtime = runtime_for(spec, model, backend.producer(), batch_size=10, log_every_batches=2)
    caplog.set_level(logging.INFO, logger="consumers.runtime")

    drain(runtime, consumer_for(backend, runtime))

    progress = [r for r in caplog.records if "records/s" in r.getMessage()]
    assert len(progress) == 2


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        RuntimeConfig(batch_size=0)
