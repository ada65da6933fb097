"""Co-located checks on the real broker: one group for both ride checks, and the hand-over from
the checks' own groups (read through Kafka's admin API) that skips nothing and doubles nothing."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.settings import ConsumerSettings
from models.store import ensure_trained
from producers.synthetic import generate_rides
from streamjury.schemas import Verdict
from streamjury.settings import KafkaSettings
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.names import StreamNames
from tests.integration.kafka.helpers import produce

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

WAIT_S = 90.0


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=500)
    return folder


def publish(backend: KafkaBackend, stream: str, seed: int, count: int) -> list[str]:
    rides = [labelled.event for labelled in generate_rides(seed, count)]
    produce(backend, stream, [OutRecord(r.event_id, r.to_bytes()) for r in rides])
    return [ride.event_id for ride in rides]


def consume_all(
    backend: KafkaBackend, settings: KafkaSettings, models: Path, prefix: str, check: str
) -> None:
    """Run ``check`` (one or several) until its group has committed every ride."""
    config = ConsumerSettings.model_validate(
        {
            "check": check,
            "backend": "kafka",
            "kafka": settings,
            "models": str(models),
            "stream_prefix": prefix,
            "batch_timeout_ms": 20,
        }
    )
    rides = f"{prefix}rides"
    deadline = time.monotonic() + WAIT_S
    checked = [0.0]

    def done() -> bool:
        if time.monotonic() > deadline:
            raise AssertionError(f"{check} did not commit every ride in {WAIT_S} s")
        if time.monotonic() - checked[0] < 0.5:
            return False
        checked[0] = time.monotonic()
        committed = backend.committed(rides, config.group_name)
        return all(committed.get(p, 0) >= end for p, end in backend.end_offsets(rides).items())

    run_consumer(config, done, backend=backend)


def test_co_located_ride_checks_take_over_from_their_own_groups_on_kafka(
    kafka_backend: KafkaBackend, kafka_settings: KafkaSettings, stream_prefix: str, models: Path
) -> None:
    names = StreamNames(stream_prefix)
    kafka_backend.ensure_streams([names.rides, names.verdicts, names.deadletter])
    before = publish(kafka_backend, names.rides, seed=1, count=40)
    for check in ("duration", "tip"):
        consume_all(kafka_backend, kafka_settings, models, stream_prefix, check)
    after = publish(kafka_backend, names.rides, seed=2, count=30)

    consume_all(kafka_backend, kafka_settings, models, stream_prefix, "tip,duration")

    verdicts = [
        Verdict.model_validate_json(r.value)
        for p in kafka_backend.partitions(names.verdicts)
        for r in kafka_backend.read_partition(names.verdicts, p)
    ]
    assert Counter((v.check, v.event_id) for v in verdicts) == Counter(
        {(check, event): 1 for check in ("duration", "tip") for event in before + after}
    )
    co_located = kafka_backend.committed(names.rides, f"{stream_prefix}streamjury-duration+tip")
    assert co_located == kafka_backend.end_offsets(names.rides)
