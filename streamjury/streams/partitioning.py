"""Partition helpers shared by the embedded backends (memory and local): stable key mapping, and
fair round-robin reads. A key must land in the same partition in every process and run, so no
``hash()`` here.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

from streamjury.streams.base import Record

StreamPartition = tuple[str, str]
ReadPartition = Callable[[str, str, int, int], list[Record]]
"""(stream, partition, from_offset, max_records) -> records: one partition's read."""


def partition_names(count: int) -> list[str]:
    """The partitions of a stream with ``count`` partitions: ``"0"`` .. ``"count-1"``."""
    return [str(index) for index in range(count)]


def partition_for_key(key: str, count: int) -> str:
    """The partition of ``key``: CRC-32 of its UTF-8 bytes, stable across processes and runs."""
    return str(zlib.crc32(key.encode()) % count)


def now_ms() -> int:
    """Wall-clock milliseconds: the timestamp the embedded backends give an appended record."""
    return time.time_ns() // 1_000_000


def read_round_robin(
    positions: dict[StreamPartition, int], first: int, max_records: int, read: ReadPartition
) -> list[Record]:
    """Fill a batch partition by partition from ``positions``, starting at index ``first``.

    Advances ``positions`` past what it returns. Callers move ``first`` on every poll so that
    one busy partition cannot starve the others.
    """
    order = list(positions)
    batch: list[Record] = []
    for index in range(len(order)):
        stream, partition = order[(first + index) % len(order)]
        found = read(stream, partition, positions[(stream, partition)], max_records - len(batch))
        if found:
            positions[(stream, partition)] = found[-1].offset + 1
            batch.extend(found)
        if len(batch) == max_records:
            break
    return batch
