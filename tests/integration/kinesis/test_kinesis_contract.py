"""The backend contract, run against the Kinesis backend on kinesis-local, with both stores.

Where Kinesis cannot behave like the embedded backends, the test is overridden with what it does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from streamjury.devservers.moto_server import MotoServer
from streamjury.streams.base import Backend, OutRecord, Record
from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
from tests.integration.kinesis.conftest import OpenBackend
from tests.unit.streams.contract import EmbeddedBackendContract, OpenConsumer, records_for

pytestmark = pytest.mark.kinesis

REBALANCE_WAIT_S = 15.0
"""A member notices a newcomer at its next lease renewal (a third of the 10 s TTL), so a
rebalance takes about 3.5 s; the rest is headroom for a busy machine."""


class TestKinesisBackend(EmbeddedBackendContract):
    quiet_s = 0.3
    """Longer than the 0.2 s between two GetRecords calls on a shard: every shard is re-read."""

    @pytest.fixture(params=["sqlite", "dynamodb"])
    def backend(
        self,
        request: pytest.FixtureRequest,
        sqlite_store: SqliteCheckpointStore,
        moto_server: MotoServer,
        open_backend: OpenBackend,
    ) -> Iterator[Backend]:
        if request.param == "sqlite":
            yield open_backend(sqlite_store)
        else:
            import uuid

            table = f"cp-{uuid.uuid4().hex[:10]}"
            yield open_backend(DynamoCheckpointStore(moto_server.client("dynamodb"), table))

    # -- overridden: what Kinesis does instead -------------------------------------------------

    def test_offsets_are_dense_from_zero_in_every_partition(
        self, backend: Backend, stream: str
    ) -> None:
        """Kinesis offsets are sequence numbers: increasing per shard, neither dense nor from 0.
        The end offset of a shard is one past its last record's."""
        self.produce(backend, stream, records_for([f"event-{n}" for n in range(40)]))

        ends = backend.end_offsets(stream)

        total = 0
        for partition, end in ends.items():
            offsets = [record.offset for record in backend.read_partition(stream, partition)]
            total += len(offsets)
            assert offsets == sorted(set(offsets))
            if offsets:
                assert end == offsets[-1] + 1
        assert total == 40

    def test_read_partition_starts_at_the_given_offset(self, backend: Backend, stream: str) -> None:
        """The offset is a record's sequence number (Kinesis positions at real records only)."""
        self.produce(backend, stream, [OutRecord("same-key", f"{n}".encode()) for n in range(10)])
        (partition,) = [
            p for p in backend.end_offsets(stream) if list(backend.read_partition(stream, p))
        ]
        seventh = list(backend.read_partition(stream, partition))[6]

        values = [int(r.value) for r in backend.read_partition(stream, partition, seventh.offset)]

        assert values == [6, 7, 8, 9]

    def test_the_atomic_writer_is_exactly_once(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        """Kinesis has no transactions: outputs, then state, then checkpoints (at-least-once)."""
        writer = backend.atomic_writer(open_consumer([stream], self.group()), "writer")

        assert writer.exactly_once is False

    def test_a_tombstone_removes_older_records_of_its_key_and_stays_readable(
        self, backend: Backend, compacted_stream: str
    ) -> None:
        """A table stream deletes the key at once: no retention timer to keep a tombstone for,
        and readers of compacted streams treat an absent key like a tombstoned one."""
        self.produce(backend, compacted_stream, records_for(["a", "b"], "1"))
        self.produce(backend, compacted_stream, [OutRecord("a", b"")])

        records = self.everything_in(backend, compacted_stream)

        assert sorted((r.key, r.value) for r in records) == [("b", b"b:1")]

    def test_a_second_member_stands_by_while_the_first_is_active(
        self, backend: Backend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        """Members split the shards: the first hands a shard over once it committed what it
        read from it, the second takes it and reads nothing already committed."""
        self.produce(backend, stream, records_for([f"event-{n}" for n in range(10)]))
        group = self.group()
        first = open_consumer([stream], group)
        first.commit(self.drain(first, 10))
        second = open_consumer([stream], group)

        late: list[Record] = []
        deadline = time.monotonic() + REBALANCE_WAIT_S
        while time.monotonic() < deadline and not (first.assignment() and second.assignment()):
            late += first.poll(100, 0.05) + second.poll(100, 0.05)

        first_shards = first.assignment()[stream]
        second_shards = second.assignment()[stream]
        assert len(first_shards) == len(second_shards) == 1
        assert sorted(first_shards + second_shards) == backend.partitions(stream)
        assert late == []
