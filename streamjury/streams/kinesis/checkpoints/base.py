"""Where the Kinesis backend keeps what Kinesis cannot: shard leases, checkpoints, table streams.

``CheckpointStore`` is the Protocol; SQLite (one host) and DynamoDB (many hosts) implement it.

* Leases: one item per (group, stream, shard) with an owner and an expiry. Every change is a
  conditional write on the owner, so two instances never both own a shard, and an instance whose
  lease was taken cannot checkpoint (``FencedError``).
* Checkpoints live in the lease item: the sequence number of the last record processed, and
  ``finished`` once the shard is closed and fully processed (its children may then be read).
* Members: a heartbeat item per group member, so members can split the shards evenly.
* Table streams: what ``ensure_streams(..., compacted=True)`` creates on Kinesis, which has no
  compaction. Items keyed by (stream, partition, key); the latest value wins, an empty value
  deletes the key. ``commit`` writes such state and checkpoints together, fenced by the leases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streamjury.streams.base import Record

FREE = ""
"""The owner of a lease nobody holds."""
HASH_KEY_SPACE = 2**128
"""Kinesis maps a partition key to a shard by the MD5 of the key, a 128-bit integer."""


@dataclass(frozen=True, slots=True)
class ShardLease:
    """A group's lease row for one shard: who reads it, until when, and how far it got."""

    stream: str
    shard: str
    owner: str = FREE
    expires_ms: int = 0
    sequence: str | None = None
    """Sequence number of the last record processed (a decimal string), None before any."""
    finished: bool = False
    """The shard is closed and every record of it was processed: its children may be read."""

    def is_takeable(self, owner: str, now_ms: int) -> bool:
        """Free, already ``owner``'s, or expired: ``owner`` may take it."""
        return self.owner in (FREE, owner) or self.expires_ms <= now_ms


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a commit stores for one shard."""

    stream: str
    shard: str
    sequence: str | None
    finished: bool = False


@dataclass(frozen=True, slots=True)
class TablePartition:
    """One partition of a table stream: the keys whose MD5 falls in [start_hash, end_hash]."""

    name: str
    start_hash: int
    end_hash: int


@dataclass(frozen=True, slots=True)
class TableWrite:
    """An upsert of ``key`` in a table stream partition; an empty value deletes the key."""

    stream: str
    partition: str
    key: str
    value: bytes


def hash_key(key: str) -> int:
    """The Kinesis hash key of a partition key: MD5 of its UTF-8 bytes, big-endian."""
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest(), "big")


def uniform_layout(count: int) -> list[TablePartition]:
    """Partitions named and split like the shards of a new Kinesis stream of ``count`` shards.

    So a table stream created with the same shard count as a Kinesis stream has the same
    partition names and routes a key to the partition whose shard gets that key. (Emulators may
    place a boundary one hash value off from AWS; a key hashing exactly there is a 2**-127 event.)
    """
    if count < 1:
        raise ValueError(f"a table stream needs at least one partition, got {count}")
    return [
        TablePartition(
            f"shardId-{index:012d}",
            HASH_KEY_SPACE * index // count,
            HASH_KEY_SPACE * (index + 1) // count - 1,
        )
        for index in range(count)
    ]


def partition_of(key: str, layout: Sequence[TablePartition]) -> str:
    """The partition of ``layout`` that ``key`` hashes into."""
    point = hash_key(key)
    for partition in layout:
        if partition.start_hash <= point <= partition.end_hash:
            return partition.name
    raise ValueError(f"the table layout does not cover hash key {point}")


def layout_to_json(layout: Sequence[TablePartition]) -> str:
    return json.dumps([[p.name, str(p.start_hash), str(p.end_hash)] for p in layout])


def layout_from_json(text: str) -> list[TablePartition]:
    return [TablePartition(name, int(start), int(end)) for name, start, end in json.loads(text)]


class CheckpointStore(Protocol):
    """Leases, checkpoints, member heartbeats and table streams. Times are epoch milliseconds.

    Every method is safe to call from several threads and, for a shared store, processes.
    """

    # -- leases and checkpoints -------------------------------------------------------------

    def leases(self, group: str, stream: str) -> dict[str, ShardLease]:
        """Shard -> the group's lease row for every shard that has one."""
        ...

    def acquire(
        self, group: str, stream: str, shard: str, owner: str, expires_ms: int, now_ms: int
    ) -> ShardLease | None:
        """Take the lease if it is free, expired or ``owner``'s; the row after, else None."""
        ...

    def renew(self, group: str, stream: str, shard: str, owner: str, expires_ms: int) -> bool:
        """Extend ``owner``'s lease; False if it is no longer ``owner``'s (it was taken)."""
        ...

    def release(self, group: str, stream: str, shard: str, owner: str) -> None:
        """Give the lease up, keeping its checkpoint; nothing happens if ``owner`` lost it."""
        ...

    def commit(
        self,
        group: str,
        owner: str,
        checkpoints: Sequence[Checkpoint],
        *,
        state: Sequence[TableWrite] = (),
        fenced_by: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Store ``checkpoints`` and ``state``, if ``owner`` holds every lease concerned.

        The leases concerned are those of the checkpointed shards plus ``fenced_by`` ((stream,
        shard) pairs). Raises FencedError, writing nothing of the failing unit, otherwise. A
        finished checkpoint also frees its lease. SQLite does it all in one transaction;
        DynamoDB in transactions of at most 100 items, the checkpoints in the last one.
        """
        ...

    # -- group members ----------------------------------------------------------------------

    def heartbeat(self, group: str, member: str, expires_ms: int) -> None:
        """Record that ``member`` is alive until ``expires_ms``."""
        ...

    def members(self, group: str, now_ms: int) -> list[str]:
        """The group's live members, sorted (expired heartbeats may be removed)."""
        ...

    def leave(self, group: str, member: str) -> None:
        """Remove ``member``'s heartbeat."""
        ...

    # -- table streams ----------------------------------------------------------------------

    def create_table_stream(self, stream: str, layout: Sequence[TablePartition]) -> None:
        """Create the table stream unless it exists (an existing one keeps its layout)."""
        ...

    def table_layout(self, stream: str) -> list[TablePartition] | None:
        """The table stream's partitions, or None if there is no such table stream."""
        ...

    def table_streams(self) -> list[str]:
        """Names of every table stream, sorted."""
        ...

    def write_table(self, state: Sequence[TableWrite]) -> None:
        """Apply ``state`` in order, unfenced (a producer's writes to a table stream)."""
        ...

    def read_table(self, stream: str, partition: str, start_offset: int = 0) -> list[Record]:
        """The partition's current records at or after ``start_offset``, in offset order."""
        ...

    def table_end_offsets(self, stream: str) -> dict[str, int]:
        """Partition -> the offset the next write to it will get."""
        ...

    def close(self) -> None: ...
