"""A Backend wrapper whose group consumers report what they own: to readiness, and to lag.

Services stay unaware of it: they get a Backend and its consumers behave exactly as before, but
each poll also checks the assignment (on the service's own thread), so readiness follows
rebalances on every transport, even one that never calls ``on_assign``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from streamjury.ops.lag import LagMonitor, OwnedPartitions, ReportsBehind
from streamjury.ops.metrics import Metrics
from streamjury.streams.base import (
    AtomicWriter,
    Backend,
    PartitionsCallback,
    Record,
    StartFrom,
    StreamConsumer,
    StreamProducer,
)

AssignmentListener = Callable[[bool], None]
"""Called after every poll with whether the consumer owns at least one partition."""


class WatchedConsumer:
    """A group consumer that reports its assignment after each poll; stops its lag monitor."""

    def __init__(
        self,
        consumer: StreamConsumer,
        owned: OwnedPartitions,
        on_assignment: AssignmentListener,
        monitor: LagMonitor | None,
    ) -> None:
        self.inner = consumer
        self._owned = owned
        self._on_assignment = on_assignment
        self._monitor = monitor

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        records = self.inner.poll(max_records, timeout)
        self.report()
        return records

    def report(self) -> None:
        self._on_assignment(self._owned.update(self.inner.assignment()))

    def commit(self, records: Sequence[Record]) -> None:
        self.inner.commit(records)

    def assignment(self) -> dict[str, list[str]]:
        return self.inner.assignment()

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
        self._on_assignment(self._owned.update({}))
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        """Anything backend-specific (Kinesis' lag, say) is the wrapped consumer's."""
        return getattr(self.inner, name)


class WatchedBackend:
    """Delegates everything to ``backend``; consumers of a group come back watched."""

    def __init__(
        self,
        backend: Backend,
        metrics: Metrics,
        on_assignment: AssignmentListener,
        *,
        lag_interval_s: float,
    ) -> None:
        self.inner = backend
        self.name = backend.name
        self._metrics = metrics
        self._on_assignment = on_assignment
        self._lag_interval_s = lag_interval_s

    def consumer(
        self,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom | None = None,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> StreamConsumer:
        consumer = self.inner.consumer(
            streams, group, start, on_assign=on_assign, on_revoke=on_revoke
        )
        if group is None:
            return consumer  # a group-less reader (state restore) owns nothing
        owned = OwnedPartitions()
        monitor = None
        if self._lag_interval_s > 0:
            monitor = LagMonitor(
                self.inner,
                group,
                owned,
                self._metrics,
                interval_s=self._lag_interval_s,
                behind=consumer if isinstance(consumer, ReportsBehind) else None,
            )
            monitor.start()
        return WatchedConsumer(consumer, owned, self._on_assignment, monitor)

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> AtomicWriter:
        """The backend's writer, over the consumer it made (never over the wrapper)."""
        inner = consumer.inner if isinstance(consumer, WatchedConsumer) else consumer
        return self.inner.atomic_writer(inner, writer_id)

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        self.inner.ensure_streams(streams, compacted=compacted)

    def list_streams(self) -> list[str]:
        return self.inner.list_streams()

    def producer(self) -> StreamProducer:
        return self.inner.producer()

    def partitions(self, stream: str) -> list[str]:
        return self.inner.partitions(stream)

    def end_offsets(self, stream: str) -> dict[str, int]:
        return self.inner.end_offsets(stream)

    def committed(self, stream: str, group: str) -> dict[str, int]:
        return self.inner.committed(stream, group)

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        return self.inner.read_partition(stream, partition, start_offset)

    def close(self) -> None:
        self.inner.close()
