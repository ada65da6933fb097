"""The checkpoint store in one SQLite file: the default, for every process on one host.

Conditional writes are SQLite write transactions (BEGIN IMMEDIATE), so processes sharing the
file see one order of lease changes. Several hosts need the DynamoDB store instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from streamjury.errors import ConfigError, FencedError, StreamError, UnknownStream
from streamjury.streams.base import Record
from streamjury.streams.kinesis.checkpoints.base import (
    FREE,
    Checkpoint,
    ShardLease,
    TablePartition,
    TableWrite,
    layout_from_json,
    layout_to_json,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS shard_leases (
    group_name TEXT NOT NULL,
    stream TEXT NOT NULL,
    shard TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    expires_ms INTEGER NOT NULL DEFAULT 0,
    sequence TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, stream, shard)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    group_name TEXT NOT NULL,
    member TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (group_name, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_streams (
    stream TEXT PRIMARY KEY,
    layout TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_offsets (
    stream TEXT NOT NULL,
    partition_name TEXT NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (stream, partition_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_rows (
    stream TEXT NOT NULL,
    partition_name TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    record_offset INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (stream, partition_name, key)
);
CREATE INDEX IF NOT EXISTS table_rows_by_offset
    ON table_rows (stream, partition_name, record_offset);
"""


