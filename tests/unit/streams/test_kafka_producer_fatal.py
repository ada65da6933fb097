"""After a fatal producer error the Kafka producer names every record sent to that producer since
the last flush as unwritten: librdkafka reports only failures, so nothing says which of them were
acknowledged, and re-sending them all may duplicate but never loses one.

A fatal error cannot be provoked on a real broker at will, so the confluent client is replaced by
a stand-in that queues records and then fails the way confluent-kafka does (a KafkaException out
of the call that serves callbacks).
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamjury.errors import DeliveryError, PartialDeliveryError
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka.producer import KafkaProducer

UNREACHABLE = {"bootstrap.servers": "127.0.0.1:1"}


class FatalClient:
    """Accepts records without ever acknowledging or failing one, then fails fatally in
    ``fail_in`` ("poll" or "flush")."""

    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in
        self.queued = 0

    def produce(self, topic: str, value: bytes | None, key: bytes) -> None:
        self.queued += 1

    def poll(self, timeout: float) -> int:
        if self.fail_in == "poll" and self.queued:
            raise KafkaException(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
        return 0

    def flush(self, timeout: float) -> int:
        if self.fail_in == "flush":
            raise KafkaException(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
        return self.queued

    def __len__(self) -> int:
        return self.queued


def producer_failing_in(fail_in: str) -> KafkaProducer:
    producer = KafkaProducer(UNREACHABLE)
    sender = producer._sender
    sender.producer = FatalClient(fail_in)  # type: ignore[assignment]
    for stream in ("verdicts", "deadletter"):
        sender._known_streams.add(stream)
    return producer


def records(*keys: str) -> list[OutRecord]:
    return [OutRecord(key, f"{key}:v".encode()) for key in keys]


def test_a_fatal_error_during_the_flush_names_every_record_of_the_window() -> None:
    producer = producer_failing_in("flush")
    producer.send("verdicts", records("a", "b"))
    producer.send("deadletter", records("c"))

    with pytest.raises(PartialDeliveryError, match="fatal error") as failed:
        producer.flush(1.0)

    assert failed.value.unwritten == (0, 1, 2)
    assert failed.value.by_stream == {"verdicts": (0, 1), "deadletter": (0,)}


def test_records_sent_to_a_producer_that_then_failed_are_unwritten_at_the_next_flush() -> None:
    producer = producer_failing_in("poll")
    with pytest.raises(DeliveryError, match="fatal error"):
        producer.send("verdicts", records("a", "b"))

    with pytest.raises(PartialDeliveryError) as failed:
        producer.flush(1.0)  # on a new producer: the failed one cannot tell what it wrote

    assert failed.value.unwritten == (0, 1)
    assert failed.value.by_stream == {"verdicts": (0, 1)}
