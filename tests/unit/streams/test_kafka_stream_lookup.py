"""A producer's stream lookup rides out a moment without metadata (a broker just died) and still
refuses a stream that does not exist, at once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamjury.errors import StreamError, UnknownStream
from streamjury.streams.kafka.producer import Sender


class FlakyMetadata:
    """``list_topics`` that fails ``failures`` times with ``code``, then answers."""

    def __init__(self, failures: int, code: int, topics: dict[str, Any]) -> None:
        self.failures = failures
        self.code = code
        self.topics = topics
        self.calls = 0

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise KafkaException(KafkaError(self.code))
        return SimpleNamespace(topics=self.topics)


def sender_with(metadata: FlakyMetadata) -> Sender:
    sender = Sender({"bootstrap.servers": "127.0.0.1:1"})
    sender.producer = metadata  # type: ignore[assignment]
    return sender


def test_a_lookup_that_times_out_is_asked_again_and_then_succeeds() -> None:
    metadata = FlakyMetadata(2, KafkaError._TIMED_OUT, {"rides": SimpleNamespace(error=None)})

    sender_with(metadata).check_stream("rides")

    assert metadata.calls == 3


def test_a_lookup_that_keeps_timing_out_is_refused_with_the_reason() -> None:
    metadata = FlakyMetadata(99, KafkaError._TIMED_OUT, {})

    with pytest.raises(StreamError, match="cannot look up stream 'rides'"):
        sender_with(metadata).check_stream("rides")

    assert metadata.calls == 3


def test_an_unknown_stream_is_refused_without_retrying() -> None:
    metadata = FlakyMetadata(0, KafkaError._TIMED_OUT, {})

    with pytest.raises(UnknownStream, match="create it first"):
        sender_with(metadata).check_stream("rides")

    assert metadata.calls == 1


def test_a_non_transient_error_is_not_retried() -> None:
    metadata = FlakyMetadata(99, KafkaError.TOPIC_AUTHORIZATION_FAILED, {})

    with pytest.raises(StreamError):
        sender_with(metadata).check_stream("rides")

    assert metadata.calls == 1
