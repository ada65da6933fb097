"""An in-process stream backend for unit tests: the local backend's semantics, without a file.

Everything lives behind one lock; a condition variable wakes waiting pollers when records land.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from streamjury.errors import ConfigError, FencedError, StreamError, UnknownStream
from streamjury.streams.base import (
    OutRecord,
    PartitionsCallback,
    Record,
    StartFrom,
    StartKind,
    StreamConsumer,
    last_per_partition,
)
from streamjury.streams.partitioning import (
    StreamPartition,
    now_ms,
    partition_for_key,
    partition_names,
    read_round_robin,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _MemoryStream:
    """One stream: per partition, the records by offset (None where compaction removed one)."""

    compacted: bool
    partitions: dict[str, list[Record | None]] = field(default_factory=dict)


class MemoryBackend:
    """Streams, committed positions and group ownership in a dict; nothing survives the process.

    Like the local backend, a group has one active member at a time: the first member to poll
    owns every partition until it closes (or ``fence`` revokes it); the others stand by.
    Compaction and tombstones work as in the local backend (see ``LocalBackend``).
    """

    name = "memory"

    def __init__(self, partitions: int = 4) -> None:
        if partitions < 1:
            raise ConfigError(f"partitions must be at least 1, got {partitions}")
        self._partition_count = partitions
        self._changed = threading.Condition(threading.Lock())
        self._streams: dict[str, _MemoryStream] = {}
        self._committed: dict[tuple[str, str, str], int] = {}
        self._owners: dict[str, MemoryConsumer] = {}

    # -- admin -----------------------------------------------------------------------------

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        with self._changed:
            for stream in streams:
                if stream not in self._streams:
                    self._streams[stream] = _MemoryStream(
                        compacted=compacted,
                        partitions={p: [] for p in partition_names(self._partition_count)},
                    )

    def list_streams(self) -> list[str]:
        with self._changed:
            return sorted(self._streams)

    def partitions(self, stream: str) -> list[str]:
        with self._changed:
            return self.partitions_locked(stream)

    def end_offsets(self, stream: str) -> dict[str, int]:
        with self._changed:
            return {p: len(rs) for p, rs in self._stream_locked(stream).partitions.items()}

    def committed(self, stream: str, group: str) -> dict[str, int]:
        with self._changed:
            self._stream_locked(stream)
            return {
                partition: offset
                for (g, s, partition), offset in self._committed.items()
                if g == group and s == stream
            }

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        with self._changed:
            records = self._partition_locked(stream, partition)[max(start_offset, 0) :]
        return (record for record in records if record is not None)

    def fence(self, group: str) -> None:
        """Revoke the group's active member, as an expired lease would (for failover tests).

        Its next commit raises FencedError; its next poll reports the revoke and re-joins.
        """
        with self._changed:
            self._owners.pop(group, None)
            self._changed.notify_all()

    def close(self) -> None:
        """Nothing to release: the data lives as long as this object."""

    # -- factories -------------------------------------------------------------------------

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(
        self,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom | None = None,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> MemoryConsumer:
        return MemoryConsumer(
            self, streams, group, start or StartFrom.earliest(), on_assign, on_revoke
        )

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> MemoryAtomicWriter:
        if not isinstance(consumer, MemoryConsumer) or consumer.backend is not self:
            raise StreamError("an atomic writer needs a consumer of the same memory backend")
        return MemoryAtomicWriter(consumer, writer_id)

    # -- internals shared with producers, consumers and writers (call with the lock held) ---

    @property
    def changed(self) -> threading.Condition:
        """The lock guarding all state; notified whenever records are appended or owners change."""
        return self._changed

    def _stream_locked(self, stream: str) -> _MemoryStream:
        try:
            return self._streams[stream]
        except KeyError:
            raise UnknownStream(f"stream {stream!r} does not exist: create it first") from None

    def _partition_locked(self, stream: str, partition: str) -> list[Record | None]:
        partitions = self._stream_locked(stream).partitions
        if partition not in partitions:
            raise StreamError(f"stream {stream!r} has no partition {partition!r}")
        return partitions[partition]

    def partitions_locked(self, stream: str) -> list[str]:
        return list(self._stream_locked(stream).partitions)

    def check_streams_locked(self, streams: Iterable[str]) -> None:
        for stream in streams:
            self._stream_locked(stream)

    def append_locked(self, batches: Iterable[tuple[str, Sequence[OutRecord]]]) -> None:
        """Append records with consecutive offsets; compacted streams drop the key's older ones."""
        timestamp = now_ms()
        for stream_name, records in batches:
            stream = self._stream_locked(stream_name)
            for out in records:
                partition = partition_for_key(out.key, len(stream.partitions))
                partition_log = stream.partitions[partition]
                if stream.compacted:
                    self._drop_key_locked(partition_log, out.key)
                offset = len(partition_log)
                partition_log.append(
                    Record(stream_name, partition, offset, out.key, out.value, timestamp)
                )
        self._changed.notify_all()

    @staticmethod
    def _drop_key_locked(records: list[Record | None], key: str) -> None:
        for offset, record in enumerate(records):
            if record is not None and record.key == key:
                records[offset] = None

    def start_offset_locked(self, stream: str, partition: str, start: StartFrom) -> int:
        """Where a reader with no committed position begins in one partition."""
        records = self._partition_locked(stream, partition)
        if start.kind is StartKind.LATEST:
            return len(records)
        if start.kind is StartKind.OFFSET:
            return start.offsets.get(partition, 0)
        if start.kind is StartKind.TIMESTAMP:
            threshold = start.timestamp_ms or 0
            for record in records:
                if record is not None and record.timestamp_ms >= threshold:
                    return record.offset
            return len(records)
        return 0

    def read_locked(self, stream: str, partition: str, position: int, limit: int) -> list[Record]:
        """Up to ``limit`` records of one partition at or after ``position``."""
        found: list[Record] = []
        for record in self._partition_locked(stream, partition)[position:]:
            if record is not None:
                found.append(record)
                if len(found) == limit:
                    break
        return found

    def committed_locked(self, group: str, stream: str, partition: str) -> int | None:
        return self._committed.get((group, stream, partition))

    def set_committed_locked(self, group: str, stream: str, partition: str, offset: int) -> None:
        self._committed[(group, stream, partition)] = offset

    def owner_locked(self, group: str) -> MemoryConsumer | None:
        return self._owners.get(group)

    def set_owner_locked(self, group: str, member: MemoryConsumer | None) -> None:
        if member is None:
            self._owners.pop(group, None)
        else:
            self._owners[group] = member
        self._changed.notify_all()


