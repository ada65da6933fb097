"""The decision service on a real broker, restoring a partition whose changelog read reports a
transaction left open: it has its Kafka writer sweep what its writer id left open (inside the
group's assignment callback, where restores run) and restores, and the join it held completes.

The broker state behind that report (a transaction the broker completed without its markers,
docs/reliability.md) cannot be brought about on demand, so the first changelog read reports it;
the sweep and everything after it run on the broker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from decision.joiner import Joiner
from decision.policy import load_policy
from decision.service import DecisionService, ServiceConfig
from streamjury.errors import OpenTransactionError
from streamjury.schemas import Decision, SourcePosition, Verdict, utc_now
from streamjury.settings import KafkaSettings
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.kafka.writer import SWEEP_KEY
from streamjury.streams.names import StreamNames
from tests.integration.kafka.helpers import read_raw

pytestmark = pytest.mark.kafka


class HeldUpOnce(KafkaBackend):
    """Its first read of the decision changelog reports a transaction left open."""

    def __init__(self, settings: KafkaSettings, changelog: str) -> None:
        super().__init__(settings)
        self.changelog = changelog
        self.reported = 0

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        if stream == self.changelog and self.reported == 0:
            self.reported += 1
            raise OpenTransactionError(f"{stream}/{partition} still has a transaction open")
        return super().read_partition(stream, partition, start_offset)


def verdict(check: str, event_id: str) -> Verdict:
    now = utc_now()
    return Verdict(
        event_id=event_id,
        event_type="upload",
        check=check,
        model_name=f"{check}-model",
        model_version="1",
        score=0.1,
        event_occurred_at=now,
        produced_at=now,
        source=SourcePosition(stream="uploads", partition="0", offset=0),
    )


def publish(backend: KafkaBackend, names: StreamNames, *verdicts: Verdict) -> None:
    producer = backend.producer()
    producer.send(names.verdicts, [OutRecord(v.event_id, v.to_bytes()) for v in verdicts])
    producer.flush()
    producer.close()


def service(backend: KafkaBackend, names: StreamNames) -> DecisionService:
    config = ServiceConfig(group=f"{names.prefix}decision", writer_id=f"{names.prefix}writer")
    decide = DecisionService(backend, Joiner(load_policy(), retention_s=600.0), names, config)
    decide.start()
    return decide


def decisions(backend: KafkaBackend, names: StreamNames) -> list[Decision]:
    return [
        Decision.model_validate_json(record.value)
        for partition in backend.partitions(names.decisions)
        for record in backend.read_partition(names.decisions, partition)
    ]


def test_a_restore_told_of_a_transaction_left_open_sweeps_on_the_broker_and_completes_the_join(
    kafka_backend: KafkaBackend, kafka_settings: KafkaSettings, stream_prefix: str
) -> None:
    names = StreamNames(prefix=stream_prefix)
    first = service(kafka_backend, names)
    publish(kafka_backend, names, verdict("copyright", "up-1"), verdict("nsfw", "up-1"))
    deadline = time.monotonic() + 60
    while first.stats.verdicts < 2 and time.monotonic() < deadline:
        first.step()
    first.close()
    assert first.stats.verdicts == 2

    held_up = HeldUpOnce(kafka_settings, names.decision_state)
    second = service(held_up, names)
    try:
        publish(kafka_backend, names, verdict("violence", "up-1"))
        deadline = time.monotonic() + 60
        while not second.stats.decisions and time.monotonic() < deadline:
            second.step()
    finally:
        second.close()
        held_up.close()

    assert held_up.reported == 1
    assert [(d.event_id, d.outcome) for d in decisions(kafka_backend, names)] == [
        ("up-1", "approve")
    ]
    written = read_raw(kafka_settings.bootstrap, names.decision_state, isolation="read_uncommitted")
    partitions = kafka_backend.partitions(names.decision_state)
    assert sum(key == SWEEP_KEY for _, key, _ in written) == len(partitions)  # swept, aborted
