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
    """A delivered confluent Message as a Record.

    Every record read from Kafka passes here, so it skips the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` per field) and writes the six slots directly: 2-3x cheaper, and
    the same Record (tests compare the two ways).
    """
    raw_key = message.key()
    _, timestamp_ms = message.timestamp()
    number = message.partition()
    partition = _PARTITION_NAMES.get(number)
    if partition is None:
        partition = _PARTITION_NAMES[number] = str(number)
    record = _new_record(Record)
    _set_stream(record, message.topic())
    _set_partition(record, partition)
    _set_offset(record, int(message.offset()))
    _set_key(record, raw_key.decode(errors="replace") if raw_key is not None else "")
    _set_value(record, message.value() or b"")
    _set_timestamp_ms(record, max(int(timestamp_ms), 0))
    return record


_new_record = object.__new__
_set_stream, _set_partition, _set_offset, _set_key, _set_value, _set_timestamp_ms = (
    vars(Record)[name].__set__
    for name in ("stream", "partition", "offset", "key", "value", "timestamp_ms")
)
_PARTITION_NAMES: dict[int, str] = {}
"""Partition number -> its id as a string, built once per number."""


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
