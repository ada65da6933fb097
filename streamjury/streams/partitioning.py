"""Stable key-to-partition mapping shared by the embedded backends (memory and local).

A key must land in the same partition in every process and every run, so no ``hash()`` here.
"""

from __future__ import annotations

import time
import zlib


def partition_names(count: int) -> list[str]:
    """The partitions of a stream with ``count`` partitions: ``"0"`` .. ``"count-1"``."""
    return [str(index) for index in range(count)]


def partition_for_key(key: str, count: int) -> str:
    """The partition of ``key``: CRC-32 of its UTF-8 bytes, stable across processes and runs."""
    return str(zlib.crc32(key.encode()) % count)


def now_ms() -> int:
    """Wall-clock milliseconds: the timestamp the embedded backends give an appended record."""
    return time.time_ns() // 1_000_000
