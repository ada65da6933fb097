"""A batch of events parsed in one call: the same events, refusals and reasons as one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.synthetic import generate_rides, generate_uploads
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    MAX_RECORD_BYTES,
    EventTimeWindow,
    RideEvent,
    UploadEvent,
    parse_event,
    parse_events,
)
from tests.reliability.hostile import hostile_records

NOW = datetime.now(UTC)
RIDES = [labelled.event for labelled in generate_rides(3, 20)]
UPLOADS = [labelled.event for labelled in generate_uploads(3, 20)]
VALID = [event.to_bytes() for pair in zip(RIDES, UPLOADS, strict=True) for event in pair]


def one_by_one(
    raws: list[bytes], window: EventTimeWindow | None = None
) -> list[RideEvent | UploadEvent | InvalidEvent]:
    results: list[RideEvent | UploadEvent | InvalidEvent] = []
    for raw in raws:
        try:
            results.append(
                parse_event(raw, now=NOW)
                if window is None
                else parse_event(raw, window=window, now=NOW)
            )
        except InvalidEvent as exc:
            results.append(exc)
    return results


def assert_same(
    got: list[RideEvent | UploadEvent | InvalidEvent],
    want: list[RideEvent | UploadEvent | InvalidEvent],
) -> None:
    assert len(got) == len(want)
    for index, (one, other) in enumerate(zip(got, want, strict=True)):
        if isinstance(other, InvalidEvent):
            assert isinstance(one, InvalidEvent), f"record {index} accepted: {one!r}"
            assert one.reason == other.reason
        else:
            assert not isinstance(one, InvalidEvent), f"record {index} refused: {one.reason}"
            assert type(one) is type(other)
            assert one == other
            assert one.model_fields_set == other.model_fields_set


def test_a_valid_batch_parses_to_the_same_events() -> None:
    got = parse_events(VALID, now=NOW)

    assert_same(got, one_by_one(VALID))
    assert [event.event_id for event in got] == [  # type: ignore[union-attr]
        json.loads(raw)["event_id"] for raw in VALID
    ]


def test_every_hostile_record_among_valid_ones_is_refused_with_its_own_reason() -> None:
    hostile = [h.payload for h in hostile_records(RIDES[0], UPLOADS[0])]
    raws = [raw for pair in zip(VALID * 3, hostile, strict=False) for raw in pair]
    assert len(raws) == 2 * len(hostile)

    got = parse_events(raws, now=NOW)

    assert_same(got, one_by_one(raws))
    assert sum(isinstance(result, InvalidEvent) for result in got) >= len(hostile) - 4


def test_an_event_split_across_two_records_is_refused_in_both() -> None:
    """Joined with a comma, the two halves would make one valid event; parsed each on its own,
    neither is one."""
    fields = json.loads(VALID[0])
    whole = json.dumps(fields).encode()
    cut = whole.index(b', "VendorID"')
    head, tail = whole[:cut], whole[cut + 2 :]
    assert json.loads(b"[" + head + b"," + tail + b"]")  # the comma joins them

    got = parse_events([VALID[1], head, b"{" + tail, VALID[2]], now=NOW)

    assert [isinstance(result, InvalidEvent) for result in got] == [False, True, True, False]


def test_a_record_over_the_size_limit_is_refused_by_size() -> None:
    big = b" " * (MAX_RECORD_BYTES + 1)

    got = parse_events([VALID[0], big], now=NOW)

    assert isinstance(got[1], InvalidEvent)
    assert "byte limit" in got[1].reason
    assert isinstance(got[0], RideEvent | UploadEvent)


def test_the_event_time_window_applies_to_the_batch_as_to_each_event() -> None:
    narrow = EventTimeWindow(max_age_s=60, max_lead_s=60)
    times = [NOW - timedelta(hours=2), NOW, NOW + timedelta(hours=2), NOW - timedelta(seconds=30)]
    raws = [
        json.dumps({**json.loads(raw), "occurred_at": times[index % 4].isoformat()}).encode()
        for index, raw in enumerate(VALID)
    ]

    got = parse_events(raws, window=narrow, now=NOW)

    assert_same(got, one_by_one(raws, narrow))
    refused = [isinstance(result, InvalidEvent) for result in got]
    assert refused == [index % 4 in (0, 2) for index in range(len(raws))]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A valid event, one with a field dropped, replaced or added, a cut, or any bytes."""
    raw = draw(st.sampled_from(VALID))
    fields = json.loads(raw)
    kind = draw(st.sampled_from(["valid", "drop", "replace", "add", "cut", "bytes", "text"]))
    name = draw(st.sampled_from(sorted(fields)))
    if kind == "drop":
        del fields[name]
    elif kind == "replace":
        fields[name] = draw(json_values)
    elif kind == "add":
        fields[draw(st.text(max_size=8))] = draw(json_values)
    elif kind == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    elif kind == "bytes":
        return draw(st.binary(max_size=40))
    elif kind == "text":
        return json.dumps(draw(json_values)).encode()
    return json.dumps(fields).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(records(), max_size=20))
def test_any_batch_parses_exactly_as_its_records_do_one_by_one(raws: list[bytes]) -> None:
    assert_same(parse_events(raws, now=NOW), one_by_one(raws))
