"""The verdict fast path: pinned to the pydantic it was verified on, equal to full validation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers import verdict_fastpath
from consumers.batch import process_batch
from consumers.check import CheckSpec, Prediction
from consumers.outcomes import RecordOutcome
from consumers.verdict_fastpath import (
    VERIFIED_ON,
    installed_versions,
    trusted_verdicts,
    unverified,
)
from streamjury.schemas import RideEvent, UploadEvent, Verdict, parse_event
from streamjury.streams.base import Record
from tests.unit.consumers.doubles import MinutesPerMileModel, RecordFactory, RideFactory

PRODUCED_AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
RIDE: dict[str, Any] = {
    "schema_version": 1,
    "event_type": "ride",
    "VendorID": 2,
    "pickup_datetime": "2026-01-15T08:30:00Z",
    "PULocationID": 132,
    "DOLocationID": 236,
    "trip_distance": 17.4,
    "passenger_count": 1,
    "payment_type": 1,
    "fare_amount": 70.0,
}
UPLOAD: dict[str, Any] = {
    "schema_version": 1,
    "event_type": "upload",
    "uploader_id": "u1",
    "title": "a title",
    "description": "",
    "tags": [],
    "duration_seconds": 12.5,
    "content_fingerprint": "0123456789abcdef",
    "uploader_account_age_days": 3,
    "uploader_prior_strikes": 0,
}


# -- the pin -----------------------------------------------------------------------------------


def test_the_installed_pydantic_is_one_the_fast_path_was_verified_on() -> None:
    outside = unverified(installed_versions())

    assert outside == [], (
        f"{', '.join(outside)} is outside the range the verdict fast path was verified on "
        f"({VERIFIED_ON}); it writes pydantic's private slots. Run this file's property tests "
        "against the new version, then widen VERIFIED_ON in consumers/verdict_fastpath.py."
    )


@pytest.mark.parametrize(
    "versions",
    [
        {"pydantic": "2.15.0", "pydantic-core": "2.50.5"},
        {"pydantic": "2.12.9", "pydantic-core": "2.50.5"},
        {"pydantic": "3.0.0", "pydantic-core": "2.50.5"},
        {"pydantic": "2.14.4", "pydantic-core": "2.51.0"},
        {"pydantic": "2.14.4"},
        {"pydantic": "not a version", "pydantic-core": "2.50.5"},
    ],
)
def test_a_version_outside_the_verified_range_is_named(versions: dict[str, str]) -> None:
    assert len(unverified(versions)) == 1


def test_a_version_inside_the_verified_range_passes() -> None:
    (low_pydantic, _), (low_core, _) = VERIFIED_ON["pydantic"], VERIFIED_ON["pydantic-core"]
    versions = {
        "pydantic": f"{low_pydantic[0]}.{low_pydantic[1]}.7",
        "pydantic-core": f"{low_core[0]}.{low_core[1]}.0rc1",
    }

    assert unverified(versions) == []


@pytest.mark.parametrize(
    "switch",
    ["ENABLED", "ENCODABLE"],
    ids=["pydantic not verified", "schemas changed under the byte template"],
)
def test_with_the_fast_path_off_a_batch_gets_the_same_verdicts_and_bytes(
    monkeypatch: pytest.MonkeyPatch,
    switch: str,
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    records = [make_record(make_ride(event_id=f"r{i}"), offset=i) for i in range(20)]
    fast = process_batch(spec, model, records, stage="s", now=lambda: PRODUCED_AT)
    monkeypatch.setattr(verdict_fastpath, switch, False)

    slow = process_batch(spec, model, records, stage="s", now=lambda: PRODUCED_AT)

    assert [outcome.encoded for outcome in slow.outcomes] == [None] * 20
    assert [v.to_bytes() for v in slow.verdicts] == [v.to_bytes() for v in fast.verdicts]
    written = [record.value for record in slow.output_records().verdicts]
    assert written == [record.value for record in fast.output_records().verdicts]
    assert len(fast.verdicts) == 20


# -- outcomes ----------------------------------------------------------------------------------


def test_a_deferred_outcome_equals_one_built_from_its_verdict(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    records = [make_record(make_ride(event_id=f"r{i}"), offset=i) for i in range(12)]
    outcomes = process_batch(spec, model, records, stage="s", now=lambda: PRODUCED_AT).outcomes
    outcome = outcomes[5]
    assert outcome.encoded is not None  # the fast path's outcome

    assert outcome.is_verdict
    assert outcome.verdict_key == "r5"
    assert outcome.event_occurred_at == parse_event(records[5].value).occurred_at
    verdict = outcome.verdict
    assert verdict is not None
    assert outcome.verdict is verdict  # built once
    assert outcome == RecordOutcome(records[5], verdict=verdict)
    assert outcome.dead_letter is None
    with pytest.raises(AttributeError):
        outcome.verdict = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        outcome.encoded = None  # type: ignore[misc]


# -- equal to full validation, for generated batches -------------------------------------------


def fields_of(
    event: RideEvent | UploadEvent,
    prediction: Prediction,
    record: Record,
    model_version: str = "v1",
) -> dict[str, Any]:
    """Every Verdict field, as the fully validated path hands them to ``model_validate``."""
    return {
        "schema_version": 1,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "check": "minutes",
        "model_name": "scripted",
        "model_version": model_version,
        "score": prediction.score,
        "value": prediction.value,
        "label": prediction.label,
        "details": prediction.details,
        "event_occurred_at": event.occurred_at,
        "produced_at": PRODUCED_AT,
        "source": {"stream": record.stream, "partition": record.partition, "offset": record.offset},
    }


def validated(fields: dict[str, Any]) -> Verdict | None:
    try:
        return Verdict.model_validate(fields)
    except ValidationError:
        return None


def assert_identical(got: Verdict, want: Verdict) -> None:
    assert got == want
    assert got.to_bytes() == want.to_bytes()
    assert got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set
    assert got.source.model_fields_set == want.source.model_fields_set
    assert [type(v) for v in got.__dict__.values()] == [type(v) for v in want.__dict__.values()]
    assert {k: type(v) for k, v in got.details.items()} == {
        k: type(v) for k, v in want.details.items()
    }
    assert got.__pydantic_extra__ == want.__pydantic_extra__
    assert got.__pydantic_private__ == want.__pydantic_private__
    with pytest.raises(ValidationError, match="frozen"):
        got.value = 1.0  # type: ignore[misc]


event_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
occurred = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(ZONES)
)


@st.composite
def events(draw: st.DrawFn) -> RideEvent | UploadEvent:
    base = draw(st.sampled_from([RIDE, UPLOAD]))
    at = draw(occurred)
    fields = {**base, "event_id": draw(event_ids), "occurred_at": at.isoformat()}
    # as the consumer reads every event; the event time window is anchored at the event itself
    return parse_event(json.dumps(fields).encode(), now=at)


finite = st.floats(allow_nan=False, allow_infinity=False)
valid_details = st.dictionaries(
    st.text(max_size=12),
    st.one_of(st.none(), st.booleans(), st.integers(), finite, st.text(max_size=20)),
    max_size=16,
)
valid_predictions = st.builds(
    Prediction,
    score=st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0, 1])),
    value=st.one_of(st.none(), finite, st.integers(-(10**15), 10**15)),
    label=st.one_of(st.none(), st.text(max_size=128)),
    details=valid_details,
)
any_predictions = st.builds(
    Prediction,
    score=st.one_of(st.none(), st.floats(), st.integers(-2, 3), st.booleans(), st.just("0.5")),
    value=st.one_of(st.none(), st.floats(), st.integers(), st.booleans(), st.just("1")),
    label=st.one_of(st.none(), st.text(max_size=140), st.integers()),
    details=st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.integers())),
        max_size=18,
    ),
)


def records(valid: bool) -> st.SearchStrategy[Record]:
    """Records at valid positions, or (``valid=False``) often at positions a schema refuses."""
    streams = st.sampled_from(["rides", "uploads", "s" * 255])
    partitions = st.one_of(st.text(max_size=8), st.just("p" * 128))
    offsets = st.integers(0, 2**190)
    if not valid:
        streams = st.one_of(streams, st.just("s" * 256))
        partitions = st.one_of(partitions, st.just("p" * 129))
        offsets = st.one_of(offsets, st.integers(-3, -1))
    return st.builds(
        Record,
        stream=streams,
        partition=partitions,
        offset=offsets,
        key=st.just("k"),
        value=st.just(b""),
        timestamp_ms=st.just(0),
    )


def batches(
    predictions: st.SearchStrategy[Prediction], valid: bool, min_size: int = 1
) -> st.SearchStrategy[list[tuple[RideEvent | UploadEvent, Prediction, Record]]]:
    items = st.tuples(events(), predictions, records(valid))
    return st.lists(items, min_size=min_size, max_size=24)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(batch=batches(valid_predictions, valid=True))
def test_valid_batches_get_exactly_the_verdicts_full_validation_makes(
    batch: list[tuple[RideEvent | UploadEvent, Prediction, Record]],
) -> None:
    wanted = [validated(fields_of(*item)) for item in batch]
    assert all(want is not None for want in wanted)  # the strategy only makes valid batches
    events_, predictions, records_ = (list(column) for column in zip(*batch, strict=True))

    got = trusted_verdicts(fields_of(*batch[0]), events_, predictions, records_)

    assert got is not None
    assert len(got.verdicts) == len(wanted)
    for verdict, want in zip(got.verdicts, wanted, strict=True):
        assert want is not None
        assert_identical(verdict, want)
    assert got.encoded == [want.to_bytes() for want in wanted if want is not None]


@PROPERTY
@given(
    batch=batches(valid_predictions, valid=True, min_size=2),
    data=st.data(),
    prediction=any_predictions,
    record=records(valid=False),
    replace=st.sampled_from(["prediction", "record", "both"]),
    model_version=st.sampled_from(["v1", "v1", "v" * 129]),
)
def test_the_fast_path_declines_exactly_when_full_validation_refuses_a_verdict(
    batch: list[tuple[RideEvent | UploadEvent, Prediction, Record]],
    data: st.DataObject,
    prediction: Prediction,
    record: Record,
    replace: str,
    model_version: str,
) -> None:
    """A valid batch with one item's prediction and/or position replaced by arbitrary ones."""
    index = data.draw(st.sampled_from(range(len(batch))), label="poisoned position")
    event, valid_prediction, valid_record = batch[index]
    batch[index] = (
        event,
        valid_prediction if replace == "record" else prediction,
        valid_record if replace == "prediction" else record,
    )
    wanted = [validated(fields_of(*item, model_version=model_version)) for item in batch]
    events_, predictions, records_ = (list(column) for column in zip(*batch, strict=True))

    got = trusted_verdicts(
        fields_of(*batch[0], model_version=model_version), events_, predictions, records_
    )

    if any(want is None for want in wanted):
        assert got is None
    else:
        assert got is not None
        for verdict, want in zip(got.verdicts, wanted, strict=True):
            assert want is not None
            assert_identical(verdict, want)
        assert got.encoded == [want.to_bytes() for want in wanted if want is not None]


def test_a_nan_anywhere_makes_the_fast_path_decline(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    event = parse_event(json.dumps(make_ride()).encode())
    record = make_record(b"")
    predictions = [Prediction(value=1.0)] * 9 + [Prediction(value=math.nan)]

    got = trusted_verdicts(
        fields_of(event, predictions[0], record), [event] * 10, predictions, [record] * 10
    )

    assert got is None
