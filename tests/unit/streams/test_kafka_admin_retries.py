"""Offset look-ups ride out a leader that was elected a moment ago (its high watermark not yet
caught up) and still refuse, at once, what waiting cannot fix."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamjury.errors import StreamError
from streamjury.streams.kafka.admin import KafkaAdmin


class FlakyOffsets:
    """``list_offsets`` whose answers fail ``failures`` times with ``code``, then give 42."""

    def __init__(self, failures: int, code: int) -> None:
        self.failures = failures
        self.code = code
        self.calls = 0

    def poll(self, timeout: float) -> int:
        return 0

    def list_offsets(self, requests: dict[Any, Any], **options: Any) -> dict[Any, Future[Any]]:
        self.calls += 1
        answers: dict[Any, Future[Any]] = {}
        for tp in requests:
            answer: Future[Any] = Future()
            if self.failures > 0:
                answer.set_exception(KafkaException(KafkaError(self.code)))
            else:
                answer.set_result(type("Offset", (), {"offset": 42})())
            answers[tp] = answer
        self.failures -= 1
        return answers


def admin_with(client: FlakyOffsets) -> KafkaAdmin:
    admin = KafkaAdmin({"bootstrap.servers": "127.0.0.1:1"}, partitions=1, replication_factor=1)
    admin._client = client  # type: ignore[assignment]
    return admin


def test_offsets_from_a_leader_still_catching_up_are_asked_again() -> None:
    client = FlakyOffsets(2, KafkaError.OFFSET_NOT_AVAILABLE)

    assert admin_with(client).start_offset("decisions", 0) == 42
    assert client.calls == 3


def test_an_error_that_waiting_cannot_fix_is_raised_at_once() -> None:
    client = FlakyOffsets(99, KafkaError.TOPIC_AUTHORIZATION_FAILED)

    with pytest.raises(StreamError, match="list the offsets of 'decisions'"):
        admin_with(client).start_offset("decisions", 0)
    assert client.calls == 1
