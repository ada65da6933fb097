"""What only the Kinesis backend has: table streams, the write-then-commit order, recovery from
expired iterators and throttling, and how it picks its checkpoint store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer
from streamjury.errors import ConfigError, StreamError
from streamjury.settings import KinesisSettings
from streamjury.streams.base import OutRecord, Record, StartFrom
from streamjury.streams.kinesis import KinesisBackend
from streamjury.streams.kinesis.checkpoints.base import Checkpoint, CheckpointStore
from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
from streamjury.streams.kinesis.consumer import ConsumerOptions
from streamjury.streams.kinesis.leases import LeaseOptions
from tests.integration.kinesis.conftest import OpenBackend

pytestmark = pytest.mark.kinesis

WAIT_S = 10.0
SHORT_LEASES = ConsumerOptions(leases=LeaseOptions(ttl_s=1.0, acquire_interval_s=0.1))


def produce(backend: KinesisBackend, stream: str, records: Sequence[OutRecord]) -> None:
    producer = backend.producer()
    producer.send(stream, records)
    producer.close()


def read_all(backend: KinesisBackend, stream: str) -> list[Record]:
    return [r for p in backend.partitions(stream) for r in backend.read_partition(stream, p)]


def take(consumer: Any, count: int) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while len(records) < count and time.monotonic() < deadline:
        records += consumer.poll(count - len(records), 0.1)
    return records


def names(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- table streams -------------------------------------------------------------------------------


def test_a_table_stream_has_the_shards_of_a_kinesis_stream_and_routes_keys_alike(
    backend: KinesisBackend,
) -> None:
    """So the decision service finds an event's state in the partition of its verdicts."""
    verdicts, state = names("verdicts"), names("state")
    backend.ensure_streams([verdicts])
    backend.ensure_streams([state], compacted=True)
    keys = [f"event-{n}" for n in range(40)]

    produce(backend, verdicts, [OutRecord(key, b"verdict") for key in keys])
    produce(backend, state, [OutRecord(key, b"state") for key in keys])

    assert backend.partitions(state) == backend.partitions(verdicts)
    assert set(backend.end_offsets(state)) == set(backend.end_offsets(verdicts))
    assert {(r.key, r.partition) for r in read_all(backend, state)} == {
        (r.key, r.partition) for r in read_all(backend, verdicts)
    }


def test_a_table_stream_is_listed_but_not_consumed(backend: KinesisBackend) -> None:
    state = names("state")
    backend.ensure_streams([state], compacted=True)

    assert state in backend.list_streams()
    with pytest.raises(StreamError, match="read_partition"):
        backend.consumer([state], "group")


def test_a_name_cannot_be_both_a_kinesis_and_a_table_stream(backend: KinesisBackend) -> None:
    stream = names("both")
    backend.ensure_streams([stream])

    with pytest.raises(ConfigError):
        backend.ensure_streams([stream], compacted=True)


# -- the atomic writer's order ---------------------------------------------------------------------


class FailingCommits:
    """A checkpoint store whose commits fail, as if the process died right before them."""

    def __init__(self, store: CheckpointStore) -> None:
        self._store = store

    def commit(self, *args: Any, **kwargs: Any) -> None:
        raise StreamError("injected: crashed before the checkpoint")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_crash_before_the_checkpoint_redelivers_the_inputs_and_loses_nothing(
    open_backend: OpenBackend, sqlite_store: SqliteCheckpointStore
) -> None:
    healthy = open_backend(sqlite_store, SHORT_LEASES)
    crashing = open_backend(FailingCommits(sqlite_store), SHORT_LEASES)
    events, outputs, state = names("in"), names("out"), names("state")
    healthy.ensure_streams([events, outputs])
    healthy.ensure_streams([state], compacted=True)
    keys = [f"event-{n}" for n in range(10)]
    produce(healthy, events, [OutRecord(key, b"in") for key in keys])

    def process(backend: KinesisBackend) -> None:
        consumer = backend.consumer([events], "group")
        inputs = take(consumer, len(keys))
        writer = backend.atomic_writer(consumer, "writer")
        writer.write_and_commit(
            {
                outputs: [OutRecord(r.key, b"decided") for r in inputs],
                state: [OutRecord(r.key, b"joined") for r in inputs],
            },
            inputs,
        )
        consumer.close()

    with pytest.raises(StreamError, match="injected"):
        process(crashing)  # its leases are never released: they expire
    assert healthy.committed(events, "group") == {}
    process(healthy)  # the next owner gets every input again

    decided = read_all(healthy, outputs)
    assert sorted(r.key for r in decided) == sorted(keys * 2)  # each output twice, identical
    assert {r.value for r in decided} == {b"decided"}
    assert sorted((r.key, r.value) for r in read_all(healthy, state)) == [
        (key, b"joined") for key in sorted(keys)
    ]
    assert set(healthy.committed(events, "group")) == set(healthy.partitions(events))


