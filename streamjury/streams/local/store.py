"""The local backend's storage: one SQLite database in WAL mode, its schema and every query.

Each producer, consumer and backend object opens its own ``LogStore`` (one connection each).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamjury.errors import StreamError, UnknownStream
from streamjury.streams.base import OutRecord, Record, StartFrom, StartKind
from streamjury.streams.partitioning import now_ms, partition_for_key, partition_names

log = logging.getLogger(__name__)

DATABASE_FILE = "streams.db"
BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another process's write transaction before giving up."""
Synchronous = Literal["full", "normal"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    name TEXT PRIMARY KEY,
    partition_count INTEGER NOT NULL,
    compacted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    stream TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    record_offset INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    compacted INTEGER NOT NULL,
    PRIMARY KEY (stream, partition_no, record_offset)
);
CREATE INDEX IF NOT EXISTS records_of_compacted_key ON records (stream, key) WHERE compacted = 1;
CREATE TABLE IF NOT EXISTS committed (
    group_name TEXT NOT NULL,
    stream TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_name, stream, partition_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    group_name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

INSERT_RECORD = (
    "INSERT INTO records (stream, partition_no, record_offset, key, value, timestamp_ms, compacted)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
DELETE_OLDER_OF_KEY = "DELETE FROM records WHERE stream = ? AND key = ? AND compacted = 1"
"""Compaction: runs before the key's new record is inserted, so only older records go."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    name: str
    partition_count: int
    compacted: bool

    @property
    def partitions(self) -> list[str]:
        return partition_names(self.partition_count)


@contextmanager
def sqlite_errors(action: str, error: type[StreamError] = StreamError) -> Iterator[None]:
    """Re-raise SQLite failures as ``error`` so callers only ever catch streamjury errors."""
    try:
        yield
    except sqlite3.Error as exc:
        raise error(f"local log: cannot {action}: {exc}") from exc


class LogStore:
    """One connection to the log database, with the queries the local backend needs.

    Not thread-safe by itself: its owner (producer, consumer, backend) serialises calls.
    Write methods named ``*_in_transaction`` must run inside ``write_transaction``.
    """

    def __init__(self, directory: Path, synchronous: Synchronous) -> None:
        path = directory / DATABASE_FILE
        try:
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        except sqlite3.Error as exc:
            raise StreamError(f"cannot open the local log {path}: {exc}") from exc
        self._streams: dict[str, StreamInfo] = {}

    def initialise(self) -> None:
        """Switch the database to WAL mode and create the tables (idempotent, race-safe)."""
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            with self.write_transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise StreamError(f"cannot initialise the local log: {exc}") from exc

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``: one writer at a time across processes; the commit is
        the durability point. Rolls back and re-raises on any error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap 'anything new?' check."""
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()

    # -- streams ---------------------------------------------------------------------------

    def create_streams(self, names: Iterable[str], partition_count: int, compacted: bool) -> None:
        """Create missing streams; an existing stream keeps its partition count and kind."""
        rows = [(name, partition_count, int(compacted)) for name in names]
        with self.write_transaction():
            self._conn.executemany(
                "INSERT OR IGNORE INTO streams (name, partition_count, compacted) VALUES (?, ?, ?)",
                rows,
            )

    def stream_names(self) -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT name FROM streams ORDER BY name")]

    def stream(self, name: str) -> StreamInfo:
        """The stream's layout (cached: streams are never altered); UnknownStream if missing."""
        info = self._streams.get(name)
        if info is None:
            row = self._conn.execute(
                "SELECT partition_count, compacted FROM streams WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise UnknownStream(f"stream {name!r} does not exist: create it first")
            info = self._streams[name] = StreamInfo(name, int(row[0]), bool(row[1]))
        return info

    def partition_no(self, stream: str, partition: str) -> int:
        """The stored number of a partition name, checked against the stream's layout."""
        if partition not in self.stream(stream).partitions:
            raise StreamError(f"stream {stream!r} has no partition {partition!r}")
        return int(partition)

    # -- records ---------------------------------------------------------------------------

    def append_in_transaction(self, batches: Iterable[tuple[str, Sequence[OutRecord]]]) -> int:
        """Append records at the end of their key's partition; returns how many were written."""
        timestamp = now_ms()
        next_offsets: dict[tuple[str, int], int] = {}
        written = 0
        for stream, records in batches:
            info = self.stream(stream)
            rows = []
            for record in records:
                partition_no = int(partition_for_key(record.key, info.partition_count))
                slot = (stream, partition_no)
                offset = next_offsets.get(slot)
                if offset is None:
                    offset = self._end_offset(stream, partition_no)
                next_offsets[slot] = offset + 1
                rows.append(
                    (
                        stream,
                        partition_no,
                        offset,
                        record.key,
                        record.value,
                        timestamp,
                        int(info.compacted),
                    )
                )
            if info.compacted:
                for row in rows:
                    self._conn.execute(DELETE_OLDER_OF_KEY, (stream, row[3]))
                    self._conn.execute(INSERT_RECORD, row)
            else:
                self._conn.executemany(INSERT_RECORD, rows)
            written += len(rows)
        return written

    def read(self, stream: str, partition: str, position: int, limit: int) -> list[Record]:
        """Up to ``limit`` records of one partition at or after ``position``, in offset order."""
        cursor = self._conn.execute(
            "SELECT record_offset, key, value, timestamp_ms FROM records"
            " WHERE stream = ? AND partition_no = ? AND record_offset >= ?"
            " ORDER BY record_offset LIMIT ?",
            (stream, int(partition), position, limit),
        )
        return [
            Record(stream, partition, offset, key, bytes(value), timestamp)
            for offset, key, value, timestamp in cursor
        ]

    def end_offsets(self, stream: str) -> dict[str, int]:
        info = self.stream(stream)
        return {p: self._end_offset(stream, int(p)) for p in info.partitions}

    def _end_offset(self, stream: str, partition_no: int) -> int:
        """The next offset of a partition. Compaction never deletes a partition's newest
        record (only older records of the same key), so max + 1 is always right."""
        row = self._conn.execute(
            "SELECT max(record_offset) FROM records WHERE stream = ? AND partition_no = ?",
            (stream, partition_no),
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def start_offset(self, stream: str, partition: str, start: StartFrom) -> int:
        """Where a reader with no committed position begins in one partition."""
        partition_no = self.partition_no(stream, partition)
        if start.kind is StartKind.LATEST:
            return self._end_offset(stream, partition_no)
        if start.kind is StartKind.OFFSET:
            return start.offsets.get(partition, 0)
        if start.kind is StartKind.TIMESTAMP:
            row = self._conn.execute(
                "SELECT min(record_offset) FROM records"
                " WHERE stream = ? AND partition_no = ? AND timestamp_ms >= ?",
                (stream, partition_no, start.timestamp_ms or 0),
            ).fetchone()
            return self._end_offset(stream, partition_no) if row[0] is None else int(row[0])
        return 0

    # -- committed positions ---------------------------------------------------------------

    def committed(self, group: str, stream: str) -> dict[str, int]:
        self.stream(stream)
        cursor = self._conn.execute(
            "SELECT partition_no, next_offset FROM committed WHERE group_name = ? AND stream = ?",
            (group, stream),
        )
        return {str(partition_no): int(offset) for partition_no, offset in cursor}

    def commit_in_transaction(self, group: str, positions: Mapping[tuple[str, str], int]) -> None:
        """Set the group's next offset for each (stream, partition)."""
        self._conn.executemany(
            "INSERT INTO committed (group_name, stream, partition_no, next_offset)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (group_name, stream, partition_no)"
            " DO UPDATE SET next_offset = excluded.next_offset",
            [(group, stream, int(p), offset) for (stream, p), offset in positions.items()],
        )

    # -- leases (see local_lease) ----------------------------------------------------------

    def lease_row(self, group: str) -> tuple[str, str, int, int] | None:
        """(owner, host, pid, expires_ms) of the group's lease, if any."""
        row = self._conn.execute(
            "SELECT owner, host, pid, expires_ms FROM leases WHERE group_name = ?", (group,)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), int(row[2]), int(row[3]))

    def put_lease_in_transaction(
        self, group: str, owner: str, host: str, pid: int, expires_ms: int
    ) -> None:
        self._conn.execute(
            "INSERT INTO leases (group_name, owner, host, pid, expires_ms) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (group_name) DO UPDATE SET owner = excluded.owner,"
            " host = excluded.host, pid = excluded.pid, expires_ms = excluded.expires_ms",
            (group, owner, host, pid, expires_ms),
        )

    def extend_lease(self, group: str, owner: str, expires_ms: int) -> bool:
        """Push the expiry of ``owner``'s lease; False if ``owner`` no longer holds it."""
        cursor = self._conn.execute(
            "UPDATE leases SET expires_ms = ? WHERE group_name = ? AND owner = ?",
            (expires_ms, group, owner),
        )
        return cursor.rowcount == 1

    def drop_lease(self, group: str, owner: str) -> None:
        self._conn.execute("DELETE FROM leases WHERE group_name = ? AND owner = ?", (group, owner))
