"""Resharding on kinesis-local: split and merge a shard while a consumer reads the stream.

Every record must be read exactly once, and a key's records in the order written: a parent's
records before its children's, children read only once their parents are done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.streams.base import OutRecord, Record, StreamConsumer
from streamjury.streams.kinesis import KinesisBackend

pytestmark = pytest.mark.kinesis

KEYS = [f"ride-{n}" for n in range(20)]
WAIT_S = 20.0


def create_stream(admin: Any, shards: int) -> str:
    name = f"reshard-{uuid.uuid4().hex[:10]}"
    admin.create_stream(StreamName=name, ShardCount=shards)
    wait_active(admin, name)
    return name


def wait_active(admin: Any, stream: str) -> None:
    deadline = time.monotonic() + 10
    while (
        admin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]
        != "ACTIVE"
    ):
        assert time.monotonic() < deadline, f"{stream} never became ACTIVE"
        time.sleep(0.02)


def open_shards(admin: Any, stream: str) -> list[dict[str, Any]]:
    return [
        shard
        for shard in admin.list_shards(StreamName=stream)["Shards"]
        if "EndingSequenceNumber" not in shard["SequenceNumberRange"]
    ]


def split(admin: Any, stream: str, shard: dict[str, Any]) -> None:
    low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    admin.split_shard(
        StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    wait_active(admin, stream)


def produce_round(backend: KinesisBackend, stream: str, round_no: int) -> None:
    producer = backend.producer()
    producer.send(stream, [OutRecord(key, f"{key}:{round_no}".encode()) for key in KEYS])
    producer.close()


def consume(
    consumer: StreamConsumer, count: int, *, commit: bool, then_quiet: bool = True
) -> list[Record]:
    """Poll (committing each batch if asked) until ``count`` records came; then, if
    ``then_quiet``, for half a second more, so that any extra record shows up."""
    records: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    quiet_until = None
    while time.monotonic() < deadline:
        if len(records) >= count:
            if not then_quiet or (quiet_until is not None and time.monotonic() > quiet_until):
                break
            quiet_until = quiet_until or time.monotonic() + 0.5
        batch = consumer.poll(7, 0.1)  # small batches: commits land mid-shard
        if commit:
            consumer.commit(batch)
        records += batch
    return records


def assert_each_key_in_written_order(records: Sequence[Record], rounds: int) -> None:
    values = [record.value.decode() for record in records]
    assert sorted(values) == sorted(f"{key}:{n}" for key in KEYS for n in range(1, rounds + 1))
    for key in KEYS:
        assert [v for v in values if v.startswith(f"{key}:")] == [
            f"{key}:{n}" for n in range(1, rounds + 1)
        ]


def assert_parents_before_children(records: Sequence[Record], parents: set[str]) -> None:
    last_parent = max(i for i, r in enumerate(records) if r.partition in parents)
    first_child = min(i for i, r in enumerate(records) if r.partition not in parents)
    assert last_parent < first_child


@pytest.fixture
def admin(kinesis_local: LocalKinesis) -> Any:
    return kinesis_local.client()


def test_a_group_reads_across_a_split_exactly_once_parent_first(
    backend: KinesisBackend, admin: Any
) -> None:
    stream = create_stream(admin, shards=1)
    (parent,) = open_shards(admin, stream)
    produce_round(backend, stream, 1)
    consumer = backend.consumer([stream], "group")
    early = consume(consumer, 10, commit=True, then_quiet=False)  # part of the parent

    split(admin, stream, parent)
    produce_round(backend, stream, 2)
    produce_round(backend, stream, 3)
    rest = consume(consumer, 60 - len(early), commit=True)

    records = early + rest
    assert_each_key_in_written_order(records, rounds=3)
    assert_parents_before_children(records, {parent["ShardId"]})
    children = {shard["ShardId"] for shard in open_shards(admin, stream)}
    assert {r.partition for r in records} == {parent["ShardId"], *children}
    leases = backend.store.leases("group", stream)
    assert leases[parent["ShardId"]].finished
    assert all(not leases[child].finished and leases[child].sequence for child in children)
    consumer.close()


def test_a_new_member_resumes_from_the_children_after_the_parent_finished(
    backend: KinesisBackend, admin: Any
) -> None:
    stream = create_stream(admin, shards=1)
    (parent,) = open_shards(admin, stream)
    produce_round(backend, stream, 1)
    split(admin, stream, parent)
    produce_round(backend, stream, 2)
    first = backend.consumer([stream], "group")
    first_records = consume(first, 25, commit=True, then_quiet=False)
    first.close()

    second = backend.consumer([stream], "group")
    second_records = consume(second, 40 - len(first_records), commit=True)

    assert_each_key_in_written_order(first_records + second_records, rounds=2)
    second.close()


def test_a_group_less_reader_reads_across_a_split_in_order(
    backend: KinesisBackend, admin: Any
) -> None:
    stream = create_stream(admin, shards=1)
    (parent,) = open_shards(admin, stream)
    produce_round(backend, stream, 1)
    split(admin, stream, parent)
    produce_round(backend, stream, 2)

    records = consume(backend.consumer([stream], None), 40, commit=False)

    assert_each_key_in_written_order(records, rounds=2)
    assert_parents_before_children(records, {parent["ShardId"]})


def test_a_merged_shard_is_read_after_both_of_its_parents(
    backend: KinesisBackend, admin: Any
) -> None:
    stream = create_stream(admin, shards=2)
    left, right = open_shards(admin, stream)
    produce_round(backend, stream, 1)
    consumer = backend.consumer([stream], "group")
    early = consume(consumer, 5, commit=True, then_quiet=False)

    admin.merge_shards(
        StreamName=stream,
        ShardToMerge=left["ShardId"],
        AdjacentShardToMerge=right["ShardId"],
    )
    wait_active(admin, stream)
    produce_round(backend, stream, 2)
    rest = consume(consumer, 40 - len(early), commit=True)

    records = early + rest
    assert_each_key_in_written_order(records, rounds=2)
    assert_parents_before_children(records, {left["ShardId"], right["ShardId"]})
    consumer.close()
