"""A failed flush of the Kafka producer names exactly the records that were not written, on a real
broker: librdkafka reports only failures, and the producer traces each back to its record.

Records too large for a topic fail; to know which ones must fail, big and small records are keyed
to different partitions (a broker refuses a whole batch, so a small record batched with a big one
would fail too).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.errors import PartialDeliveryError
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
from tests.integration.kafka.helpers import java_partition, out_records, read_raw

pytestmark = pytest.mark.kafka

PARTITIONS = 2
LIMIT = 2048
"""The topics' max.message.bytes: a big record is four times that."""


def keys_on(partition: int, prefix: str, count: int) -> list[str]:
    """``count`` keys the producer's partitioner maps to ``partition`` (of PARTITIONS)."""
    found = []
    n = 0
    while len(found) < count:
        key = f"{prefix}-{n}"
        if java_partition(key.encode(), PARTITIONS) == partition:
            found.append(key)
        n += 1
    return found


def small(key: str) -> OutRecord:
    return OutRecord(key, f"{key}:small".encode())


def big(key: str) -> OutRecord:
    return OutRecord(key, key.encode() + os.urandom(4 * LIMIT))


def create_small_topics(broker: LocalKafkaBroker, *names: str) -> None:
    for name in names:
        broker.create_topic(name, partitions=PARTITIONS, config={"max.message.bytes": str(LIMIT)})


def written_keys(broker: LocalKafkaBroker, stream: str) -> list[str]:
    return [
        (key or b"").decode()
        for _, key, _ in read_raw(broker.bootstrap_servers, stream, isolation="read_committed")
    ]


@contextmanager
def paused(broker: LocalKafkaBroker) -> Iterator[None]:
    """The broker process stopped (SIGSTOP): connections stay open, requests get no answer."""
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.pid, signal.SIGCONT)


def test_records_refused_in_the_middle_of_a_window_are_named_by_their_exact_indices(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    verdicts, deadletter = f"{stream_prefix}verdicts", f"{stream_prefix}deadletter"
    create_small_topics(kafka_broker, verdicts, deadletter)
    bigs, smalls = iter(keys_on(0, "big", 4)), iter(keys_on(1, "small", 6))
    first = [small(next(smalls)), big(next(bigs)), small(next(smalls)), small(next(smalls))]
    other = [small(next(smalls)), big(next(bigs))]
    second = [big(next(bigs)), small(next(smalls)), big(next(bigs))]
    producer = kafka_backend.producer()
    producer.send(verdicts, first)
    producer.send(deadletter, other)
    producer.send(verdicts, second)

    with pytest.raises(PartialDeliveryError, match="4 of 9 records could not be written") as failed:
        producer.flush(30)
    producer.close()

    assert failed.value.unwritten == (1, 5, 6, 8)
    assert failed.value.by_stream == {verdicts: (1, 4, 6), deadletter: (1,)}
    assert sorted(written_keys(kafka_broker, verdicts)) == sorted(
        r.key for r in [*first, *second] if r.value.endswith(b":small")
    )
    assert written_keys(kafka_broker, deadletter) == [other[0].key]


def test_identical_records_that_fail_are_each_named_once(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}verdicts"
    create_small_topics(kafka_broker, stream)
    refused, kept = big(keys_on(0, "big", 1)[0]), small(keys_on(1, "small", 1)[0])
    batch = [kept, refused, kept, refused, refused]
    producer = kafka_backend.producer()
    producer.send(stream, batch)

    with pytest.raises(PartialDeliveryError) as failed:
        producer.flush(30)
    producer.close()

    assert failed.value.unwritten == (1, 3, 4)
    assert failed.value.by_stream == {stream: (1, 3, 4)}
    assert written_keys(kafka_broker, stream) == [kept.key, kept.key]


def test_records_in_flight_when_a_flush_gives_up_are_named_and_none_is_lost(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    verdicts, deadletter = f"{stream_prefix}verdicts", f"{stream_prefix}deadletter"
    kafka_backend.ensure_streams([verdicts, deadletter])
    producer = kafka_backend.producer()
    producer.send(verdicts, out_records(["before"]))
    producer.send(deadletter, out_records(["before"]))
    producer.flush(30)  # connected, so what is sent next is in flight, not queued
    during = {verdicts: out_records(["v-1", "v-2"]), deadletter: out_records(["d-1"])}

    with paused(kafka_broker):
        for stream, records in during.items():
            producer.send(stream, records)
        with pytest.raises(PartialDeliveryError, match="Purged in flight") as failed:
            producer.flush(1.0)

    assert failed.value.unwritten == (0, 1, 2)
    assert failed.value.by_stream == {verdicts: (0, 1), deadletter: (0,)}
    for stream, records in during.items():  # the caller's retry
        producer.send(stream, [records[i] for i in failed.value.by_stream[stream]])
    producer.flush(30)
    producer.close()
    # What was in flight may have landed as well: at least once, never lost.
    assert set(written_keys(kafka_broker, verdicts)) == {"before", "v-1", "v-2"}
    assert set(written_keys(kafka_broker, deadletter)) == {"before", "d-1"}
