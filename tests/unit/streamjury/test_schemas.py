"""Specification of the wire schemas: what is accepted, and the readable reason for what is not."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    MAX_RECORD_BYTES,
    DeadLetter,
    Decision,
    EventTimeWindow,
    RideEvent,
    SourcePosition,
    UploadEvent,
    Verdict,
    parse_event,
    parse_model,
)

WHEN = "2026-01-15T08:30:00Z"


def ride(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "ride-1",
        "event_type": "ride",
        "occurred_at": WHEN,
        "VendorID": 2,
        "pickup_datetime": WHEN,
        "PULocationID": 132,
        "DOLocationID": 236,
        "trip_distance": 17.4,
        "passenger_count": 1,
        "payment_type": 1,
        "fare_amount": 70.0,
    }
    base.update(changes)
    return base


def upload(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "upload-1",
        "event_type": "upload",
        "occurred_at": WHEN,
        "uploader_id": "user-9",
        "title": "My cat plays piano",
        "description": "Recorded at home",
        "tags": ["cats", "music"],
        "duration_seconds": 63.5,
        "content_fingerprint": "00ff00ff00ff00ff",
        "uploader_account_age_days": 400,
        "uploader_prior_strikes": 0,
    }
    base.update(changes)
    return base


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def reason_for(data: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(encode(data))
    return caught.value.reason


def test_valid_ride_parses_to_ride_event() -> None:
    event = parse_event(encode(ride()))
    assert isinstance(event, RideEvent)
    assert event.occurred_at == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def test_valid_upload_parses_to_upload_event() -> None:
    event = parse_event(encode(upload()))
    assert isinstance(event, UploadEvent)
    assert event.tags == ["cats", "music"]


def test_event_round_trips_through_its_own_bytes() -> None:
    event = parse_event(encode(upload()))
    assert parse_event(event.to_bytes()) == event


def test_integer_is_accepted_where_a_float_is_expected() -> None:
    event = parse_event(encode(ride(trip_distance=3)))
    assert isinstance(event, RideEvent)
    assert event.trip_distance == 3.0


def test_string_number_is_refused_with_the_field_named() -> None:
    assert "trip_distance" in reason_for(ride(trip_distance="3.0"))


def test_missing_field_is_refused_with_the_field_named() -> None:
    data = ride()
    del data["fare_amount"]
    assert "fare_amount" in reason_for(data)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    raw = json.dumps(ride(fare_amount=value)).encode()  # json emits NaN/Infinity literals
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert "fare_amount" in caught.value.reason


@pytest.mark.parametrize("location", [0, 266, -1])
def test_out_of_range_location_id_is_refused(location: int) -> None:
    assert "PULocationID" in reason_for(ride(PULocationID=location))


def test_unknown_event_type_is_refused() -> None:
    assert "boat" in reason_for(ride(event_type="boat"))


def test_unknown_field_is_refused() -> None:
    assert "surge" in reason_for(ride(surge=1.5))


def test_future_schema_version_is_refused() -> None:
    assert "schema_version" in reason_for(ride(schema_version=2))


@pytest.mark.parametrize("version", [1.0, True, "1", None])
def test_schema_version_must_be_the_integer_one(version: object) -> None:
    assert "schema_version" in reason_for(ride(schema_version=version))


def test_missing_schema_version_is_refused_on_the_wire() -> None:
    record = ride()
    del record["schema_version"]
    assert "schema_version: Field required" in reason_for(record)


def test_missing_schema_version_of_a_verdict_is_refused_on_the_wire() -> None:
    verdict = {
        "event_id": "upload-1",
        "event_type": "upload",
        "check": "nsfw",
        "model_name": "nsfw",
        "model_version": "v1",
        "score": 0.5,
        "event_occurred_at": WHEN,
        "produced_at": WHEN,
        "source": {"stream": "uploads", "partition": "0", "offset": 1},
    }
    assert parse_model(Verdict, json.dumps(verdict | {"schema_version": 1}).encode())
    with pytest.raises(InvalidEvent, match="schema_version"):
        parse_model(Verdict, json.dumps(verdict).encode())


def test_code_may_still_rely_on_the_default_schema_version() -> None:
    now = datetime.now(UTC)
    fields = ride(occurred_at=now, pickup_datetime=now)
    del fields["schema_version"]
    assert RideEvent.model_validate(fields).schema_version == 1


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_event_time_far_from_now_is_refused_with_the_reason(when: str) -> None:
    assert "occurred_at" in reason_for(ride(occurred_at=when))


def test_event_time_window_is_configurable() -> None:
    now = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    raw = json.dumps(ride()).encode()  # occurred 30 minutes before now
    assert parse_event(raw, now=now).event_id == "ride-1"
    with pytest.raises(InvalidEvent, match="more than 600s before now"):
        parse_event(raw, window=EventTimeWindow(max_age_s=600), now=now)
    with pytest.raises(InvalidEvent, match="after now"):
        parse_event(raw, window=EventTimeWindow(max_lead_s=60), now=now - timedelta(hours=1))


def test_naive_timestamp_is_refused() -> None:
    assert "occurred_at" in reason_for(ride(occurred_at="2026-01-15T08:30:00"))


def test_oversized_title_is_refused() -> None:
    assert "title" in reason_for(upload(title="x" * 201))


def test_too_many_tags_are_refused() -> None:
    assert "tags" in reason_for(upload(tags=[f"t{i}" for i in range(31)]))


@pytest.mark.parametrize("fingerprint", ["00ff", "00FF00FF00FF00FF", "zzzzzzzzzzzzzzzz"])
def test_fingerprint_must_be_16_lowercase_hex_chars(fingerprint: str) -> None:
    assert "content_fingerprint" in reason_for(upload(content_fingerprint=fingerprint))


def test_event_id_with_unsafe_characters_is_refused() -> None:
    assert "event_id" in reason_for(ride(event_id="a b/c"))


def test_record_over_the_size_limit_is_refused_before_parsing() -> None:
    raw = b'{"pad": "' + b"x" * MAX_RECORD_BYTES + b'"}'
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert "byte limit" in caught.value.reason


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[]", b"null", b"\xff\xfe"])
def test_garbage_bytes_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.reason


def test_reason_lists_several_problems_on_one_line() -> None:
    reason = reason_for(ride(trip_distance=-1, passenger_count=12))
    assert "trip_distance" in reason
    assert "passenger_count" in reason
    assert "\n" not in reason


def test_dead_letter_keeps_the_original_bytes_exactly() -> None:
    original = b"\x00\xffnot an event\n"
    letter = DeadLetter.of(
        original,
        "bad",
        "consumer:duration",
        SourcePosition(stream="rides", partition="0", offset=7),
    )
    decoded = parse_model(DeadLetter, letter.to_bytes())
    assert decoded.original == original
    assert decoded.source is not None
    assert str(decoded.source) == "rides/0@7"


def test_dead_letter_refuses_a_payload_that_is_not_base64() -> None:
    data = json.loads(DeadLetter.of(b"x", "bad", "stage").to_bytes())
    data["original_b64"] = "not base64!"
    with pytest.raises(InvalidEvent):
        parse_model(DeadLetter, json.dumps(data).encode())


def test_verdict_score_must_be_a_probability() -> None:
    verdict = {
        "event_id": "upload-1",
        "event_type": "upload",
        "check": "nsfw",
        "model_name": "nsfw",
        "model_version": "v1",
        "score": 1.5,
        "event_occurred_at": WHEN,
        "produced_at": WHEN,
        "source": {"stream": "uploads", "partition": "0", "offset": 1},
    }
    with pytest.raises(InvalidEvent) as caught:
        parse_model(Verdict, json.dumps(verdict).encode())
    assert "score" in caught.value.reason


def test_decision_revision_starts_at_one_and_cannot_be_zero() -> None:
    decision = {
        "event_id": "upload-1",
        "event_type": "upload",
        "outcome": "approve",
        "revision": 0,
        "event_occurred_at": WHEN,
        "decided_at": WHEN,
    }
    with pytest.raises(InvalidEvent) as caught:
        parse_model(Decision, json.dumps(decision).encode())
    assert "revision" in caught.value.reason


def test_decision_outcome_must_be_a_known_one() -> None:
    decision = {
        "event_id": "upload-1",
        "event_type": "upload",
        "outcome": "maybe",
        "event_occurred_at": WHEN,
        "decided_at": WHEN,
    }
    with pytest.raises(InvalidEvent):
        parse_model(Decision, json.dumps(decision).encode())


def test_base64_helper_matches_standard_encoding() -> None:
    letter = DeadLetter.of(b"abc", "r", "s")
    assert letter.original_b64 == base64.b64encode(b"abc").decode()


def test_dead_letter_keeps_a_large_original_whole() -> None:
    original = b"x" * (MAX_RECORD_BYTES * 4)
    letter = parse_model(DeadLetter, DeadLetter.of(original, "too big", "consumer:tip").to_bytes())
    assert letter.original == original
    assert not letter.original_truncated


def test_verdict_details_are_bounded() -> None:
    verdict = {
        "event_id": "upload-1",
        "event_type": "upload",
        "check": "nsfw",
        "model_name": "nsfw",
        "model_version": "v1",
        "details": {f"k{i}": i for i in range(17)},
        "event_occurred_at": WHEN,
        "produced_at": WHEN,
        "source": {"stream": "uploads", "partition": "0", "offset": 1},
    }
    with pytest.raises(InvalidEvent) as caught:
        parse_model(Verdict, json.dumps(verdict).encode())
    assert "details" in caught.value.reason


@pytest.mark.parametrize("size", [0, 10, 700_000, 900_000, 3_000_000])
def test_a_dead_letter_always_fits_its_sink(size: int) -> None:
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    limit = 1_000_000 - 4_096

    letter = DeadLetter.of(original, "r" * 5_000, "consumer:duration", max_bytes=limit)

    assert len(letter.to_bytes()) <= limit
    assert letter.original_length == size
    assert letter.original_sha256 == hashlib.sha256(original).hexdigest()
    assert letter.original_truncated == (len(letter.original) < size)
    assert original.startswith(letter.original)


def test_a_dead_letter_keeps_the_original_whole_when_it_fits() -> None:
    letter = DeadLetter.of(b"x" * 600_000, "too large", "consumer:tip", max_bytes=1_000_000)
    assert letter.original == b"x" * 600_000
    assert not letter.original_truncated


def test_a_dead_letter_without_the_new_fields_still_parses() -> None:
    old = {
        "schema_version": 1,
        "original_b64": base64.b64encode(b"x").decode(),
        "reason": "r",
        "stage": "s",
        "failed_at": WHEN,
    }
    assert parse_model(DeadLetter, json.dumps(old).encode()).original_length is None
