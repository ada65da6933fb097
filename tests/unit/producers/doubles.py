"""Test doubles for the producer tests: a producer that notes, on a fake clock, when each flush
happened and what it carried."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from producers.publisher import Outgoing
from streamjury.clock import FakeClock
from streamjury.streams.base import OutRecord, StreamProducer


@dataclass
class Flush:
    """One flush as the producer saw it: when (fake seconds) and which records."""

    at: float
    records: list[tuple[str, OutRecord]]


@dataclass
class TimedProducer:
    """Forwards to a real producer and notes each flush's time on the clock.

    ``stall_on=n`` makes the n-th flush take ``stall`` seconds, like a broker that hangs.
    """

    inner: StreamProducer
    clock: FakeClock
    stall_on: int | None = None
    stall: float = 0.0
    flushes: list[Flush] = field(default_factory=list)
    _pending: list[tuple[str, OutRecord]] = field(default_factory=list)

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        self.inner.send(stream, records)
        self._pending.extend((stream, record) for record in records)

    def flush(self, timeout: float = 30.0) -> None:
        self.inner.flush(timeout)
        self.flushes.append(Flush(self.clock.monotonic(), self._pending))
        self._pending = []
        if self.stall_on == len(self.flushes):
            self.clock.advance(self.stall)

    def close(self) -> None:
        self.inner.close()

    def send_times(self) -> list[float]:
        """The flush time of every record, in the order the records were sent."""
        return [flush.at for flush in self.flushes for _ in flush.records]

    def batch_sizes(self) -> list[int]:
        return [len(flush.records) for flush in self.flushes]


def make_items(count: int, stream: str = "rides") -> list[Outgoing]:
    """``count`` distinct records for one stream."""
    return [Outgoing(stream, OutRecord(f"key-{i}", f'{{"n":{i}}}'.encode())) for i in range(count)]
