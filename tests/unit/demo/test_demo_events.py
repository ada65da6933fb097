"""Specification of what the demo publishes: seeded events with a warm-up pair, malformed records
that every consumer must refuse, and ``occurred_at`` stamped as the events go out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamjury.clock import FakeClock
from streamjury.demo.events import (
    Malformed,
    Unstamped,
    demo_events,
    expected_dead_letters,
    stamped,
    unstamped,
)
from streamjury.errors import InvalidEvent
from streamjury.schemas import RideEvent, UploadEvent, parse_event
from streamjury.streams.names import StreamNames

START = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_count_rides_and_count_uploads_the_first_of_each_being_the_warm_up() -> None:
    events = demo_events(seed=3, count=50, bad=0, start=START)

    assert [type(e) for e in events.warmup] == [RideEvent, UploadEvent]
    assert sum(isinstance(e, RideEvent) for e in events.valid) == 50
    assert sum(isinstance(e, UploadEvent) for e in events.valid) == 50
    assert len({e.event_id for e in events.valid}) == 100
    timed_ids = {item.event_id for item in events.timed if not isinstance(item, Malformed)}
    assert not {e.event_id for e in events.warmup} & timed_ids


def test_the_same_seed_gives_the_same_events() -> None:
    first = demo_events(seed=3, count=20, bad=2, start=START)

    assert demo_events(seed=3, count=20, bad=2, start=START) == first
    assert demo_events(seed=4, count=20, bad=2, start=START) != first


def test_malformed_records_are_spread_through_the_run_not_bunched() -> None:
    events = demo_events(seed=0, count=501, bad=5, start=START)
    positions = [n for n, item in enumerate(events.timed) if isinstance(item, Malformed)]

    slice_size = len(events.timed) / 5
    assert [int(p // slice_size) for p in positions] == [0, 1, 2, 3, 4]


def test_every_malformed_record_is_unique_and_refused_by_the_event_schema() -> None:
    malformed = demo_events(seed=0, count=10, bad=12, start=START).malformed

    assert len(malformed) == 12
    assert len({m.payload for m in malformed}) == 12
    assert {m.stream for m in malformed} == {"rides", "uploads"}
    for record in malformed:
        with pytest.raises(InvalidEvent):
            parse_event(record.payload)


def test_unpaced_events_are_stamped_when_drawn() -> None:
    clock = FakeClock(START)
    events = demo_events(seed=0, count=3, bad=1, start=START - timedelta(days=1)).timed
    drawn_at = []
    outgoing = []
    for item in stamped(events, StreamNames("p-"), clock):
        drawn_at.append(clock.now())
        outgoing.append(item)
        clock.advance(0.25)

    for when, item in zip(drawn_at, outgoing, strict=True):
        if item.record.key.startswith("malformed"):
            assert item.occurred_at is None
            continue
        event = parse_event(item.record.value)
        assert event.occurred_at == when == item.occurred_at
        assert item.stream == f"p-{event.event_type}s"


def test_paced_events_are_stamped_at_their_slot_never_before_now() -> None:
    clock = FakeClock(START)
    events = demo_events(seed=0, count=4, bad=0, start=START).timed
    items = stamped(events, StreamNames(), clock, rate=10.0, origin=START)

    on_time = [next(items), next(items)]
    clock.advance(1.0)  # the publisher fell behind
    late = next(items)

    assert [item.occurred_at for item in on_time] == [START, START + timedelta(seconds=0.1)]
    assert late.occurred_at == START + timedelta(seconds=1)
    assert parse_event(late.record.value).occurred_at == late.occurred_at


SAMPLE = demo_events(seed=5, count=40, bad=0, start=START).valid


@given(
    index=st.integers(0, len(SAMPLE) - 1),
    when=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_an_unstamped_event_stamps_to_exactly_the_models_bytes(index: int, when: datetime) -> None:
    event = SAMPLE[index]

    stamped_bytes = Unstamped.of(event).to_bytes(when)

    assert stamped_bytes == event.model_copy(update={"occurred_at": when}).to_bytes()


def test_events_serialised_ahead_are_published_as_the_events_themselves() -> None:
    events = demo_events(seed=0, count=5, bad=2, start=START).timed
    names = StreamNames("p-")

    ahead = list(stamped(unstamped(events), names, FakeClock(START)))
    directly = list(stamped(events, names, FakeClock(START)))

    assert ahead == directly
    assert sum(isinstance(item, Malformed) for item in unstamped(events)) == 2


def test_each_reader_of_a_stream_must_dead_letter_its_malformed_records() -> None:
    malformed = [Malformed("rides", "m-0", b"a"), Malformed("uploads", "m-1", b"b")]
    readers = {"rides": ["duration", "tip"], "uploads": ["nsfw"]}

    assert expected_dead_letters(malformed, readers) == [
        ("consumer:duration", b"a"),
        ("consumer:tip", b"a"),
        ("consumer:nsfw", b"b"),
    ]
