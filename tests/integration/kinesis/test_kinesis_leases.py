"""Shard leases in DynamoDB (moto): exclusive ownership, balancing, fencing after a takeover.

Each consumer instance has its own backend object, as separate hosts would, sharing one table.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer
from streamjury.errors import FencedError
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kinesis import KinesisBackend
from streamjury.streams.kinesis.checkpoints.base import Checkpoint, TableWrite, uniform_layout
from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
from streamjury.streams.kinesis.consumer import ConsumerOptions, KinesisConsumer
from streamjury.streams.kinesis.leases import LeaseOptions
from tests.integration.kinesis.conftest import OpenBackend

pytestmark = pytest.mark.kinesis

SHORT_TTL_S = 1.5
SHORT_LEASES = ConsumerOptions(leases=LeaseOptions(ttl_s=SHORT_TTL_S, acquire_interval_s=0.1))
NOW, TTL = 1_000_000, 10_000
GROUP, SHARD = "group", "shardId-000000000000"


@pytest.fixture
def table(moto_server: MotoServer) -> str:
    return f"cp-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def two_hosts(
    open_backend: OpenBackend, moto_server: MotoServer, table: str
) -> tuple[KinesisBackend, KinesisBackend]:
    """Two backends over the same DynamoDB table, each with its own client and store object."""
    return (
        open_backend(DynamoCheckpointStore(moto_server.client("dynamodb"), table), SHORT_LEASES),
        open_backend(DynamoCheckpointStore(moto_server.client("dynamodb"), table), SHORT_LEASES),
    )


@pytest.fixture
def four_shard_stream(kinesis_local: LocalKinesis, two_hosts: Any) -> str:
    admin = kinesis_local.client()
    name = f"lease-{uuid.uuid4().hex[:10]}"
    admin.create_stream(StreamName=name, ShardCount=4)
    two_hosts[0].ensure_streams([name])  # waits until ACTIVE
    producer = two_hosts[0].producer()
    producer.send(name, [OutRecord(f"event-{n}", f"event-{n}".encode()) for n in range(80)])
    producer.close()
    return name


def owned(consumer: KinesisConsumer, stream: str) -> set[str]:
    return set(consumer.assignment().get(stream, []))


# -- the DynamoDB store's conditional writes --------------------------------------------------


def test_the_table_is_created_with_the_keys_the_store_needs(
    moto_server: MotoServer, table: str
) -> None:
    DynamoCheckpointStore(moto_server.client("dynamodb"), table)

    described = moto_server.client("dynamodb").describe_table(TableName=table)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert described["TableStatus"] == "ACTIVE"


def test_a_held_lease_is_refused_to_others_until_it_expires(
    moto_server: MotoServer, table: str
) -> None:
    first = DynamoCheckpointStore(moto_server.client("dynamodb"), table)
    second = DynamoCheckpointStore(moto_server.client("dynamodb"), table)

    assert first.acquire(GROUP, "s", SHARD, "a", NOW + TTL, NOW) is not None
    assert second.acquire(GROUP, "s", SHARD, "b", NOW + 2 * TTL, NOW + TTL - 1) is None
    assert not second.renew(GROUP, "s", SHARD, "b", NOW + 2 * TTL)
    taken = second.acquire(GROUP, "s", SHARD, "b", NOW + 2 * TTL, NOW + TTL)

    assert taken is not None
    assert taken.owner == "b"
    assert not first.renew(GROUP, "s", SHARD, "a", NOW + 3 * TTL)


def test_a_checkpoint_by_a_member_that_lost_its_lease_fails_and_changes_nothing(
    moto_server: MotoServer, table: str
) -> None:
    store = DynamoCheckpointStore(moto_server.client("dynamodb"), table)
    store.create_table_stream("state", uniform_layout(1))
    store.acquire(GROUP, "s", SHARD, "a", NOW + TTL, NOW)
    store.commit(GROUP, "a", [Checkpoint("s", SHARD, "10")])
    store.acquire(GROUP, "s", SHARD, "b", NOW + 2 * TTL, NOW + TTL)

    with pytest.raises(FencedError):
        store.commit(
            GROUP,
            "a",
            [Checkpoint("s", SHARD, "20")],
            state=[TableWrite("state", SHARD, "event-1", b"stale")],
        )

    assert store.leases(GROUP, "s")[SHARD].sequence == "10"
    assert store.read_table("state", SHARD) == []


def test_state_beyond_one_transaction_is_written_in_fenced_chunks_checkpoint_last(
    moto_server: MotoServer, table: str
) -> None:
    store = DynamoCheckpointStore(moto_server.client("dynamodb"), table)
    store.create_table_stream("state", uniform_layout(1))
    store.acquire(GROUP, "s", SHARD, "a", NOW + TTL, NOW)
    state = [TableWrite("state", SHARD, f"event-{n:03d}", b"v") for n in range(250)]

    store.commit(GROUP, "a", [Checkpoint("s", SHARD, "99", finished=True)], state=state)

    assert sorted(r.key for r in store.read_table("state", SHARD)) == [w.key for w in state]
    lease = store.leases(GROUP, "s")[SHARD]
    assert (lease.sequence, lease.finished, lease.owner) == ("99", True, "")


class RecordingTransactions:
    """A real DynamoDB client that records the items of every TransactWriteItems call."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.transactions: list[list[dict[str, Any]]] = []

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions.append(kwargs["TransactItems"])
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_state_over_4_mb_is_split_into_transactions_under_the_size_limit(
    moto_server: MotoServer, table: str
) -> None:
    recording = RecordingTransactions(moto_server.client("dynamodb"))
    store = DynamoCheckpointStore(recording, table)  # type: ignore[arg-type]
    store.create_table_stream("state", uniform_layout(1))
    store.acquire(GROUP, "s", SHARD, "a", NOW + TTL, NOW)
    state = [TableWrite("state", SHARD, f"event-{n:02d}", bytes(350_000)) for n in range(12)]

    store.commit(GROUP, "a", [Checkpoint("s", SHARD, "7")], state=state)

    sizes = [
        sum(
            len(action.get("Put", {}).get("Item", {}).get("value", {}).get("B", b""))
            for action in t
        )
        for t in recording.transactions
    ]
    assert len(sizes) >= 2
    assert all(size < 4 * 1024 * 1024 for size in sizes)
    assert "Update" in recording.transactions[-1][0]  # the checkpoint goes in the last one
    assert len(store.read_table("state", SHARD)) == 12


