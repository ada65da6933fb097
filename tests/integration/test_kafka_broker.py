"""Checks that the Maven-Central Kafka broker really works for plain and transactional traffic.

Runs a real broker JVM (streamjury.devservers.kafka); no mocks.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from streamjury.devservers.kafka import LocalKafkaBroker

pytestmark = pytest.mark.kafka


@pytest.fixture
def broker(kafka_broker: LocalKafkaBroker) -> LocalKafkaBroker:
    """The session-wide broker from tests/conftest.py."""
    return kafka_broker


def _consume(
    bootstrap: str, topic: str, *, expected: int, isolation: str, idle_s: float = 3.0
) -> list[bytes]:
    """Read from the beginning until `expected` messages arrived and then `idle_s` of quiet,
    so a test also notices messages that should NOT be there (e.g. aborted ones)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    idle = 0.0
    try:
        for _ in range(600):  # hard cap: 600 polls of at most 0.5 s
            msg = consumer.poll(0.5)
            if msg is None:
                if len(values) >= expected:
                    idle += 0.5
                    if idle >= idle_s:
                        break
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            idle = 0.0
            value = msg.value()
            assert value is not None
            values.append(value)
    finally:
        consumer.close()
    return values


def test_produce_and_consume_100_messages(broker: LocalKafkaBroker) -> None:
    topic = f"t-{uuid.uuid4()}"
    broker.create_topic(topic, partitions=3)

    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all"})
    delivered: list[int] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        assert err is None, err
        delivered.append(msg.partition())  # type: ignore[attr-defined]

    sent = [f"msg-{i}".encode() for i in range(100)]
    for i, value in enumerate(sent):
        producer.produce(topic, key=str(i).encode(), value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert len(delivered) == 100
    assert len(set(delivered)) == 3, "keys should spread over all 3 partitions"

    received = _consume(
        broker.bootstrap_servers, topic, expected=100, isolation="read_uncommitted", idle_s=1.0
    )
    assert sorted(received) == sorted(sent)


def test_read_committed_sees_only_committed_transaction(broker: LocalKafkaBroker) -> None:
    topic = f"tx-{uuid.uuid4()}"
    broker.create_topic(topic, partitions=3)

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "transactional.id": f"tx-{uuid.uuid4()}",
        }
    )
    producer.init_transactions(30)

    producer.begin_transaction()
    committed = [f"committed-{i}".encode() for i in range(10)]
    for i, value in enumerate(committed):
        producer.produce(topic, key=str(i).encode(), value=value)
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, key=str(i).encode(), value=f"aborted-{i}".encode())
    producer.flush(30)  # make sure the aborted records really reached the log
    producer.abort_transaction(30)

    # A committed marker after the aborted batch, so read_committed has an LSO past it.
    producer.begin_transaction()
    producer.produce(topic, key=b"last", value=b"committed-last")
    producer.commit_transaction(30)
    committed.append(b"committed-last")

    seen = _consume(
        broker.bootstrap_servers, topic, expected=len(committed), isolation="read_committed"
    )
    assert sorted(seen) == sorted(committed)

    # The aborted records are physically in the log: read_uncommitted sees them too.
    everything = _consume(
        broker.bootstrap_servers, topic, expected=len(committed) + 10, isolation="read_uncommitted"
    )
    assert len([v for v in everything if v.startswith(b"aborted-")]) == 10
