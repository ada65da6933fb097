"""The behaviour every stream backend must show, written once as reusable pytest classes.

A backend's test module subclasses ``BackendContract`` (or ``EmbeddedBackendContract``) and
overrides the ``backend`` fixture; the Kafka and Kinesis suites reuse ``BackendContract`` as is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import pytest

from streamjury.errors import StreamError, UnknownStream
from streamjury.schemas import utc_now
from streamjury.streams.base import (
    Backend,
    OutRecord,
    Record,
    StartFrom,
    StreamConsumer,
    last_per_partition,
)

OpenConsumer = Callable[..., StreamConsumer]


def records_for(keys: Sequence[str], tag: str = "v") -> list[OutRecord]:
    """One record per key; the value names the key and a tag, so versions can be told apart."""
    return [OutRecord(key, f"{key}:{tag}".encode()) for key in keys]


def keys_of(records: Sequence[Record]) -> list[str]:
    return sorted(record.key for record in records)


def next_offsets_after(records: Sequence[Record]) -> dict[str, int]:
    """Partition -> the offset after its last record: what a commit of ``records`` stores."""
    return {partition: offset + 1 for (_, partition), offset in last_per_partition(records).items()}


class BackendContract:
    """Portable behaviour: keyed partitioning, group reads, commits, start positions, writers."""

    wait_s: ClassVar[float] = 5.0
    """How long a test waits for records it knows were flushed (brokers may need longer)."""
    quiet_s: ClassVar[float] = 0.05
    """How long a test polls to show that nothing more arrives (brokers: raise it)."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        raise NotImplementedError("a backend's test class provides the backend under test")

    @pytest.fixture
    def stream(self, backend: Backend) -> str:
        name = f"contract-in-{uuid.uuid4().hex[:8]}"
        backend.ensure_streams([name])
        return name

    @pytest.fixture
    def out_stream(self, backend: Backend) -> str:
        name = f"contract-out-{uuid.uuid4().hex[:8]}"
        backend.ensure_streams([name])
        return name

    @pytest.fixture
    def open_consumer(self, backend: Backend) -> Iterator[OpenConsumer]:
        """Opens consumers and closes them all at teardown (closing twice must be harmless)."""
        opened: list[StreamConsumer] = []

        def open_(streams: Sequence[str], group: str | None, **kwargs: object) -> StreamConsumer:
            consumer = backend.consumer(streams, group, **kwargs)  # type: ignore[arg-type]
            opened.append(consumer)
            return consumer

        yield open_
        for consumer in opened:
            consumer.close()

    # -- helpers ---------------------------------------------------------------------------

    def produce(self, backend: Backend, stream: str, records: Sequence[OutRecord]) -> None:
        producer = backend.producer()
        try:
            producer.send(stream, records)
            producer.flush()
        finally:
            producer.close()

    def take(self, consumer: StreamConsumer, count: int) -> list[Record]:
        """Poll until ``count`` records arrived (or ``wait_s`` passed); never asks for more."""
        records: list[Record] = []
        deadline = time.monotonic() + self.wait_s
        while len(records) < count and time.monotonic() < deadline:
            records.extend(consumer.poll(count - len(records), 0.1))
        return records

    def drain(self, consumer: StreamConsumer, count: int) -> list[Record]:
        """``take`` the expected records, then poll a little more so any extra one shows up."""
        return self.take(consumer, count) + consumer.poll(1000, self.quiet_s)

    def everything_in(self, backend: Backend, stream: str) -> list[Record]:
        return [
            record
            for partition in backend.end_offsets(stream)
            for record in backend.read_partition(stream, partition)
        ]

    @staticmethod
    def group() -> str:
        return f"group-{uuid.uuid4().hex[:8]}"

    # -- partitioning ----------------------------------------------------------------------

    def test_records_with_the_same_key_land_in_the_same_partition(
        self, backend: Backend, stream: str
    ) -> None:
        keys = [f"ride-{n}" for n in range(20)]
        self.produce(backend, stream, records_for(keys, "first"))
        self.produce(backend, stream, records_for(keys, "second"))

        partitions_of_key: dict[str, set[str]] = {}
        for record in self.everything_in(backend, stream):
            partitions_of_key.setdefault(record.key, set()).add(record.partition)

        assert sorted(partitions_of_key) == sorted(keys)
        assert all(len(partitions) == 1 for partitions in partitions_of_key.values())

    def test_records_of_one_partition_are_read_in_the_order_written(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, [OutRecord("same-key", f"{n}".encode()) for n in range(30)])

        records = self.drain(open_consumer([stream], self.group()), 30)

        assert [int(record.value) for record in records] == list(range(30))
        assert [r.offset for r in records] == sorted(r.offset for r in records)

    # -- groups and commits ----------------------------------------------------------------

    def test_a_group_reads_every_record_exactly_once(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(50)]
        self.produce(backend, stream, records_for(keys))

        records = self.drain(open_consumer([stream], self.group()), len(keys))

        assert keys_of(records) == sorted(keys)
        assert {record.value for record in records} == {f"{key}:v".encode() for key in keys}

    def test_two_groups_read_the_same_records_independently(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(20)]
        self.produce(backend, stream, records_for(keys))
        first = open_consumer([stream], self.group())
        first_records = self.drain(first, len(keys))
        first.commit(first_records)

        second_records = self.drain(open_consumer([stream], self.group()), len(keys))

        assert keys_of(first_records) == sorted(keys)
        assert keys_of(second_records) == sorted(keys)

    def test_a_new_member_resumes_after_the_committed_records(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(20)]
        self.produce(backend, stream, records_for(keys))
        group = self.group()
        first = open_consumer([stream], group)
        committed = self.take(first, 7)
        first.commit(committed)
        first.close()

        rest = self.drain(open_consumer([stream], group), len(keys) - len(committed))

        assert committed
        assert keys_of(rest) == sorted(set(keys) - {record.key for record in committed})

    def test_uncommitted_records_are_redelivered_to_the_next_member(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(10)]
        self.produce(backend, stream, records_for(keys))
        group = self.group()
        first = open_consumer([stream], group)
        self.drain(first, len(keys))
        first.close()

        again = self.drain(open_consumer([stream], group), len(keys))

        assert keys_of(again) == sorted(keys)

    def test_committed_reports_the_next_offset_of_each_committed_partition(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"event-{n}" for n in range(10)]))
        group = self.group()
        consumer = open_consumer([stream], group)
        records = self.drain(consumer, 10)
        consumer.commit(records)

        committed = backend.committed(stream, group)

        assert committed == next_offsets_after(records)

    def test_a_committed_position_wins_over_the_start_position(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"old-{n}" for n in range(10)]))
        group = self.group()
        first = open_consumer([stream], group)
        first.commit(self.drain(first, 10))
        first.close()
        new_keys = [f"new-{n}" for n in range(5)]
        self.produce(backend, stream, records_for(new_keys))

        records = self.drain(open_consumer([stream], group, start=StartFrom.earliest()), 5)

        assert keys_of(records) == sorted(new_keys)

    # -- start positions -------------------------------------------------------------------

    def test_start_earliest_reads_records_written_before_the_consumer(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(10)]
        self.produce(backend, stream, records_for(keys))

        records = self.drain(open_consumer([stream], self.group(), start=StartFrom.earliest()), 10)

        assert keys_of(records) == sorted(keys)

    def test_start_latest_reads_only_records_written_after_the_consumer(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"old-{n}" for n in range(10)]))
        consumer = open_consumer([stream], self.group(), start=StartFrom.latest())
        new_keys = [f"new-{n}" for n in range(5)]
        self.produce(backend, stream, records_for(new_keys))

        records = self.drain(consumer, len(new_keys))

        assert keys_of(records) == sorted(new_keys)

    def test_start_at_offsets_reads_from_those_offsets(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"old-{n}" for n in range(10)]))
        boundary = backend.end_offsets(stream)
        new_keys = [f"new-{n}" for n in range(5)]
        self.produce(backend, stream, records_for(new_keys))

        reader = open_consumer([stream], None, start=StartFrom.at_offsets(boundary))
        records = self.drain(reader, len(new_keys))

        assert keys_of(records) == sorted(new_keys)

    def test_start_at_a_time_reads_records_written_since_then(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"old-{n}" for n in range(10)]))
        time.sleep(0.01)
        since = utc_now()
        new_keys = [f"new-{n}" for n in range(5)]
        self.produce(backend, stream, records_for(new_keys))

        reader = open_consumer([stream], None, start=StartFrom.at_time(since))
        records = self.drain(reader, len(new_keys))

        assert keys_of(records) == sorted(new_keys)

    # -- group-less readers ----------------------------------------------------------------

    def test_a_group_less_reader_leaves_group_positions_untouched(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(10)]
        self.produce(backend, stream, records_for(keys))
        group = self.group()
        member = open_consumer([stream], group)
        member.commit(self.take(member, 3))
        before = backend.committed(stream, group)

        records = self.drain(open_consumer([stream], None), len(keys))

        assert keys_of(records) == sorted(keys)
        assert backend.committed(stream, group) == before

    def test_a_group_less_reader_cannot_commit(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for(["event-1"]))
        reader = open_consumer([stream], None)
        records = self.drain(reader, 1)

        with pytest.raises(StreamError):
            reader.commit(records)

    # -- atomic writer ---------------------------------------------------------------------

    def test_the_atomic_writer_writes_outputs_and_commits_their_inputs(
        self, backend: Backend, stream: str, out_stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(10)]
        self.produce(backend, stream, records_for(keys))
        group = self.group()
        consumer = open_consumer([stream], group)
        inputs = self.drain(consumer, len(keys))
        writer = backend.atomic_writer(consumer, f"{group}-writer")

        writer.write_and_commit({out_stream: records_for(keys_of(inputs), "out")}, inputs)
        writer.close()

        outputs = self.everything_in(backend, out_stream)
        assert keys_of(outputs) == sorted(keys)
        assert {record.value for record in outputs} == {f"{key}:out".encode() for key in keys}
        assert backend.committed(stream, group) == next_offsets_after(inputs)

    def test_a_failed_atomic_write_writes_and_commits_nothing(
        self, backend: Backend, stream: str, out_stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for(["event-1", "event-2"]))
        group = self.group()
        consumer = open_consumer([stream], group)
        inputs = self.drain(consumer, 2)
        writer = backend.atomic_writer(consumer, f"{group}-writer")
        outputs = {out_stream: records_for(["out-1"]), "no-such-stream": records_for(["out-2"])}

        with pytest.raises(StreamError):
            writer.write_and_commit(outputs, inputs)

        assert self.everything_in(backend, out_stream) == []
        assert backend.committed(stream, group) == {}

    # -- errors and waiting ----------------------------------------------------------------

    def test_sending_to_a_stream_that_does_not_exist_raises_unknown_stream(
        self, backend: Backend
    ) -> None:
        producer = backend.producer()
        try:
            with pytest.raises(UnknownStream):
                producer.send(f"missing-{uuid.uuid4().hex[:8]}", records_for(["event-1"]))
        finally:
            producer.close()

    def test_a_poll_with_nothing_to_read_returns_empty_after_its_timeout(
        self, stream: str, open_consumer: OpenConsumer
    ) -> None:
        consumer = open_consumer([stream], self.group())
        started = time.monotonic()

        records = consumer.poll(10, 0.1)

        assert records == []
        assert 0.09 <= time.monotonic() - started < 1.0

    def test_a_waiting_poll_returns_soon_after_records_are_flushed(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        consumer = open_consumer([stream], self.group())
        consumer.poll(10, 0.01)  # join the group before the timer starts
        timer = threading.Timer(0.05, self.produce, (backend, stream, records_for(["late"])))
        started = time.monotonic()
        timer.start()

        records = consumer.poll(10, self.wait_s)
        timer.join()

        assert keys_of(records) == ["late"]
        assert time.monotonic() - started < self.wait_s / 2


class EmbeddedBackendContract(BackendContract):
    """What the embedded backends (memory, local) add: dense offsets, immediate compaction,
    one active member per group, exactly-once atomic writes, invisible records until flush."""

    @pytest.fixture
    def compacted_stream(self, backend: Backend) -> str:
        name = f"contract-state-{uuid.uuid4().hex[:8]}"
        backend.ensure_streams([name], compacted=True)
        return name

    def test_offsets_are_dense_from_zero_in_every_partition(
        self, backend: Backend, stream: str
    ) -> None:
        self.produce(backend, stream, records_for([f"event-{n}" for n in range(40)]))

        ends = backend.end_offsets(stream)

        assert sum(ends.values()) == 40
        for partition, end in ends.items():
            offsets = [record.offset for record in backend.read_partition(stream, partition)]
            assert offsets == list(range(end))

    def test_read_partition_starts_at_the_given_offset(self, backend: Backend, stream: str) -> None:
        self.produce(backend, stream, [OutRecord("same-key", f"{n}".encode()) for n in range(10)])
        (partition,) = [p for p, end in backend.end_offsets(stream).items() if end > 0]

        values = [int(r.value) for r in backend.read_partition(stream, partition, 6)]

        assert values == [6, 7, 8, 9]

    def test_sent_records_are_invisible_until_flushed(self, backend: Backend, stream: str) -> None:
        producer = backend.producer()
        producer.send(stream, records_for(["event-1", "event-2"]))
        before = self.everything_in(backend, stream)

        producer.flush()
        producer.close()

        assert before == []
        assert keys_of(self.everything_in(backend, stream)) == ["event-1", "event-2"]

    def test_records_carry_their_append_time(self, backend: Backend, stream: str) -> None:
        before_ms = time.time_ns() // 1_000_000
        self.produce(backend, stream, records_for(["event-1"]))
        after_ms = time.time_ns() // 1_000_000

        (record,) = self.everything_in(backend, stream)

        assert before_ms <= record.timestamp_ms <= after_ms
        assert record.stream == stream

    def test_partitions_lists_every_partition_of_a_stream(
        self, backend: Backend, stream: str
    ) -> None:
        partitions = backend.partitions(stream)

        assert sorted(partitions) == sorted(backend.end_offsets(stream))

    def test_list_streams_includes_created_streams(self, backend: Backend, stream: str) -> None:
        assert stream in backend.list_streams()

    def test_a_consumer_of_a_stream_that_does_not_exist_raises_unknown_stream(
        self, backend: Backend
    ) -> None:
        with pytest.raises(UnknownStream):
            backend.consumer([f"missing-{uuid.uuid4().hex[:8]}"], self.group())

    def test_the_atomic_writer_is_exactly_once(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        writer = backend.atomic_writer(open_consumer([stream], self.group()), "writer")

        assert writer.exactly_once is True

    # -- compaction ------------------------------------------------------------------------

    def test_a_compacted_stream_keeps_only_the_latest_record_per_key(
        self, backend: Backend, compacted_stream: str
    ) -> None:
        self.produce(backend, compacted_stream, records_for(["a", "b"], "1"))
        self.produce(backend, compacted_stream, records_for(["a"], "2") + records_for(["a"], "3"))

        values = sorted(r.value for r in self.everything_in(backend, compacted_stream))

        assert values == [b"a:3", b"b:1"]

    def test_a_tombstone_removes_older_records_of_its_key_and_stays_readable(
        self, backend: Backend, compacted_stream: str
    ) -> None:
        self.produce(backend, compacted_stream, records_for(["a", "b"], "1"))
        self.produce(backend, compacted_stream, [OutRecord("a", b"")])

        records = self.everything_in(backend, compacted_stream)

        assert sorted((r.key, r.value) for r in records) == [("a", b""), ("b", b"b:1")]

    def test_an_ordinary_stream_keeps_every_record_of_a_key(
        self, backend: Backend, stream: str
    ) -> None:
        self.produce(backend, stream, records_for(["a"], "1") + records_for(["a"], "2"))

        assert len(self.everything_in(backend, stream)) == 2

    # -- one active member per group -------------------------------------------------------

    def test_a_second_member_stands_by_while_the_first_is_active(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for([f"event-{n}" for n in range(10)]))
        group = self.group()
        active = open_consumer([stream], group)
        self.drain(active, 10)
        standby = open_consumer([stream], group)

        records = standby.poll(100, 0.05)

        assert records == []
        assert standby.assignment() == {}
        assert active.assignment() == {stream: backend.partitions(stream)}

    def test_a_standby_takes_over_from_the_committed_positions_when_the_member_leaves(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        keys = [f"event-{n}" for n in range(10)]
        self.produce(backend, stream, records_for(keys))
        group = self.group()
        active = open_consumer([stream], group)
        committed = self.take(active, 4)
        active.commit(committed)
        standby = open_consumer([stream], group)
        standby.poll(100, 0.01)

        active.close()
        records = self.drain(standby, 6)

        assert keys_of(records) == sorted(set(keys) - {r.key for r in committed})

    def test_assign_and_revoke_callbacks_report_the_partitions(
        self, backend: Backend, stream: str
    ) -> None:
        calls: list[tuple[str, str, list[str]]] = []
        consumer = backend.consumer(
            [stream],
            self.group(),
            on_assign=lambda s, ps: calls.append(("assign", s, list(ps))),
            on_revoke=lambda s, ps: calls.append(("revoke", s, list(ps))),
        )

        consumer.poll(10, 0.01)
        consumer.close()

        partitions = backend.partitions(stream)
        assert calls == [("assign", stream, partitions), ("revoke", stream, partitions)]
