"""Where the local runner remembers, per shard, the last record it is done with.

In memory by default (a foreground runner that starts over each time); SQLite to resume.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

SHARD_END = "SHARD_END"
"""The checkpoint of a closed shard read to its end: its children may start."""


class Checkpoints(Protocol):
    """Per shard: the sequence number of the last record processed (or SHARD_END)."""

    def get(self, shard_id: str) -> str | None: ...

    def set(self, shard_id: str, position: str) -> None: ...

    def close(self) -> None: ...


class MemoryCheckpoints:
    """Forgotten when the process exits: a restarted runner begins at its starting position."""

    def __init__(self) -> None:
        self._positions: dict[str, str] = {}

    def get(self, shard_id: str) -> str | None:
        return self._positions.get(shard_id)

    def set(self, shard_id: str, position: str) -> None:
        self._positions[shard_id] = position

    def close(self) -> None:
        """Nothing to release."""


class SqliteCheckpoints:
    """A table of (mapping, shard) -> position in a local file, written on every checkpoint.

    ``mapping`` names the function and stream, so one file can serve several runners.
    """

    def __init__(self, path: Path, mapping: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._mapping = mapping
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS checkpoints ("
            " mapping TEXT NOT NULL, shard TEXT NOT NULL, position TEXT NOT NULL,"
            " PRIMARY KEY (mapping, shard))"
        )

    def get(self, shard_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM checkpoints WHERE mapping = ? AND shard = ?",
                (self._mapping, shard_id),
            ).fetchone()
        return None if row is None else str(row[0])

    def set(self, shard_id: str, position: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO checkpoints (mapping, shard, position) VALUES (?, ?, ?)"
                " ON CONFLICT (mapping, shard) DO UPDATE SET position = excluded.position",
                (self._mapping, shard_id, position),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
