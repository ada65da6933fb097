"""Where the local runner remembers, per shard, the last record it is done with.

In memory by default (a foreground runner that starts over each time); to resume, the Kinesis
backend's own checkpoint store (SQLite file or DynamoDB table) under the mapping's name.
"""

from __future__ import annotations

import time
from typing import Protocol

from streamjury.errors import FencedError
from streamjury.streams.kinesis.checkpoints.base import Checkpoint, CheckpointStore

SHARD_END = "SHARD_END"
"""The checkpoint of a closed shard read to its end: its children may start."""
LEASE_TTL_S = 24 * 3600.0
"""How long the mapping's hold on a shard outlives its last checkpoint (one runner per mapping)."""


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


class StoreCheckpoints:
    """The mapping's checkpoints of ``stream`` in a Kinesis ``CheckpointStore``.

    ``mapping`` (function and stream) is the store's group and the leases' owner, so one store
    serves several mappings and a restarted runner of a mapping takes its shards straight back.
    SHARD_END is the store's ``finished`` flag. ``close`` closes the store.
    """

    def __init__(self, store: CheckpointStore, mapping: str, stream: str) -> None:
        self.store = store
        self._mapping = mapping
        self._stream = stream

    def get(self, shard_id: str) -> str | None:
        lease = self.store.leases(self._mapping, self._stream).get(shard_id)
        if lease is None:
            return None
        return SHARD_END if lease.finished else lease.sequence

    def set(self, shard_id: str, position: str) -> None:
        finished = position == SHARD_END
        checkpoint = Checkpoint(self._stream, shard_id, None if finished else position, finished)
        try:
            self.store.commit(self._mapping, self._mapping, [checkpoint])
        except FencedError:  # first checkpoint of this shard, or the hold lapsed: take it
            now_ms = time.time_ns() // 1_000_000
            expires_ms = now_ms + int(LEASE_TTL_S * 1000)
            if (
                self.store.acquire(
                    self._mapping, self._stream, shard_id, self._mapping, expires_ms, now_ms
                )
                is None
            ):
                raise
            self.store.commit(self._mapping, self._mapping, [checkpoint])

    def close(self) -> None:
        self.store.close()
