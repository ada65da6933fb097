"""The local backend's atomic writer: outputs and input positions in one SQLite transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamjury.streams.base import OutRecord, Record
from streamjury.streams.local.consumer import LocalConsumer


class LocalAtomicWriter:
    """Outputs and input positions in one SQLite transaction: readers see outputs exactly once."""

    exactly_once = True

    def __init__(self, consumer: LocalConsumer, writer_id: str) -> None:
        self._consumer = consumer
        self.writer_id = writer_id

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        self._consumer.write_and_commit(outputs, consumed)

    def abort_left_open(self, streams: Sequence[str]) -> None:
        """Nothing is ever left open: a write is all or nothing."""

    def close(self) -> None:
        """Nothing to release: the consumer owns the connection and the lease."""
