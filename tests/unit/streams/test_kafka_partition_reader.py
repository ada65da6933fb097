"""Reading a partition to its end rides out a broker or leader moment (error events that
librdkafka recovers from), refuses what it cannot recover from, and still notices a stall."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from streamjury.errors import StreamError
from streamjury.streams.kafka import reader as partition_reader


class Message:
    """A confluent Message as far as the reader looks at it: a record or an error event."""

    def __init__(self, offset: int = -1, error: KafkaError | None = None) -> None:
        self._offset = offset
        self._error = error

    def error(self) -> KafkaError | None:
        return self._error

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k%d" % self._offset

    def value(self) -> bytes:
        return b"v"

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000)

    def partition(self) -> int:
        return 0

    def topic(self) -> str:
        return "decisions"

    def headers(self) -> None:
        return None


class ScriptedReader:
    """A consumer whose polls hand out ``pages`` in turn, then nothing."""

    def __init__(self, *pages: list[Message]) -> None:
        self.pages = deque(pages)
        self.next_offset = 0
        self.closed = False

    def poll(self, timeout: float) -> Message | None:
        if not self.pages or not self.pages[0]:
            if self.pages:
                self.pages.popleft()
            return None
        return self._take()

    def consume(self, count: int, timeout: float) -> list[Message]:
        taken = []
        while self.pages and self.pages[0]:
            taken.append(self._take())
        if self.pages:
            self.pages.popleft()
        return taken

    def _take(self) -> Message:
        message = self.pages[0].popleft()  # type: ignore[attr-defined]
        if message.error() is None:
            self.next_offset = message.offset() + 1
        return message

    def position(self, tps: list[Any]) -> list[TopicPartition]:
        return [TopicPartition("decisions", 0, self.next_offset)]

    def close(self) -> None:
        self.closed = True


def page(*messages: Message) -> Any:
    return deque(messages)


def read(reader: ScriptedReader, end: int) -> list[int]:
    tp = TopicPartition("decisions", 0)
    return [int(record.key[1:]) for record in partition_reader._pages(reader, tp, end)]


def test_a_broker_moment_between_records_is_ridden_out() -> None:
    transport = Message(error=KafkaError(KafkaError._TRANSPORT))
    reader = ScriptedReader(
        page(Message(0), Message(1)),
        page(transport, Message(2)),
        page(Message(error=KafkaError(KafkaError._ALL_BROKERS_DOWN))),
        page(Message(3)),
    )

    assert read(reader, end=4) == [0, 1, 2, 3]
    assert reader.closed


def test_access_denied_is_raised_at_once() -> None:
    denied = Message(error=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    reader = ScriptedReader(page(Message(0)), page(denied), page(Message(1)))

    with pytest.raises(StreamError, match="TOPIC_AUTHORIZATION_FAILED"):
        read(reader, end=2)
    assert reader.closed


def test_error_events_alone_do_not_count_as_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition_reader, "STALL_S", 0.0)
    transport = Message(error=KafkaError(KafkaError._TRANSPORT))
    reader = ScriptedReader(*(page(transport) for _ in range(1000)))

    with pytest.raises(StreamError, match="stalled"):
        read(reader, end=1)