def test_members_expire_and_leave(moto_server: MotoServer, table: str) -> None:
    store = DynamoCheckpointStore(moto_server.client("dynamodb"), table)
    store.heartbeat(GROUP, "b", NOW + TTL)
    store.heartbeat(GROUP, "a", NOW + 1)

    assert store.members(GROUP, NOW) == ["a", "b"]
    assert store.members(GROUP, NOW + 1) == ["b"]
    store.leave(GROUP, "b")
    assert store.members(GROUP, NOW) == []


# -- consumer instances -------------------------------------------------------------------------


def test_two_instances_never_both_own_a_shard_and_split_them_evenly(
    two_hosts: tuple[KinesisBackend, KinesisBackend], four_shard_stream: str
) -> None:
    stream = four_shard_stream
    first = two_hosts[0].consumer([stream], "group")
    second = two_hosts[1].consumer([stream], "group")
    records: list[Record] = []

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for consumer in (first, second):
            batch = consumer.poll(10, 0.05)
            consumer.commit(batch)
            records += batch
            assert not owned(first, stream) & owned(second, stream)
        balanced = len(owned(first, stream)) == len(owned(second, stream)) == 2
        if balanced and len(records) >= 80:
            break

    assert len(owned(first, stream)) == len(owned(second, stream)) == 2
    assert sorted(r.key for r in records) == sorted(f"event-{n}" for n in range(80))
    leases = two_hosts[0].store.leases("group", stream)
    assert {lease.owner for lease in leases.values()} == {first.member, second.member}


def test_an_instance_that_stops_polling_is_taken_over_and_its_checkpoint_is_fenced(
    two_hosts: tuple[KinesisBackend, KinesisBackend], four_shard_stream: str
) -> None:
    stream = four_shard_stream
    stalled = two_hosts[0].consumer([stream], "group")
    read = stalled.poll(80, 1.0)
    assert read
    assert len(owned(stalled, stream)) == 4
    taker = two_hosts[1].consumer([stream], "group")

    redelivered: list[Record] = []
    deadline = time.monotonic() + SHORT_TTL_S * 4
    while time.monotonic() < deadline and len(owned(taker, stream)) < 4:
        redelivered += taker.poll(80, 0.1)  # the stalled instance's leases run out

    with pytest.raises(FencedError):
        stalled.commit(read)
    assert len(owned(taker, stream)) == 4
    assert two_hosts[0].committed(stream, "group") == {}
    assert {r.key for r in read} <= {r.key for r in redelivered}


def test_a_fenced_atomic_write_writes_neither_outputs_nor_state(
    two_hosts: tuple[KinesisBackend, KinesisBackend], four_shard_stream: str
) -> None:
    stream = four_shard_stream
    first, second = two_hosts
    first.ensure_streams([f"{stream}-out"])
    first.ensure_streams([f"{stream}-state"], compacted=True)
    stalled = first.consumer([stream], "group")
    read = stalled.poll(80, 1.0)
    writer = first.atomic_writer(stalled, "writer")
    taker = second.consumer([stream], "group")
    deadline = time.monotonic() + SHORT_TTL_S * 4
    while time.monotonic() < deadline and len(owned(taker, stream)) < 4:
        taker.poll(80, 0.1)

    with pytest.raises(FencedError):
        writer.write_and_commit(
            {f"{stream}-out": [OutRecord("o", b"o")], f"{stream}-state": [OutRecord("s", b"s")]},
            read,
        )

    assert all(
        not list(first.read_partition(f"{stream}-out", p))
        for p in first.partitions(f"{stream}-out")
    )
    assert all(
        not list(first.read_partition(f"{stream}-state", p))
        for p in first.partitions(f"{stream}-state")
    )