# -- positions ---------------------------------------------------------------------------------------


def test_end_offsets_of_empty_shards_start_readers_at_the_first_record_written_later(
    backend: KinesisBackend, stream: str
) -> None:
    boundary = backend.end_offsets(stream)
    keys = [f"event-{n}" for n in range(10)]
    produce(backend, stream, [OutRecord(key, b"v") for key in keys])

    records = take(backend.consumer([stream], None, StartFrom.at_offsets(boundary)), len(keys))

    assert sorted(r.key for r in records) == sorted(keys)
    assert all(r.offset >= boundary[r.partition] for r in records)


def test_committed_is_one_past_the_last_committed_sequence_number(
    backend: KinesisBackend, stream: str
) -> None:
    produce(backend, stream, [OutRecord("k", b"1"), OutRecord("k", b"2")])
    consumer = backend.consumer([stream], "group")
    first = take(consumer, 1)

    consumer.commit(first)

    assert backend.committed(stream, "group") == {first[0].partition: first[0].offset + 1}
    lease = backend.store.leases("group", stream)[first[0].partition]
    assert lease.sequence == str(first[0].offset)


# -- recovery from GetRecords errors -----------------------------------------------------------------


class FlakyGetRecords:
    """A real Kinesis client whose first GetRecords calls fail with ``code``."""

    def __init__(self, client: Any, code: str, failures: int) -> None:
        self._client = client
        self._code = code
        self.failures_left = failures

    def get_records(self, **kwargs: Any) -> Any:
        if self.failures_left > 0:
            self.failures_left -= 1
            error = {"Error": {"Code": self._code, "Message": "injected"}}
            raise ClientError(error, "GetRecords")  # type: ignore[arg-type]
        return self._client.get_records(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize(
    "code", ["ExpiredIteratorException", "ProvisionedThroughputExceededException"]
)
def test_a_consumer_recovers_from_expired_iterators_and_throttling_without_loss_or_duplicates(
    code: str,
    open_backend: OpenBackend,
    sqlite_store: SqliteCheckpointStore,
    kinesis_local: LocalKinesis,
) -> None:
    flaky = FlakyGetRecords(kinesis_local.client(), code, failures=3)
    backend = open_backend(sqlite_store, client=flaky)
    stream = names("flaky")
    backend.ensure_streams([stream])
    keys = [f"event-{n}" for n in range(20)]
    produce(backend, stream, [OutRecord(key, b"v") for key in keys])

    consumer = backend.consumer([stream], "group")
    records = take(consumer, len(keys)) + consumer.poll(100, 0.5)

    assert flaky.failures_left == 0
    assert sorted(r.key for r in records) == sorted(keys)


# -- choosing the checkpoint store -------------------------------------------------------------------


def test_without_a_checkpoint_table_the_store_is_sqlite_in_the_local_dir(
    kinesis_settings: KinesisSettings, tmp_path: Path
) -> None:
    backend = KinesisBackend(kinesis_settings, local_dir=tmp_path)

    assert isinstance(backend.store, SqliteCheckpointStore)
    assert backend.store.path.parent == tmp_path
    backend.close()


def test_with_a_checkpoint_table_the_store_is_dynamodb_and_the_table_is_created(
    kinesis_local: LocalKinesis, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"cp-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", kinesis_local.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint_url)
    monkeypatch.setenv("STREAMJURY_KINESIS_CHECKPOINT_TABLE", table)

    backend = KinesisBackend(KinesisSettings())

    assert isinstance(backend.store, DynamoCheckpointStore)
    assert backend.store.table_streams() == []
    assert backend.store.table == table
    assert table in moto_server.client("dynamodb").list_tables()["TableNames"]
    backend.close()


def test_the_checkpoint_store_outlives_a_backend_that_was_given_it(
    open_backend: OpenBackend, sqlite_store: SqliteCheckpointStore
) -> None:
    open_backend(sqlite_store).close()

    sqlite_store.heartbeat("group", "member", 2**62)
    assert sqlite_store.members("group", 0) == ["member"]


def test_checkpoints_survive_a_new_backend_object(
    open_backend: OpenBackend, tmp_path: Path, stream: str
) -> None:
    path = tmp_path / "shared.db"
    first = open_backend(SqliteCheckpointStore(path))
    first.store.acquire("group", stream, "shardId-000000000000", "me", 2**62, 0)
    first.store.commit("group", "me", [Checkpoint(stream, "shardId-000000000000", "41")])
    first.store.close()

    again = open_backend(SqliteCheckpointStore(path))

    assert again.committed(stream, "group") == {"shardId-000000000000": 42}
