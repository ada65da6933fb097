"""How far a chaos run has got, measured the same way on every backend.

Decisions are read incrementally (each partition from where the last look stopped) with the
backend's own ``read_partition``: on Kafka ``read_committed``, on Kinesis through GetRecords. A
Kafka read that finds a killed writer's transaction still open is "not yet", not an error: the
broker aborts it once it times out, and the caller's deadline decides when waiting has failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streamjury.streams.base import Backend
from streamjury.streams.kafka.errors import TransactionStillOpenError


class Decided:
    """The expected event ids that have a decision so far, by record key (no parsing)."""

    def __init__(self, backend: Backend, stream: str, expected: frozenset[str]) -> None:
        self._backend = backend
        self._stream = stream
        self._expected = expected
        self._next: dict[str, int] = {}
        self._keys: set[str] = set()

    def count(self) -> int:
        for partition in self._backend.partitions(self._stream):
            try:
                records = self._backend.read_partition(
                    self._stream, partition, self._next.get(partition, 0)
                )
                for record in records:
                    self._keys.add(record.key)
                    self._next[partition] = record.offset + 1
            except TransactionStillOpenError:
                continue  # not yet: looked at again on the next call
        return len(self._keys & self._expected)


class Drained:
    """Whether every group of ``readers`` (group -> the streams it reads) has committed every
    partition up to its end: then nothing more can come out of the pipeline.

    Made before anything is written, to know each partition's end while it is empty (0 on Kafka
    and the local log, the shard's first sequence number on Kinesis): a partition still there
    needs no commit.
    """

    def __init__(self, backend: Backend, readers: Mapping[str, Iterable[str]]) -> None:
        self._backend = backend
        self._readers = {group: tuple(streams) for group, streams in readers.items()}
        streams = {stream for group in self._readers.values() for stream in group}
        self._empty = {stream: backend.end_offsets(stream) for stream in streams}

    def __call__(self) -> bool:
        for group, streams in self._readers.items():
            for stream in streams:
                committed = self._backend.committed(stream, group)
                for partition, end in self._backend.end_offsets(stream).items():
                    if end == self._empty[stream].get(partition):
                        continue
                    if committed.get(partition, -1) < end:
                        return False
        return True
