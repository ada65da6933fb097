"""Conversions between confluent-kafka's messages and partitions and the stream Protocol's types.

Partition ids are Kafka's partition numbers as strings; a null value (a tombstone) reads as b"".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamjury.streams.base import Record

Position = tuple[str, int]
"""(topic, partition number)."""


def to_record(message: Any) -> Record:
    """A delivered confluent Message as a Record."""
    raw_key = message.key()
    _, timestamp_ms = message.timestamp()
    return Record(
        stream=message.topic(),
        partition=str(message.partition()),
        offset=int(message.offset()),
        key=raw_key.decode(errors="replace") if raw_key is not None else "",
        value=message.value() or b"",
        timestamp_ms=max(int(timestamp_ms), 0),
    )


def by_stream(partitions: Sequence[Any]) -> dict[str, list[str]]:
    """TopicPartitions grouped as the Protocol reports them: stream -> partition ids in order."""
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return {topic: [str(p) for p in sorted(numbers)] for topic, numbers in grouped.items()}


def describe_partitions(partitions: Sequence[Any]) -> str:
    """``stream [0, 1, 2]`` for logs (tests parse these lines to follow ownership)."""
    grouped = by_stream(partitions)
    return "; ".join(f"{s} [{', '.join(ps)}]" for s, ps in grouped.items()) or "nothing"
