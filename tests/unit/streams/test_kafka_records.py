"""Kafka messages become Records: the direct slot writes give what the dataclass would."""

from __future__ import annotations

import dataclasses

import pytest
from confluent_kafka import Message

from streamjury.streams.base import Record
from streamjury.streams.kafka.records import to_record


@pytest.mark.parametrize(
    ("key", "value", "timestamp", "expected_key", "expected_value", "expected_ms"),
    [
        (b"ride-1", b'{"x":1}', (1, 1_700_000_000_123), "ride-1", b'{"x":1}', 1_700_000_000_123),
        (None, None, (0, -1), "", b"", 0),
        (b"\xff\xfebad", b"", (2, 5), "\ufffd\ufffdbad", b"", 5),
    ],
)
def test_a_message_becomes_the_record_the_dataclass_would_build(
    key: bytes | None,
    value: bytes | None,
    timestamp: tuple[int, int],
    expected_key: str,
    expected_value: bytes,
    expected_ms: int,
) -> None:
    message = Message(
        topic="verdicts", partition=11, offset=42, key=key, value=value, timestamp=timestamp
    )

    record = to_record(message)

    assert record == Record("verdicts", "11", 42, expected_key, expected_value, expected_ms)
    assert {f.name: getattr(record, f.name) for f in dataclasses.fields(Record)}  # every slot set
    assert to_record(message).partition == "11"
