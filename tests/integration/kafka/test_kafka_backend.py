"""What the Kafka backend adds to the portable contract, checked on a real broker.

Topics, partitioning, tombstones, group rebalances, delivery failures and transactions in-process.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

import streamjury.streams.kafka.producer as kafka_producer
import streamjury.streams.kafka.writer as kafka_writer
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.errors import (
    DeliveryError,
    FencedError,
    PartialDeliveryError,
    UnknownStream,
    WriterFencedError,
)
from streamjury.settings import KafkaSettings
from streamjury.streams.base import OutRecord, Record, StreamConsumer
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.kafka.consumer import KafkaConsumer
from tests.integration.kafka.helpers import (
    drain,
    java_partition,
    out_records,
    produce,
    read_raw,
    wait_until,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def stream(kafka_backend: KafkaBackend, stream_prefix: str) -> str:
    name = f"{stream_prefix}in"
    kafka_backend.ensure_streams([name])
    return name


@pytest.fixture
def consumers(kafka_backend: KafkaBackend) -> Iterator[list[StreamConsumer]]:
    """Consumers a test opens; closed at teardown."""
    opened: list[StreamConsumer] = []
    yield opened
    for consumer in opened:
        consumer.close()


def poll_until_assigned(
    members: list[StreamConsumer], stream: str, partitions: int, timeout: float = 20.0
) -> bool:
    """Poll every member until together they own each partition exactly once."""

    def settled() -> bool:
        for member in members:
            member.poll(100, 0.1)
        owned = [p for member in members for p in member.assignment().get(stream, [])]
        return sorted(owned, key=int) == [str(n) for n in range(partitions)] and all(
            member.assignment() for member in members
        )

    return wait_until(settled, timeout=timeout, step=0)


# -- topics ----------------------------------------------------------------------------------


def test_ensure_streams_creates_topics_with_the_configured_partition_count(
    kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    settings = KafkaSettings(bootstrap=kafka_broker.bootstrap_servers, partitions=5)
    backend = KafkaBackend(settings)
    names = [f"{stream_prefix}a", f"{stream_prefix}b"]

    backend.ensure_streams(names)
    backend.ensure_streams(names)  # a second call finds them and changes nothing

    assert set(names) <= set(backend.list_streams())
    assert [backend.partitions(name) for name in names] == [["0", "1", "2", "3", "4"]] * 2
    backend.close()


def test_a_compacted_stream_is_created_with_the_compact_cleanup_policy(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    name = f"{stream_prefix}state"

    kafka_backend.ensure_streams([name], compacted=True)

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    resource = ConfigResource(ResourceType.TOPIC, name)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


def test_a_consumer_of_a_stream_that_does_not_exist_raises_unknown_stream(
    kafka_backend: KafkaBackend, stream_prefix: str
) -> None:
    with pytest.raises(UnknownStream):
        kafka_backend.consumer([f"{stream_prefix}missing"], "group")


# -- partitioning and values -----------------------------------------------------------------


def test_keys_land_in_the_partition_the_java_client_would_pick(
    kafka_backend: KafkaBackend, stream: str
) -> None:
    keys = [f"event-{n}" for n in range(60)]

    produce(kafka_backend, stream, out_records(keys))

    records = [
        r for p in kafka_backend.partitions(stream) for r in kafka_backend.read_partition(stream, p)
    ]
    assert sorted(r.key for r in records) == sorted(keys)
    assert all(int(r.partition) == java_partition(r.key.encode(), 6) for r in records)


def test_plain_and_transactional_writes_of_a_key_share_a_partition_number(
    kafka_backend: KafkaBackend, stream_prefix: str, consumers: list[StreamConsumer]
) -> None:
    verdicts, changelog = f"{stream_prefix}verdicts", f"{stream_prefix}state"
    kafka_backend.ensure_streams([verdicts])
    kafka_backend.ensure_streams([changelog], compacted=True)
    keys = [f"event-{n}" for n in range(40)]
    produce(kafka_backend, verdicts, out_records(keys))
    consumer = kafka_backend.consumer([verdicts], f"{stream_prefix}group")
    consumers.append(consumer)
    inputs = drain(consumer, len(keys))
    writer = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")

    writer.write_and_commit({changelog: out_records([r.key for r in inputs], "state")}, inputs)
    writer.close()

    assert writer.exactly_once is True
    state_partition = {
        r.key: r.partition
        for p in kafka_backend.partitions(changelog)
        for r in kafka_backend.read_partition(changelog, p)
    }
    assert {r.key: r.partition for r in inputs} == state_partition


def test_an_empty_value_is_written_as_a_tombstone_and_read_back_as_empty(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream: str
) -> None:
    produce(kafka_backend, stream, [OutRecord("gone", b"")])

    raw = read_raw(kafka_broker.bootstrap_servers, stream, isolation="read_committed")
    read = [
        r for p in kafka_backend.partitions(stream) for r in kafka_backend.read_partition(stream, p)
    ]

    assert [(key, value) for _, key, value in raw] == [(b"gone", None)]
    assert [(r.key, r.value) for r in read] == [("gone", b"")]


def test_records_carry_the_time_they_were_produced(
    kafka_backend: KafkaBackend, stream: str
) -> None:
    before_ms = time.time_ns() // 1_000_000
    produce(kafka_backend, stream, out_records(["event-1"]))
    after_ms = time.time_ns() // 1_000_000

    (partition,) = [p for p, end in kafka_backend.end_offsets(stream).items() if end > 0]
    (record,) = kafka_backend.read_partition(stream, partition)

    assert before_ms <= record.timestamp_ms <= after_ms
    assert (record.stream, record.key, record.value) == (stream, "event-1", b"event-1:v")


def test_read_partition_starts_at_the_offset_and_stops_at_the_current_end(
    kafka_backend: KafkaBackend, stream: str
) -> None:
    produce(kafka_backend, stream, [OutRecord("same-key", f"{n}".encode()) for n in range(10)])
    (partition,) = [p for p, end in kafka_backend.end_offsets(stream).items() if end > 0]

    values = [int(r.value) for r in kafka_backend.read_partition(stream, partition, 6)]
    nothing = list(kafka_backend.read_partition(stream, partition, 10))

    assert values == [6, 7, 8, 9]
    assert nothing == []


# -- producer delivery -----------------------------------------------------------------------


def test_flush_raises_delivery_error_naming_records_the_broker_refused(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    stream = f"{stream_prefix}small"
    kafka_broker.create_topic(stream, partitions=1, config={"max.message.bytes": "1024"})
    producer = kafka_backend.producer()
    producer.send(stream, [OutRecord("big", os.urandom(20_000))])

    with pytest.raises(DeliveryError, match=r"1 of 1 records could not be written.*too large"):
        producer.flush(10)
    producer.close()


def test_a_full_local_queue_makes_send_wait_instead_of_dropping(
    kafka_settings: KafkaSettings, stream_prefix: str
) -> None:
    backend = KafkaBackend(kafka_settings, overrides={"queue.buffering.max.messages": 20})
    stream = f"{stream_prefix}in"
    backend.ensure_streams([stream])
    keys = [f"event-{n}" for n in range(500)]

    produce(backend, stream, out_records(keys))

    assert sum(backend.end_offsets(stream).values()) == len(keys)
    backend.close()


def test_a_flush_while_the_broker_is_down_names_the_unwritten_records_and_drops_them(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream: str
) -> None:
    producer = kafka_backend.producer()
    producer.send(stream, out_records(["before"]))
    producer.flush()
    kafka_broker.stop()
    during = out_records(["during-1", "during-2"])
    try:
        producer.send(stream, during)
        with pytest.raises(PartialDeliveryError, match="2 records were still in flight") as failed:
            producer.flush(1.0)
    finally:
        kafka_broker.start()
    assert failed.value.unwritten == (0, 1)
    assert failed.value.by_stream == {stream: (0, 1)}

    producer.send(stream, [during[i] for i in failed.value.unwritten])  # the caller's retry
    producer.flush(30)
    producer.close()

    keys = [
        key
        for _, key, _ in read_raw(
            kafka_broker.bootstrap_servers, stream, isolation="read_committed", idle_s=10.0
        )
    ]
    assert Counter(keys) == Counter([b"before", b"during-1", b"during-2"])  # none twice


def test_a_failed_flush_names_exactly_the_records_that_were_not_written_per_stream(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> None:
    small, roomy = f"{stream_prefix}small", f"{stream_prefix}roomy"
    kafka_broker.create_topic(small, partitions=3, config={"max.message.bytes": "2048"})
    kafka_broker.create_topic(roomy, partitions=3)
    first = [OutRecord(f"a-{n}", os.urandom(8_000 if n % 3 == 0 else 100)) for n in range(30)]
    second = [OutRecord(f"b-{n}", os.urandom(100)) for n in range(10)]
    third = [OutRecord(f"c-{n}", os.urandom(8_000 if n % 2 == 0 else 100)) for n in range(10)]
    producer = kafka_backend.producer()
    producer.send(small, first)
    producer.send(roomy, second)
    producer.send(small, third)

    with pytest.raises(PartialDeliveryError) as failed:
        producer.flush(30)
    producer.close()

    to_small = [*first, *third]
    written = {
        (key or b"").decode()
        for _, key, _ in read_raw(kafka_broker.bootstrap_servers, small, isolation="read_committed")
    }
    unwritten = {to_small[i].key for i in failed.value.by_stream[small]}
    assert unwritten >= {r.key for r in to_small if len(r.value) > 2048}  # every refused one...
    assert unwritten == {r.key for r in to_small} - written  # ...and exactly what is missing
    assert roomy not in failed.value.by_stream
    everything = [*first, *second, *third]
    assert {everything[i].key for i in failed.value.unwritten} == unwritten


# -- groups ----------------------------------------------------------------------------------


def test_two_members_of_a_group_split_the_partitions_between_them(
    kafka_backend: KafkaBackend, stream: str, stream_prefix: str, consumers: list[StreamConsumer]
) -> None:
    group = f"{stream_prefix}group"
    calls: list[tuple[str, str, list[str]]] = []
    first = kafka_backend.consumer(
        [stream],
        group,
        on_assign=lambda s, ps: calls.append(("assign", s, list(ps))),
        on_revoke=lambda s, ps: calls.append(("revoke", s, list(ps))),
    )
    consumers.append(first)
    assert poll_until_assigned([first], stream, 6)
    second = kafka_backend.consumer([stream], group)
    consumers.append(second)

    assert poll_until_assigned([first, second], stream, 6)

    kept, moved = first.assignment()[stream], second.assignment()[stream]
    assert calls[0] == ("assign", stream, ["0", "1", "2", "3", "4", "5"])
    # Cooperative rebalancing revokes only what moves; the rest never stops.
    assert calls[1:] == [("revoke", stream, moved)]
    assert sorted(kept + moved, key=int) == ["0", "1", "2", "3", "4", "5"]


def test_committing_records_of_a_partition_that_moved_away_raises_fenced(
    kafka_backend: KafkaBackend, stream: str, stream_prefix: str, consumers: list[StreamConsumer]
) -> None:
    produce(kafka_backend, stream, out_records([f"event-{n}" for n in range(60)]))
    group = f"{stream_prefix}group"
    first = kafka_backend.consumer([stream], group)
    consumers.append(first)
    records = drain(first, 60)
    second = kafka_backend.consumer([stream], group)
    consumers.append(second)
    assert poll_until_assigned([first, second], stream, 6)

    with pytest.raises(FencedError):
        first.commit(records)

    assert kafka_backend.committed(stream, group) == {}


def test_a_member_that_leaves_hands_its_uncommitted_records_to_the_other(
    kafka_backend: KafkaBackend, stream: str, stream_prefix: str, consumers: list[StreamConsumer]
) -> None:
    group = f"{stream_prefix}group"
    first, second = (kafka_backend.consumer([stream], group) for _ in range(2))
    consumers.extend([first, second])
    assert poll_until_assigned([first, second], stream, 6)
    keys = [f"event-{n}" for n in range(60)]
    produce(kafka_backend, stream, out_records(keys))
    mine = drain(first, 100, wait_s=2)
    theirs = drain(second, 100, wait_s=2)
    second.commit(theirs)

    first.close()
    redelivered = drain(second, len(mine))

    assert sorted(r.key for r in mine + theirs) == sorted(keys)
    assert sorted(r.key for r in redelivered) == sorted(r.key for r in mine)


# -- the atomic writer in-process ------------------------------------------------------------


def _consumed(
    backend: KafkaBackend, stream: str, group: str, count: int
) -> tuple[StreamConsumer, list[Record]]:
    consumer = backend.consumer([stream], group)
    return consumer, drain(consumer, count)


def test_an_aborted_transaction_writes_nothing_and_rewinds_the_consumer(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    stream: str,
    stream_prefix: str,
    consumers: list[StreamConsumer],
) -> None:
    out = f"{stream_prefix}out"
    kafka_broker.create_topic(out, partitions=6, config={"max.message.bytes": "1024"})
    keys = [f"event-{n}" for n in range(10)]
    produce(kafka_backend, stream, out_records(keys))
    group = f"{stream_prefix}group"
    consumer, inputs = _consumed(kafka_backend, stream, group, len(keys))
    consumers.append(consumer)
    writer = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")
    outputs = {out: [*out_records(keys, "out"), OutRecord("too-big", os.urandom(20_000))]}

    with pytest.raises(DeliveryError, match="transaction aborted"):
        writer.write_and_commit(outputs, inputs)
    again = drain(consumer, len(keys))
    writer.write_and_commit({out: out_records(keys, "retried")}, again)
    writer.close()

    visible = read_raw(kafka_broker.bootstrap_servers, out, isolation="read_committed")
    assert sorted(r.key for r in again) == sorted(keys)
    assert sorted(value or b"" for _, _, value in visible) == sorted(
        f"{k}:retried".encode() for k in keys
    )
    assert sum(kafka_backend.committed(stream, group).values()) == len(keys)


def test_a_writer_started_again_with_the_same_id_fences_the_old_one(
    kafka_backend: KafkaBackend, stream: str, stream_prefix: str, consumers: list[StreamConsumer]
) -> None:
    produce(kafka_backend, stream, out_records(["event-1"]))
    consumer, inputs = _consumed(kafka_backend, stream, f"{stream_prefix}group", 1)
    consumers.append(consumer)
    old = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")
    new = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")

    with pytest.raises(WriterFencedError):
        old.write_and_commit({stream: out_records(["out"])}, inputs)
    with pytest.raises(WriterFencedError):  # for good: it must stop, not go on as a zombie
        old.write_and_commit({}, inputs)

    new.write_and_commit({}, inputs)
    # Read right after the commit returned: offsets whose transaction markers are still on
    # their way are waited for, never reported as absent.
    assert kafka_backend.committed(stream, f"{stream_prefix}group") == {
        inputs[0].partition: inputs[0].offset + 1
    }
    old.close()  # a fenced writer closes quietly
    new.close()


def test_committed_offsets_of_an_open_transaction_are_waited_for_not_read_as_absent(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    stream: str,
    stream_prefix: str,
    consumers: list[StreamConsumer],
) -> None:
    produce(kafka_backend, stream, out_records(["event-1"]))
    group = f"{stream_prefix}group"
    consumer, (record,) = _consumed(kafka_backend, stream, group, 1)
    consumers.append(consumer)
    assert isinstance(consumer, KafkaConsumer)
    raw = Producer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "transactional.id": f"{stream_prefix}raw",
            "log_level": 3,
        }
    )
    raw.init_transactions(30)
    raw.begin_transaction()
    position = TopicPartition(stream, int(record.partition), record.offset + 1)
    raw.send_offsets_to_transaction([position], consumer.group_metadata(), 30)
    answers: list[dict[str, int]] = []
    reader = threading.Thread(target=lambda: answers.append(kafka_backend.committed(stream, group)))

    reader.start()
    reader.join(2.0)
    waited = reader.is_alive()
    raw.commit_transaction(30)
    reader.join(30)

    assert waited, f"answered while the transaction was open: {answers}"
    assert answers == [{record.partition: record.offset + 1}]


def stuck_once(release: threading.Event) -> type[Producer]:
    """A confluent Producer whose first ``send_offsets_to_transaction`` (of all instances)
    blocks until ``release``, as librdkafka's does when it waits on a group coordinator it
    dropped from its broker list (librdkafka #5456, #5511)."""

    class StuckOnce(Producer):
        calls = 0

        def send_offsets_to_transaction(self, *args: Any) -> Any:
            StuckOnce.calls += 1
            if StuckOnce.calls == 1:
                release.wait()
                return None
            return super().send_offsets_to_transaction(*args)

    return StuckOnce


def test_a_transactional_call_that_never_returns_is_abandoned_and_the_batch_written_once(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    stream: str,
    stream_prefix: str,
    consumers: list[StreamConsumer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = f"{stream_prefix}out"
    kafka_backend.ensure_streams([out])
    keys = [f"event-{n}" for n in range(10)]
    produce(kafka_backend, stream, out_records(keys))
    group = f"{stream_prefix}group"
    consumer, inputs = _consumed(kafka_backend, stream, group, len(keys))
    consumers.append(consumer)
    release = threading.Event()
    monkeypatch.setattr(kafka_producer, "Producer", stuck_once(release))
    monkeypatch.setattr(kafka_writer, "CALL_TIMEOUT_S", 3.0)
    monkeypatch.setattr(kafka_writer, "STUCK_GRACE_S", 1.0)
    writer = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")

    started = time.monotonic()
    try:
        writer.write_and_commit({out: out_records(keys, "out")}, inputs)
    finally:
        release.set()
    took = time.monotonic() - started
    writer.close()

    visible = read_raw(kafka_broker.bootstrap_servers, out, isolation="read_committed")
    assert Counter(key for _, key, _ in visible) == Counter(k.encode() for k in keys)
    assert kafka_backend.committed(stream, group) == {
        p: end for p, end in kafka_backend.end_offsets(stream).items() if end > 0
    }
    assert consumer.poll(100, 1.0) == []  # the batch was not rewound: it is done
    assert 4.0 <= took < 30.0
