"""The stream contract every backend implements: keyed batched produce, group consume, commit.

Kept small and honest about partitions (Kafka partitions, Kinesis shards), positions and commits.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read from a stream.

    ``offset`` is the Kafka offset, the local log's offset, or the Kinesis sequence number
    (a decimal string that Python compares exactly as an int).
    """

    stream: str
    partition: str
    offset: int
    key: str
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to write: the key picks the partition, so every record of one event shares one."""

    key: str
    value: bytes


class StartKind(enum.Enum):
    EARLIEST = "earliest"
    LATEST = "latest"
    OFFSET = "offset"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class StartFrom:
    """Where a group with no committed position (or a group-less reader) begins.

    ``offsets`` maps partition -> first offset to read (OFFSET; unlisted partitions start at the
    earliest record); ``timestamp_ms`` is for TIMESTAMP. LATEST and TIMESTAMP are resolved when the
    consumer is created, so LATEST means "records written after this consumer was made".
    """

    kind: StartKind = StartKind.EARLIEST
    offsets: Mapping[str, int] = field(default_factory=dict)
    timestamp_ms: int | None = None

    @classmethod
    def earliest(cls) -> StartFrom:
        return cls(StartKind.EARLIEST)

    @classmethod
    def latest(cls) -> StartFrom:
        return cls(StartKind.LATEST)

    @classmethod
    def at_offsets(cls, offsets: Mapping[str, int]) -> StartFrom:
        return cls(StartKind.OFFSET, offsets=dict(offsets))

    @classmethod
    def at_time(cls, when: datetime) -> StartFrom:
        return cls(StartKind.TIMESTAMP, timestamp_ms=int(when.timestamp() * 1000))


PartitionsCallback = Callable[[str, Sequence[str]], None]
"""Called with (stream, partitions) when partitions are assigned to or revoked from a consumer."""


@runtime_checkable
class StreamProducer(Protocol):
    """Writes keyed records in batches. Nothing is durable until ``flush`` returns."""

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        """Queue records for ``stream``; may write some already, never reports success early."""
        ...

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything sent is durably written; raise DeliveryError otherwise.

        On DeliveryError whatever was pending is discarded: the caller re-sends it (or gives up
        without committing the inputs behind it).
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class StreamConsumer(Protocol):
    """Reads micro-batches for one consumer group (or none, for group-less readers)."""

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        ...

    def commit(self, records: Sequence[Record]) -> None:
        """Mark every partition in ``records`` as done up to and including its last record.

        Call only after the outputs produced from these records are durably written.
        Raises FencedError if this member no longer owns a partition.
        """
        ...

    def assignment(self) -> dict[str, list[str]]:
        """Stream -> partitions this member currently owns."""
        ...

    def close(self) -> None:
        """Leave the group; uncommitted records will be redelivered to the next owner."""
        ...


@runtime_checkable
class AtomicWriter(Protocol):
    """Writes outputs and commits the inputs that produced them as one unit.

    Local and Kafka (transactions) make the unit atomic: readers see the outputs exactly once.
    Backends without transactions (Kinesis) write then commit, which is at-least-once; such
    outputs carry deterministic keys so readers can de-duplicate.
    """

    exactly_once: bool

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None: ...

    def abort_left_open(self, streams: Sequence[str]) -> None:
        """Close what an earlier writer with this writer id left open in ``streams`` and in
        the group's offsets, by aborting it, so that reads waiting on it can go on.

        Kafka: a broker can complete a transaction without writing its markers, leaving its
        records open for good (docs/reliability.md). Elsewhere nothing can be left open."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """A factory for one transport's producers and consumers, plus the little admin they need."""

    name: str

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        """Create the streams if missing (compacted: keep only the latest record per key)."""
        ...

    def list_streams(self) -> list[str]: ...

    def producer(self) -> StreamProducer: ...

    def consumer(
        self,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom | None = None,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> StreamConsumer:
        """A group member (``group``), or a reader that never commits (``group=None``)."""
        ...

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> AtomicWriter:
        """A writer that commits ``consumer``'s positions together with its outputs."""
        ...

    def partitions(self, stream: str) -> list[str]:
        """The stream's partition ids; for Kinesis, every shard still in retention, open or closed."""
        ...

    def end_offsets(self, stream: str) -> dict[str, int]:
        """Partition -> offset of the next record to be written (the high watermark)."""
        ...

    def committed(self, stream: str, group: str) -> dict[str, int]:
        """Partition -> next offset the group will read (only partitions it has committed)."""
        ...

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        """Every record of one partition from ``start_offset`` to the current end, no group."""
        ...

    def close(self) -> None: ...


def last_per_partition(records: Iterable[Record]) -> dict[tuple[str, str], int]:
    """(stream, partition) -> highest offset among ``records``: what a commit must cover."""
    last: dict[tuple[str, str], int] = {}
    for record in records:
        key = (record.stream, record.partition)
        if record.offset > last.get(key, -1):
            last[key] = record.offset
    return last