class SqliteCheckpointStore:
    """``CheckpointStore`` in ``path`` (WAL, synchronous=NORMAL: a power cut may lose the last
    checkpoints, which only means redelivery). One connection, serialised by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the checkpoint store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        with self._errors("initialise"):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")

    # -- leases and checkpoints -------------------------------------------------------------

    def leases(self, group: str, stream: str) -> dict[str, ShardLease]:
        with self._errors("read leases"):
            rows = self._db.execute(
                "SELECT shard, owner, expires_ms, sequence, finished FROM shard_leases"
                " WHERE group_name = ? AND stream = ?",
                (group, stream),
            ).fetchall()
        return {
            shard: ShardLease(stream, shard, owner, expires, sequence, bool(finished))
            for shard, owner, expires, sequence, finished in rows
        }

    def acquire(
        self, group: str, stream: str, shard: str, owner: str, expires_ms: int, now_ms: int
    ) -> ShardLease | None:
        with self._errors("take a lease"), self._write():
            current = self._lease(group, stream, shard)
            if current is not None and not current.is_takeable(owner, now_ms):
                return None
            self._db.execute(
                "INSERT INTO shard_leases (group_name, stream, shard, owner, expires_ms)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
                " SET owner = excluded.owner, expires_ms = excluded.expires_ms",
                (group, stream, shard, owner, expires_ms),
            )
            return self._lease(group, stream, shard)

    def renew(self, group: str, stream: str, shard: str, owner: str, expires_ms: int) -> bool:
        with self._errors("renew a lease"), self._write():
            cursor = self._db.execute(
                "UPDATE shard_leases SET expires_ms = ?"
                " WHERE group_name = ? AND stream = ? AND shard = ? AND owner = ?",
                (expires_ms, group, stream, shard, owner),
            )
            return cursor.rowcount == 1

    def release(self, group: str, stream: str, shard: str, owner: str) -> None:
        with self._errors("release a lease"), self._write():
            self._db.execute(
                "UPDATE shard_leases SET owner = ?, expires_ms = 0"
                " WHERE group_name = ? AND stream = ? AND shard = ? AND owner = ?",
                (FREE, group, stream, shard, owner),
            )

    def commit(
        self,
        group: str,
        owner: str,
        checkpoints: Sequence[Checkpoint],
        *,
        state: Sequence[TableWrite] = (),
        fenced_by: Sequence[tuple[str, str]] = (),
    ) -> None:
        concerned = sorted({(cp.stream, cp.shard) for cp in checkpoints} | set(fenced_by))
        with self._errors("commit"), self._write():
            for stream, shard in concerned:
                lease = self._lease(group, stream, shard)
                if lease is None or lease.owner != owner:
                    holder = "nobody" if lease is None or not lease.owner else lease.owner
                    raise FencedError(
                        f"group {group!r}: the lease of {stream}/{shard} is held by {holder}, "
                        f"not {owner}"
                    )
            self._apply(state)
            for cp in checkpoints:
                self._db.execute(
                    "UPDATE shard_leases SET sequence = coalesce(?, sequence), finished = ?,"
                    " owner = CASE WHEN ? THEN '' ELSE owner END"
                    " WHERE group_name = ? AND stream = ? AND shard = ?",
                    (cp.sequence, int(cp.finished), int(cp.finished), group, cp.stream, cp.shard),
                )

    # -- group members ----------------------------------------------------------------------

    def heartbeat(self, group: str, member: str, expires_ms: int) -> None:
        with self._errors("record a heartbeat"), self._write():
            self._db.execute(
                "INSERT INTO members (group_name, member, expires_ms) VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET expires_ms = excluded.expires_ms",
                (group, member, expires_ms),
            )

    def members(self, group: str, now_ms: int) -> list[str]:
        with self._errors("list members"), self._write():
            self._db.execute(
                "DELETE FROM members WHERE group_name = ? AND expires_ms <= ?", (group, now_ms)
            )
            rows = self._db.execute(
                "SELECT member FROM members WHERE group_name = ? ORDER BY member", (group,)
            ).fetchall()
        return [member for (member,) in rows]

    def leave(self, group: str, member: str) -> None:
        with self._errors("leave a group"), self._write():
            self._db.execute(
                "DELETE FROM members WHERE group_name = ? AND member = ?", (group, member)
            )

    # -- table streams ----------------------------------------------------------------------

    def create_table_stream(self, stream: str, layout: Sequence[TablePartition]) -> None:
        with self._errors("create a table stream"), self._write():
            self._db.execute(
                "INSERT INTO table_streams (stream, layout) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (stream, layout_to_json(layout)),
            )

    def table_layout(self, stream: str) -> list[TablePartition] | None:
        with self._errors("describe a table stream"):
            row = self._db.execute(
                "SELECT layout FROM table_streams WHERE stream = ?", (stream,)
            ).fetchone()
        return None if row is None else layout_from_json(row[0])

    def table_streams(self) -> list[str]:
        with self._errors("list table streams"):
            rows = self._db.execute("SELECT stream FROM table_streams ORDER BY stream").fetchall()
        return [stream for (stream,) in rows]

    def write_table(self, state: Sequence[TableWrite]) -> None:
        with self._errors("write a table stream"), self._write():
            self._apply(state)

    def read_table(self, stream: str, partition: str, start_offset: int = 0) -> list[Record]:
        self._partitions(stream, partition)
        with self._errors("read a table stream"):
            rows = self._db.execute(
                "SELECT key, value, record_offset, timestamp_ms FROM table_rows"
                " WHERE stream = ? AND partition_name = ? AND record_offset >= ?"
                " ORDER BY record_offset",
                (stream, partition, start_offset),
            ).fetchall()
        return [
            Record(stream, partition, offset, key, bytes(value), timestamp)
            for key, value, offset, timestamp in rows
        ]

    def table_end_offsets(self, stream: str) -> dict[str, int]:
        names = self._partitions(stream)
        with self._errors("read table offsets"):
            rows = dict(
                self._db.execute(
                    "SELECT partition_name, next_offset FROM table_offsets WHERE stream = ?",
                    (stream,),
                ).fetchall()
            )
        return {name: int(rows.get(name, 0)) for name in names}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals --------------------------------------------------------------------------

    def _lease(self, group: str, stream: str, shard: str) -> ShardLease | None:
        row = self._db.execute(
            "SELECT owner, expires_ms, sequence, finished FROM shard_leases"
            " WHERE group_name = ? AND stream = ? AND shard = ?",
            (group, stream, shard),
        ).fetchone()
        if row is None:
            return None
        owner, expires, sequence, finished = row
        return ShardLease(stream, shard, owner, expires, sequence, bool(finished))

    def _partitions(self, stream: str, partition: str | None = None) -> list[str]:
        layout = self.table_layout(stream)
        if layout is None:
            raise UnknownStream(f"table stream {stream!r} does not exist: create it first")
        names = [p.name for p in layout]
        if partition is not None and partition not in names:
            raise StreamError(f"table stream {stream!r} has no partition {partition!r}")
        return names

    def _apply(self, state: Sequence[TableWrite]) -> None:
        """Upsert or delete each key in order, giving each write the partition's next offset."""
        now_ms = time.time_ns() // 1_000_000
        for write in state:
            if not write.value:
                self._db.execute(
                    "DELETE FROM table_rows WHERE stream = ? AND partition_name = ? AND key = ?",
                    (write.stream, write.partition, write.key),
                )
                continue
            (offset,) = self._db.execute(
                "INSERT INTO table_offsets (stream, partition_name, next_offset) VALUES (?, ?, 1)"
                " ON CONFLICT DO UPDATE SET next_offset = next_offset + 1 RETURNING next_offset",
                (write.stream, write.partition),
            ).fetchone()
            self._db.execute(
                "INSERT INTO table_rows"
                " (stream, partition_name, key, value, record_offset, timestamp_ms)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value,"
                " record_offset = excluded.record_offset, timestamp_ms = excluded.timestamp_ms",
                (write.stream, write.partition, write.key, write.value, offset - 1, now_ms),
            )

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction that takes SQLite's write lock up front (no upgrade deadlocks)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise StreamError(f"checkpoint store {self.path}: cannot {action}: {exc}") from exc
