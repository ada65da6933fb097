"""Specification of the composition root: the configured check, its streams, its group, its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.settings import ConsumerSettings
from producers.synthetic import generate_rides
from streamjury.errors import ConfigError
from streamjury.schemas import Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend

COUNT = 40


def publish_rides(backend: MemoryBackend, stream: str, count: int = COUNT) -> list[str]:
    rides = [labelled.event for labelled in generate_rides(3, count)]
    backend.ensure_streams([stream])
    producer = backend.producer()
    producer.send(stream, [OutRecord(ride.event_id, ride.to_bytes()) for ride in rides])
    producer.flush()
    return [ride.event_id for ride in rides]


def read_all(backend: MemoryBackend, stream: str) -> list[bytes]:
    return [
        record.value
        for partition in backend.end_offsets(stream)
        for record in backend.read_partition(stream, partition)
    ]


class StopWhenCommitted:
    """Stops the run once the group has committed everything in ``stream`` (or after a bound)."""

    def __init__(self, backend: MemoryBackend, stream: str, group: str, max_checks: int = 500):
        self.backend, self.stream, self.group = backend, stream, group
        self.checks_left = max_checks

    def __call__(self) -> bool:
        self.checks_left -= 1
        committed = self.backend.committed(self.stream, self.group)
        done = all(
            committed.get(partition, 0) >= end
            for partition, end in self.backend.end_offsets(self.stream).items()
        )
        return done or self.checks_left <= 0


def settings_for(models: Path, **changes: object) -> ConsumerSettings:
    return ConsumerSettings.model_validate(
        {"check": "duration", "backend": "memory", "models": str(models), **changes}
    )


def test_the_configured_check_scores_its_stream_into_verdicts(trained_models: Path) -> None:
    backend = MemoryBackend()
    ids = publish_rides(backend, "rides")

    stats = run_consumer(
        settings_for(trained_models),
        StopWhenCommitted(backend, "rides", "streamjury-duration"),
        backend=backend,
    )

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    assert sorted(v.event_id for v in verdicts) == sorted(ids)
    assert {v.check for v in verdicts} == {"duration"}
    assert stats.records == COUNT


def test_streams_are_named_under_the_prefix_and_created_when_missing(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    publish_rides(backend, "test.rides")
    settings = settings_for(trained_models, stream_prefix="test.", group="g1")

    run_consumer(settings, StopWhenCommitted(backend, "test.rides", "g1"), backend=backend)

    assert {"test.verdicts", "test.deadletter"} <= set(backend.list_streams())
    assert len(read_all(backend, "test.verdicts")) == COUNT


def test_a_new_group_starting_from_latest_skips_what_is_already_there(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    publish_rides(backend, "rides")
    polls = iter(range(3))

    run_consumer(
        settings_for(trained_models, start="latest"),
        lambda: next(polls, None) is None,
        backend=backend,
    )

    assert read_all(backend, "verdicts") == []


def test_an_unknown_check_is_a_config_error_naming_the_known_ones(trained_models: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown check 'speed'.*duration"):
        run_consumer(settings_for(trained_models, check="speed"), lambda: True)
