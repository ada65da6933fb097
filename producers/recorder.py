"""Copies a bounded slice of a stream to JSON Lines, reading partitions without any consumer group.

Nothing is committed, so no service's position moves; the slice ends at the end offsets seen
when it starts, so recording never waits for records that have not been written yet.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal

from streamjury.clock import Clock
from streamjury.errors import ConfigError, StreamjuryError
from streamjury.streams.base import Backend, Record
from streamjury.streams.names import EVENT_STREAMS

log = logging.getLogger(__name__)

BoundKind = Literal["earliest", "latest", "time", "offsets"]
BOUND_HELP = "earliest, latest, now, an ISO-8601 time, or offsets as P:OFFSET[,P:OFFSET...]"
_OFFSETS = re.compile(r"^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

OrderKey = Callable[[Record], int]


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a slice: a named position, a time (ms since the epoch), or offsets.

    As a start, offsets choose the partitions to read; as an end, unlisted partitions run to
    their current end. Times compare with the records' stream timestamps.
    """

    kind: BoundKind
    timestamp_ms: int | None = None
    offsets: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, clock: Clock) -> Bound:
        """Read a ``--from``/``--to`` value; a time without an offset is taken as UTC."""
        value = text.strip()
        if value.lower() in ("earliest", "latest"):
            return cls("earliest" if value.lower() == "earliest" else "latest")
        if value.lower() == "now":
            return cls("time", timestamp_ms=_epoch_ms(clock.now()))
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return cls("time", timestamp_ms=_epoch_ms(when))
        if _OFFSETS.match(value):
            offsets: dict[str, int] = {}
            for part in value.split(","):
                partition, _, offset = part.rpartition(":")
                if partition in offsets:
                    raise ConfigError(f"partition {partition} is given twice in {text!r}")
                offsets[partition] = int(offset)
            return cls("offsets", offsets=offsets)
        raise ConfigError(f"cannot read {text!r} as a position: expected {BOUND_HELP}")


@dataclass(frozen=True, slots=True)
class PartitionSlice:
    """What to read of one partition: offsets [start, stop), and optional time limits."""

    partition: str
    start: int
    stop: int
    from_ms: int | None = None
    """Skip records until the first one stamped at or after this time."""
    to_ms: int | None = None
    """Stop at the first record stamped at or after this time."""


def plan_slice(ends: Mapping[str, int], start: Bound, stop: Bound) -> list[PartitionSlice]:
    """The per-partition reads for ``[start, stop)`` given each partition's current end."""
    partitions = sorted(ends, key=_natural)
    for bound in (start, stop):
        unknown = sorted(set(bound.offsets) - set(ends), key=_natural)
        if unknown:
            raise ConfigError(
                f"no partition {', '.join(unknown)}: the stream's partitions are "
                f"{', '.join(partitions)}"
            )
    if start.kind == "offsets":
        partitions = [p for p in partitions if p in start.offsets]
    plan = []
    for partition in partitions:
        end = ends[partition]
        plan.append(
            PartitionSlice(
                partition,
                start=end if start.kind == "latest" else start.offsets.get(partition, 0),
                stop=0 if stop.kind == "earliest" else min(end, stop.offsets.get(partition, end)),
                from_ms=start.timestamp_ms if start.kind == "time" else None,
                to_ms=stop.timestamp_ms if stop.kind == "time" else None,
            )
        )
    return plan


def event_time_us(record: Record) -> int:
    """The event's ``occurred_at`` in µs since the epoch, or the record's timestamp if it has none.

    Event time, not append time, orders a recorded event stream: append timestamps are shared by
    a whole batch, so they cannot say how the partitions interleaved; event times survive replay.
    """
    try:
        occurred_at = json.loads(record.value)["occurred_at"]
        when = datetime.fromisoformat(occurred_at)
    except (ValueError, KeyError, TypeError):
        return record.timestamp_ms * 1000
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def append_time_us(record: Record) -> int:
    """The record's stream timestamp in µs since the epoch."""
    return record.timestamp_ms * 1000


def order_key_for(logical_stream: str) -> OrderKey:
    """Event streams merge on event time, the others (verdicts, decisions...) on append time."""
    return event_time_us if logical_stream in EVENT_STREAMS else append_time_us


def read_slice(
    backend: Backend, stream: str, plan: Iterable[PartitionSlice], order_key: OrderKey
) -> Iterator[Record]:
    """The slice's records: each partition in offset order, merged across partitions by time.

    Ties go to the partition listed first, so the same slice always comes out the same.
    """
    readers = [_read_partition(backend, stream, part) for part in plan]
    return heapq.merge(*readers, key=order_key)


def _read_partition(backend: Backend, stream: str, part: PartitionSlice) -> Iterator[Record]:
    if part.start >= part.stop:
        return
    started = part.from_ms is None
    for record in backend.read_partition(stream, part.partition, part.start):
        if record.offset >= part.stop:
            return
        if part.to_ms is not None and record.timestamp_ms >= part.to_ms:
            return
        if not started:
            if part.from_ms is not None and record.timestamp_ms < part.from_ms:
                continue
            started = True
        yield record


def record_stream(
    backend: Backend, stream: str, logical: str, start: Bound, stop: Bound
) -> Iterator[Record]:
    """The records of ``stream`` in ``[start, stop)``, read without a group, in file order."""
    plan = plan_slice(backend.end_offsets(stream), start, stop)
    log.debug("recording %s: %s", stream, plan)
    return read_slice(backend, stream, plan, order_key_for(logical))


def write_values(records: Iterable[Record], out: BinaryIO) -> int:
    """Write each record's value as one line; refuse values that cannot be one line."""
    count = 0
    for record in records:
        if not record.value or b"\n" in record.value or b"\r" in record.value:
            raise StreamjuryError(
                f"{record.stream}/{record.partition}@{record.offset}: the value is empty or "
                "spans several lines, so it cannot be written as one JSON line"
            )
        out.write(record.value)
        out.write(b"\n")
        count += 1
    return count


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A file that appears at ``path`` only once it is complete: a failed run leaves nothing."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        file = temporary.open("wb")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with file:
            yield file
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _epoch_ms(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _natural(partition: str) -> tuple[int, int | str]:
    """Numeric partitions in numeric order ('2' before '10'), then the rest by name."""
    return (0, int(partition)) if partition.isdigit() else (1, partition)