class MemoryProducer:
    """Buffers records until ``flush``, like the local producer, so tests see the same timing."""

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self._buffer: list[tuple[str, list[OutRecord]]] = []

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        with self._backend.changed:
            self._backend.check_streams_locked([stream])
            self._buffer.append((stream, list(records)))

    def flush(self, timeout: float = 30.0) -> None:
        with self._backend.changed:
            batches, self._buffer = self._buffer, []
            self._backend.append_locked(batches)

    def close(self) -> None:
        self.flush()


class MemoryConsumer:
    """A group member (owning all partitions while active) or a group-less reader."""

    def __init__(
        self,
        backend: MemoryBackend,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom,
        on_assign: PartitionsCallback | None,
        on_revoke: PartitionsCallback | None,
    ) -> None:
        self.backend = backend
        self.group = group
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._closed = False
        self._active = False
        self._round_robin = 0
        with backend.changed:
            self._partitions: dict[str, list[str]] = {
                stream: backend.partitions_locked(stream) for stream in streams
            }
            # Resolved now, so "latest" means records sent after this consumer was created.
            self._start_positions = {
                (stream, partition): backend.start_offset_locked(stream, partition, start)
                for stream, partitions in self._partitions.items()
                for partition in partitions
            }
        self._positions: dict[StreamPartition, int] = {}

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        deadline = time.monotonic() + max(timeout, 0.0)
        changed = self.backend.changed
        while True:
            with changed:
                self._check_open()
                transition = self._update_membership_locked()
                if transition is None:
                    if self._active:
                        batch = self._read_locked(max_records)
                        if batch:
                            return batch
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    changed.wait(remaining)
                    continue
            self._notify(transition)

    def commit(self, records: Sequence[Record]) -> None:
        if self.group is None:
            raise StreamError("a group-less reader cannot commit")
        if not records:
            return
        with self.backend.changed:
            self.check_may_commit_locked(records)
            self.commit_locked(records)

    def assignment(self) -> dict[str, list[str]]:
        with self.backend.changed:
            return dict(self._partitions) if self._active else {}

    def close(self) -> None:
        with self.backend.changed:
            if self._closed:
                return
            self._closed = True
            was_active = self._active
            self._active = False
            if self.group is not None and self.backend.owner_locked(self.group) is self:
                self.backend.set_owner_locked(self.group, None)
        if was_active:
            self._notify(self._on_revoke)

    # -- used by the atomic writer (lock held) ---------------------------------------------

    def check_may_commit_locked(self, records: Sequence[Record]) -> None:
        """Raise unless this member may commit ``records`` right now; changes nothing."""
        self._check_open()
        if self.group is None:
            if records:
                raise StreamError("a group-less reader cannot commit")
            return
        if self.backend.owner_locked(self.group) is not self:
            raise FencedError(f"this member no longer owns group {self.group!r}")
        for record in records:
            if record.partition not in self._partitions.get(record.stream, ()):
                raise StreamError(
                    f"{record.stream}/{record.partition} is not read by this consumer"
                )

    def commit_locked(self, records: Sequence[Record]) -> None:
        if self.group is None:
            return
        for (stream, partition), offset in last_per_partition(records).items():
            self.backend.set_committed_locked(self.group, stream, partition, offset + 1)

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError("this consumer is closed")

    def _update_membership_locked(self) -> PartitionsCallback | None:
        """Become active or standby as ownership changed; the callback to run, if any."""
        if self.group is None:
            if self._active:
                return None
            self._active = True
            self._positions = dict(self._start_positions)
            return self._on_assign or _no_callback
        owner = self.backend.owner_locked(self.group)
        if self._active and owner is not self:
            self._active = False
            self._positions = {}
            log.info("group %s: this member was fenced and stands by", self.group)
            return self._on_revoke or _no_callback
        if not self._active and owner is None:
            self.backend.set_owner_locked(self.group, self)
            self._active = True
            self._positions = {
                (stream, partition): self._resume_position_locked(stream, partition)
                for stream, partition in self._start_positions
            }
            return self._on_assign or _no_callback
        return None

    def _resume_position_locked(self, stream: str, partition: str) -> int:
        assert self.group is not None
        committed = self.backend.committed_locked(self.group, stream, partition)
        return self._start_positions[(stream, partition)] if committed is None else committed

    def _read_locked(self, max_records: int) -> list[Record]:
        """Fill a batch partition by partition, starting one further along on every poll."""
        self._round_robin = (self._round_robin + 1) % max(len(self._positions), 1)
        return read_round_robin(
            self._positions, self._round_robin, max_records, self.backend.read_locked
        )

    def _notify(self, callback: PartitionsCallback | None) -> None:
        if callback is None or callback is _no_callback:
            return
        for stream, partitions in self._partitions.items():
            callback(stream, list(partitions))


def _no_callback(stream: str, partitions: Sequence[str]) -> None:
    """Stands for 'a transition happened but nobody asked to hear about it'."""


class MemoryAtomicWriter:
    """Appends outputs and commits the consumer's inputs under the backend's one lock."""

    exactly_once = True

    def __init__(self, consumer: MemoryConsumer, writer_id: str) -> None:
        self._consumer = consumer
        self.writer_id = writer_id

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        with self._consumer.backend.changed:
            self._consumer.backend.check_streams_locked(outputs)
            self._consumer.check_may_commit_locked(consumed)
            self._consumer.backend.append_locked(outputs.items())
            self._consumer.commit_locked(consumed)

    def abort_left_open(self, streams: Sequence[str]) -> None:
        """Nothing is ever left open: a write is all or nothing."""

    def close(self) -> None:
        """Nothing to release: the consumer owns the membership."""
