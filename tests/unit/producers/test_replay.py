"""Replay pacing: the gaps between events' occurred_at, divided by the speed, on a fake clock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from producers.publisher import Outgoing, Publisher
from producers.replay import EventTimePacing, parse_speed
from streamjury.clock import FakeClock
from streamjury.errors import ConfigError
from streamjury.streams.base import OutRecord
from tests.unit.producers.doubles import TimedProducer

T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def events_at(*seconds: float) -> list[Outgoing]:
    """One ride per offset (seconds after T0), in the given order."""
    return [
        Outgoing("rides", OutRecord(f"ride-{n}", b"{}"), T0 + timedelta(seconds=offset))
        for n, offset in enumerate(seconds)
    ]


@pytest.mark.parametrize(
    ("text", "speed"), [("1", 1.0), ("10", 10.0), ("10x", 10.0), ("0.5", 0.5), ("MAX", None)]
)
def test_speeds_parse(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-2", "fast", "inf", "nan", ""])
def test_unreadable_speeds_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="speed"):
        parse_speed(text)


def test_real_time_replay_keeps_the_original_gaps(
    producer: TimedProducer, clock: FakeClock
) -> None:
    stats = Publisher(producer, clock).publish(events_at(0, 1, 3, 3.5), EventTimePacing(1))

    assert producer.send_times() == pytest.approx([0, 1, 3, 3.5])
    assert stats.seconds == pytest.approx(3.5)


def test_speed_divides_the_gaps(producer: TimedProducer, clock: FakeClock) -> None:
    stats = Publisher(producer, clock).publish(events_at(0, 1, 3, 3.5), EventTimePacing(10))

    assert producer.send_times() == pytest.approx([0, 0.1, 0.3, 0.35])
    assert stats.seconds == pytest.approx(0.35)


def test_max_speed_ignores_the_timeline(producer: TimedProducer, clock: FakeClock) -> None:
    stats = Publisher(producer, clock, batch_size=500).publish(
        events_at(0, 60, 3600), EventTimePacing(None)
    )

    assert clock.sleeps == []
    assert producer.batch_sizes() == [3]
    assert stats.seconds == 0


def test_timing_is_relative_to_the_first_event(producer: TimedProducer, clock: FakeClock) -> None:
    Publisher(producer, clock).publish(events_at(100, 102), EventTimePacing(2))

    assert producer.send_times() == pytest.approx([0, 1])


def test_an_event_older_than_the_first_goes_at_once(
    producer: TimedProducer, clock: FakeClock
) -> None:
    Publisher(producer, clock).publish(events_at(10, 12, 5, 14), EventTimePacing(1))

    assert producer.send_times() == pytest.approx([0, 2, 2, 4])


def test_events_close_together_share_a_batch(producer: TimedProducer, clock: FakeClock) -> None:
    offsets = [n * 0.001 for n in range(100)]  # 1 ms apart: 1000 events/s

    Publisher(producer, clock, batch_size=500, tick=0.01).publish(
        events_at(*offsets), EventTimePacing(1)
    )

    assert len(producer.flushes) <= math.ceil(0.1 / 0.01) + 1
    for offset, sent_at in zip(offsets, producer.send_times(), strict=True):
        assert sent_at >= offset - 1e-9
