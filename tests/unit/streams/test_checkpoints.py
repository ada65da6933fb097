"""The SQLite checkpoint store: exclusive leases, fenced checkpoints, members and table streams.

No server needed; the DynamoDB store is held to the same behaviour in the Kinesis integration tests.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.errors import FencedError, StreamError, UnknownStream
from streamjury.streams.kinesis.checkpoints.base import (
    HASH_KEY_SPACE,
    Checkpoint,
    TableWrite,
    hash_key,
    partition_of,
    uniform_layout,
)
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
from streamjury.streams.kinesis.leases import fair_share

NOW = 1_000_000
TTL = 10_000
GROUP, STREAM, SHARD = "group", "rides", "shardId-000000000000"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteCheckpointStore]:
    store = SqliteCheckpointStore(tmp_path / "checkpoints.db")
    yield store
    store.close()


def take(store: SqliteCheckpointStore, owner: str, now: int = NOW, shard: str = SHARD) -> bool:
    return store.acquire(GROUP, STREAM, shard, owner, now + TTL, now) is not None


# -- leases ------------------------------------------------------------------------------------


def test_a_free_shard_is_taken_and_then_refused_to_others_until_it_expires(
    store: SqliteCheckpointStore,
) -> None:
    assert take(store, "a")
    assert not take(store, "b", now=NOW + TTL - 1)
    assert take(store, "b", now=NOW + TTL)
    assert store.leases(GROUP, STREAM)[SHARD].owner == "b"


def test_an_owner_may_take_its_own_lease_again(store: SqliteCheckpointStore) -> None:
    assert take(store, "a")
    assert take(store, "a", now=NOW + 1)


def test_a_renewed_lease_is_not_taken_when_its_first_expiry_passes(
    store: SqliteCheckpointStore,
) -> None:
    take(store, "a")

    assert store.renew(GROUP, STREAM, SHARD, "a", NOW + 2 * TTL)

    assert not take(store, "b", now=NOW + TTL)


def test_renewing_a_lease_taken_over_fails(store: SqliteCheckpointStore) -> None:
    take(store, "a")
    take(store, "b", now=NOW + TTL)

    assert not store.renew(GROUP, STREAM, SHARD, "a", NOW + 3 * TTL)
    assert store.leases(GROUP, STREAM)[SHARD].owner == "b"


def test_a_released_lease_is_free_at_once_and_keeps_its_checkpoint(
    store: SqliteCheckpointStore,
) -> None:
    take(store, "a")
    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "42")])

    store.release(GROUP, STREAM, SHARD, "a")
    lease = store.acquire(GROUP, STREAM, SHARD, "b", NOW + TTL, NOW)

    assert lease is not None
    assert (lease.owner, lease.sequence) == ("b", "42")


def test_releasing_a_lease_someone_else_holds_changes_nothing(
    store: SqliteCheckpointStore,
) -> None:
    take(store, "a")

    store.release(GROUP, STREAM, SHARD, "b")

    assert store.leases(GROUP, STREAM)[SHARD].owner == "a"


def test_many_contenders_at_once_leave_exactly_one_owner(tmp_path: Path) -> None:
    """Each contender has its own connection, as separate processes would."""
    path = tmp_path / "shared.db"
    stores = [SqliteCheckpointStore(path) for _ in range(8)]
    winners: list[str] = []
    start = threading.Barrier(len(stores))

    def contend(index: int) -> None:
        start.wait()
        if stores[index].acquire(GROUP, STREAM, SHARD, f"m{index}", NOW + TTL, NOW):
            winners.append(f"m{index}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    assert stores[0].leases(GROUP, STREAM)[SHARD].owner == winners[0]
    for store in stores:
        store.close()


# -- checkpoints and fencing -------------------------------------------------------------------


def test_the_owner_checkpoints_the_last_sequence_number(store: SqliteCheckpointStore) -> None:
    take(store, "a")

    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "49680447771756204874137949144718169974")])

    lease = store.leases(GROUP, STREAM)[SHARD]
    assert lease.sequence == "49680447771756204874137949144718169974"
    assert not lease.finished


def test_a_member_that_lost_its_lease_cannot_checkpoint(store: SqliteCheckpointStore) -> None:
    take(store, "a")
    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "10")])
    take(store, "b", now=NOW + TTL)

    with pytest.raises(FencedError):
        store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "20")])

    assert store.leases(GROUP, STREAM)[SHARD].sequence == "10"


def test_checkpointing_a_shard_never_leased_is_fenced(store: SqliteCheckpointStore) -> None:
    with pytest.raises(FencedError):
        store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "1")])


def test_a_fenced_commit_writes_none_of_its_state(store: SqliteCheckpointStore) -> None:
    store.create_table_stream("state", uniform_layout(1))
    take(store, "a")
    take(store, "a", shard="shardId-000000000001")
    take(store, "b", now=NOW + TTL, shard="shardId-000000000001")
    state = [TableWrite("state", "shardId-000000000000", "event-1", b"joined")]

    with pytest.raises(FencedError):
        store.commit(
            GROUP,
            "a",
            [Checkpoint(STREAM, SHARD, "5")],
            state=state,
            fenced_by=[(STREAM, "shardId-000000000001")],
        )

    assert store.read_table("state", "shardId-000000000000") == []
    assert store.leases(GROUP, STREAM)[SHARD].sequence is None


def test_a_commit_writes_state_and_checkpoints_together(store: SqliteCheckpointStore) -> None:
    store.create_table_stream("state", uniform_layout(1))
    take(store, "a")

    store.commit(
        GROUP,
        "a",
        [Checkpoint(STREAM, SHARD, "7")],
        state=[TableWrite("state", "shardId-000000000000", "event-1", b"joined")],
    )

    assert [r.value for r in store.read_table("state", "shardId-000000000000")] == [b"joined"]
    assert store.leases(GROUP, STREAM)[SHARD].sequence == "7"


def test_a_finished_checkpoint_frees_the_lease_and_marks_the_shard_done(
    store: SqliteCheckpointStore,
) -> None:
    take(store, "a")

    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "9", finished=True)])

    lease = store.leases(GROUP, STREAM)[SHARD]
    assert (lease.owner, lease.sequence, lease.finished) == ("", "9", True)


def test_a_finished_checkpoint_without_a_sequence_keeps_the_previous_one(
    store: SqliteCheckpointStore,
) -> None:
    take(store, "a")
    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, "9")])

    store.commit(GROUP, "a", [Checkpoint(STREAM, SHARD, None, finished=True)])

    assert store.leases(GROUP, STREAM)[SHARD].sequence == "9"


def test_groups_and_streams_have_separate_leases(store: SqliteCheckpointStore) -> None:
    take(store, "a")

    assert store.acquire("other-group", STREAM, SHARD, "b", NOW + TTL, NOW) is not None
    assert store.acquire(GROUP, "uploads", SHARD, "b", NOW + TTL, NOW) is not None


# -- members -----------------------------------------------------------------------------------


def test_members_are_listed_until_their_heartbeat_expires_or_they_leave(
    store: SqliteCheckpointStore,
) -> None:
    store.heartbeat(GROUP, "b", NOW + TTL)
    store.heartbeat(GROUP, "a", NOW + TTL)
    store.heartbeat(GROUP, "c", NOW + 1)

    assert store.members(GROUP, NOW) == ["a", "b", "c"]
    assert store.members(GROUP, NOW + 1) == ["a", "b"]
    store.leave(GROUP, "a")
    assert store.members(GROUP, NOW + 1) == ["b"]
    assert store.members("other-group", NOW) == []


# -- table streams -----------------------------------------------------------------------------


def test_a_table_stream_keeps_the_latest_value_per_key_and_deletes_on_empty(
    store: SqliteCheckpointStore,
) -> None:
    store.create_table_stream("state", uniform_layout(1))
    partition = "shardId-000000000000"

    store.write_table(
        [
            TableWrite("state", partition, "a", b"1"),
            TableWrite("state", partition, "b", b"1"),
            TableWrite("state", partition, "a", b"2"),
            TableWrite("state", partition, "b", b""),
        ]
    )

    records = store.read_table("state", partition)
    assert [(r.key, r.value) for r in records] == [("a", b"2")]
    assert store.table_end_offsets("state") == {partition: records[-1].offset + 1}


def test_table_offsets_grow_with_every_write_and_reads_can_start_anywhere(
    store: SqliteCheckpointStore,
) -> None:
    store.create_table_stream("state", uniform_layout(1))
    partition = "shardId-000000000000"
    for key in ("a", "b", "c"):
        store.write_table([TableWrite("state", partition, key, key.encode())])

    offsets = [r.offset for r in store.read_table("state", partition)]
    later = store.read_table("state", partition, offsets[1])

    assert offsets == sorted(set(offsets))
    assert [r.key for r in later] == ["b", "c"]


def test_creating_a_table_stream_again_keeps_its_layout(store: SqliteCheckpointStore) -> None:
    store.create_table_stream("state", uniform_layout(2))

    store.create_table_stream("state", uniform_layout(4))

    assert store.table_layout("state") == uniform_layout(2)
    assert store.table_streams() == ["state"]
    assert store.table_end_offsets("state") == {p.name: 0 for p in uniform_layout(2)}


def test_unknown_table_streams_and_partitions_are_errors(store: SqliteCheckpointStore) -> None:
    store.create_table_stream("state", uniform_layout(2))

    assert store.table_layout("missing") is None
    with pytest.raises(UnknownStream):
        store.read_table("missing", "shardId-000000000000")
    with pytest.raises(StreamError):
        store.read_table("state", "shardId-000000000009")


# -- layout and fair shares --------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_a_uniform_layout_covers_the_hash_key_space_without_gaps(count: int) -> None:
    layout = uniform_layout(count)

    assert layout[0].start_hash == 0
    assert layout[-1].end_hash == HASH_KEY_SPACE - 1
    for left, right in itertools.pairwise(layout):
        assert right.start_hash == left.end_hash + 1
    assert [p.name for p in layout] == [f"shardId-{i:012d}" for i in range(count)]


def test_a_key_goes_to_the_partition_whose_range_holds_its_md5() -> None:
    layout = uniform_layout(4)

    for key in (f"event-{n}" for n in range(50)):
        partition = next(p for p in layout if p.name == partition_of(key, layout))
        assert partition.start_hash <= hash_key(key) <= partition.end_hash


@pytest.mark.parametrize(("members", "shards"), [(1, 4), (2, 4), (3, 4), (3, 2), (4, 9)])
def test_fair_shares_add_up_and_differ_by_at_most_one(members: int, shards: int) -> None:
    everyone = [f"member-{n}" for n in range(members)]

    shares = [fair_share(m, everyone, "rides", shards) for m in everyone]

    assert sum(shares) == shards
    assert max(shares) - min(shares) <= 1


def test_a_member_counts_itself_even_before_its_heartbeat_is_seen() -> None:
    assert fair_share("new", ["old"], "rides", 2) == 1
