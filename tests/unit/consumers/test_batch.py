"""Specification of process_batch: every record becomes exactly one verdict or one dead letter."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import get_args

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from consumers.batch import MODEL_ERROR, process_batch
from consumers.check import CheckModel, CheckSpec, Prediction
from streamjury.schemas import (
    MAX_RECORD_BYTES,
    RideEvent,
    SourcePosition,
    UploadEvent,
    Verdict,
    describe_validation_error,
    parse_event,
)
from streamjury.streams.base import Record
from tests.unit.consumers.doubles import (
    RIDES,
    MinutesPerMileModel,
    RecordFactory,
    RideFactory,
    ride_check,
)

STAGE = "consumer:minutes"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def fixed_now() -> datetime:
    return NOW


def upload_event() -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": "upload-1",
        "event_type": "upload",
        "occurred_at": "2026-01-15T08:30:00Z",
        "uploader_id": "user-9",
        "title": "My cat plays piano",
        "description": "Recorded at home",
        "tags": ["cats"],
        "duration_seconds": 63.5,
        "content_fingerprint": "00ff00ff00ff00ff",
        "uploader_account_age_days": 400,
        "uploader_prior_strikes": 0,
    }


def test_every_valid_event_gets_exactly_one_verdict_in_input_order(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(5)]

    result = process_batch(spec, model, records, stage=STAGE)

    assert [v.event_id for v in result.verdicts] == [f"ride-{i}" for i in range(5)]
    assert result.dead_letters == []


def test_the_whole_batch_is_scored_in_one_predict_call(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(50)]

    process_batch(spec, model, records, stage=STAGE)

    assert model.calls == [50]


def test_a_verdict_is_stamped_with_check_model_times_and_source(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    record = make_record(make_ride(event_id="ride-7", trip_distance=2.0), offset=41)

    (verdict,) = process_batch(spec, model, [record], stage=STAGE, now=fixed_now).verdicts

    assert verdict.event_id == "ride-7"
    assert verdict.event_type == "ride"
    assert verdict.check == "minutes"
    assert (verdict.model_name, verdict.model_version) == ("minutes-per-mile", "test-1")
    assert verdict.value == 6.0
    assert verdict.details == {"fare_per_mile": 35.0}
    assert verdict.event_occurred_at == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    assert verdict.produced_at == NOW
    assert verdict.source == SourcePosition(stream="rides", partition="0", offset=41)


BAD_RECORDS: dict[str, bytes] = {
    "bad JSON": b'{"event_id": "ride-1", ',
    "empty record": b"",
    "JSON that is not an object": b'["ride"]',
    "non-UTF-8 bytes": b'{"event_id": "\xff\xfe"}',
    "unknown event type": json.dumps({"event_type": "scooter", "event_id": "s-1"}).encode(),
    "wrong event type for the check": json.dumps(upload_event()).encode(),
}


def ride_bytes(**changes: object) -> bytes:
    ride: dict[str, object] = {
        "schema_version": 1,
        "event_id": "ride-1",
        "event_type": "ride",
        "occurred_at": "2026-01-15T08:30:00Z",
        "VendorID": 2,
        "pickup_datetime": "2026-01-15T08:30:00Z",
        "PULocationID": 132,
        "DOLocationID": 236,
        "trip_distance": 17.4,
        "passenger_count": 1,
        "payment_type": 1,
        "fare_amount": 70.0,
    }
    ride.update(changes)
    return json.dumps(ride).encode()


def without(field: str) -> bytes:
    ride = json.loads(ride_bytes())
    del ride[field]
    return json.dumps(ride).encode()


BAD_RIDES: dict[str, bytes] = {
    "wrong type: distance as a string": ride_bytes(trip_distance="17.4"),
    "wrong type: zone as a float": ride_bytes(PULocationID=132.0),
    "NaN distance": ride_bytes().replace(b"17.4", b"NaN"),
    "infinite fare": ride_bytes().replace(b"70.0", b"Infinity"),
    "missing field": without("fare_amount"),
    "unknown extra field": ride_bytes(surge=2.5),
    "naive timestamp": ride_bytes(occurred_at="2026-01-15T08:30:00"),
    "out-of-range zone": ride_bytes(DOLocationID=999),
    "long string": ride_bytes(event_id="r" * 500),
}
ALL_BAD = {**BAD_RECORDS, **BAD_RIDES}


@pytest.mark.parametrize("raw", [pytest.param(raw, id=name) for name, raw in ALL_BAD.items()])
def test_a_bad_record_becomes_a_dead_letter_keeping_its_original_bytes(
    spec: CheckSpec, model: MinutesPerMileModel, make_record: RecordFactory, raw: bytes
) -> None:
    record = make_record(raw, offset=9)

    result = process_batch(spec, model, [record], stage=STAGE)

    assert result.verdicts == []
    (letter,) = result.dead_letters
    assert letter.original == raw
    assert letter.stage == STAGE
    assert letter.source == SourcePosition(stream="rides", partition="0", offset=9)
    assert letter.reason
    assert not letter.reason.startswith(MODEL_ERROR)


def test_an_oversized_record_is_dead_lettered_whole(
    spec: CheckSpec, model: MinutesPerMileModel, make_record: RecordFactory
) -> None:
    raw = ride_bytes(event_id="r" * (MAX_RECORD_BYTES + 1))

    (letter,) = process_batch(spec, model, [make_record(raw)], stage=STAGE).dead_letters

    assert "byte limit" in letter.reason
    assert letter.original == raw


def test_an_upload_on_the_rides_stream_is_dead_lettered_with_a_readable_reason(
    spec: CheckSpec, model: MinutesPerMileModel, make_record: RecordFactory
) -> None:
    record = make_record(BAD_RECORDS["wrong event type for the check"])

    (letter,) = process_batch(spec, model, [record], stage=STAGE).dead_letters

    assert "reads ride events, got upload" in letter.reason


def test_bad_records_leave_their_valid_neighbours_alone(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    values = [
        json.dumps(make_ride(event_id="ride-a")).encode(),
        BAD_RECORDS["bad JSON"],
        json.dumps(make_ride(event_id="ride-b")).encode(),
        BAD_RIDES["NaN distance"],
    ]
    records = [make_record(value, offset=i) for i, value in enumerate(values)]

    result = process_batch(spec, model, records, stage=STAGE)

    assert [o.record.offset for o in result.outcomes] == [0, 1, 2, 3]
    assert [o.verdict is not None for o in result.outcomes] == [True, False, True, False]
    assert [v.event_id for v in result.verdicts] == ["ride-a", "ride-b"]
    assert [d.original for d in result.dead_letters] == [values[1], values[3]]
    assert model.calls == [2]


def test_an_event_the_model_fails_on_is_dead_lettered_alone(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    rides = [make_ride(event_id=f"ride-{i}") for i in range(20)]
    rides[13] = make_ride(event_id="ride-13", trip_distance=0.0)
    records = [make_record(ride, offset=i) for i, ride in enumerate(rides)]

    result = process_batch(spec, model, records, stage=STAGE)

    assert [v.event_id for v in result.verdicts] == [f"ride-{i}" for i in range(20) if i != 13]
    (letter,) = result.dead_letters
    assert letter.original == records[13].value
    assert letter.source is not None
    assert letter.source.offset == 13
    assert letter.reason.startswith(f"{MODEL_ERROR}: ZeroDivisionError")


def test_several_poison_events_are_each_isolated(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    poison = {0, 7, 8, 31}
    rides = [
        make_ride(event_id=f"ride-{i}", trip_distance=0.0 if i in poison else 1.5)
        for i in range(32)
    ]
    records = [make_record(ride, offset=i) for i, ride in enumerate(rides)]

    result = process_batch(spec, model, records, stage=STAGE)

    assert len(result.verdicts) == 32 - len(poison)
    assert {d.source.offset for d in result.dead_letters if d.source} == poison
    assert [o.record.offset for o in result.outcomes] == list(range(32))


class OutOfRangeScoreModel:
    """Returns a 'probability' of 1.5 for long rides: a model bug the Verdict schema catches."""

    name = "broken-score"
    version = "test-1"

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        return [
            Prediction(score=1.5 if isinstance(e, RideEvent) and e.trip_distance > 10 else 0.5)
            for e in events
        ]


def test_a_prediction_the_verdict_schema_refuses_is_dead_lettered_as_a_model_error(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    model = OutOfRangeScoreModel()
    records = [
        make_record(make_ride(event_id="short", trip_distance=2.0), offset=0),
        make_record(make_ride(event_id="long", trip_distance=20.0), offset=1),
    ]

    result = process_batch(ride_check(model), model, records, stage=STAGE)

    assert [v.event_id for v in result.verdicts] == ["short"]
    (letter,) = result.dead_letters
    assert letter.reason.startswith(f"{MODEL_ERROR}: invalid prediction: score")


class ForgetfulModel:
    """Breaks the contract: returns one prediction too few, which must never be mis-paired."""

    name = "forgetful"
    version = "test-1"

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        return [Prediction(value=1.0) for _ in events[1:]]


def test_a_model_returning_the_wrong_number_of_predictions_produces_no_verdicts(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    model = ForgetfulModel()
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(3)]

    result = process_batch(ride_check(model), model, records, stage=STAGE)

    assert result.verdicts == []
    assert len(result.dead_letters) == 3
    reasons = [d.reason for d in result.dead_letters]
    assert all("predict returned 0 predictions for 1 events" in reason for reason in reasons)


def test_an_empty_batch_produces_nothing_and_skips_the_model(
    spec: CheckSpec, model: MinutesPerMileModel
) -> None:
    result = process_batch(spec, model, [], stage=STAGE)

    assert result.outcomes == []
    assert model.calls == []


# -- verdicts are built without validating each one: same verdicts, same refusals ----------------


class ScriptedModel:
    """Returns the prediction scripted for each event id, a default one for any other."""

    name = "scripted"
    version = "test-1"

    def __init__(self, scripted: dict[str, Prediction], default: Prediction) -> None:
        self.scripted = scripted
        self.default = default

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        return [self.scripted.get(event.event_id, self.default) for event in events]


def oracle(
    record: Record, prediction: Prediction, spec: CheckSpec, model: CheckModel
) -> Verdict | str:
    """What validating the whole verdict, field by field, makes of one prediction."""
    event = parse_event(record.value)
    fields = {
        "schema_version": 1,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "check": spec.name,
        "model_name": model.name,
        "model_version": model.version,
        "score": prediction.score,
        "value": prediction.value,
        "label": prediction.label,
        "details": prediction.details,
        "event_occurred_at": event.occurred_at,
        "produced_at": NOW,
        "source": {"stream": record.stream, "partition": record.partition, "offset": record.offset},
    }
    try:
        return Verdict.model_validate(fields)
    except ValidationError as exc:
        return describe_validation_error(exc)


def assert_same_verdict(got: Verdict, want: Verdict) -> None:
    assert got == want
    assert got.to_bytes() == want.to_bytes()
    assert got.model_dump() == want.model_dump()
    assert got.source == want.source
    assert got.model_fields_set == want.model_fields_set
    assert got.source.model_fields_set == want.source.model_fields_set
    assert type(got.value) is type(want.value)
    assert type(got.score) is type(want.score)


def test_verdicts_of_a_whole_batch_equal_verdicts_validated_one_by_one(
    spec: CheckSpec,
    model: MinutesPerMileModel,
    make_ride: RideFactory,
    make_record: RecordFactory,
) -> None:
    rides = [
        make_ride(
            event_id=f"ride-{i}",
            trip_distance=0.5 + i,
            occurred_at=f"2026-01-15T08:{i:02d}:00+0{i % 3}:00",
        )
        for i in range(40)
    ]
    records = [make_record(ride, offset=1_000 + i) for i, ride in enumerate(rides)]

    result = process_batch(spec, model, records, stage=STAGE, now=fixed_now)

    predictions = model.predict([parse_event(r.value) for r in records])
    assert len(result.verdicts) == 40
    for record, prediction, verdict in zip(records, predictions, result.verdicts, strict=True):
        want = oracle(record, prediction, spec, model)
        assert isinstance(want, Verdict)
        assert_same_verdict(verdict, want)
        with pytest.raises(ValidationError, match="frozen"):
            verdict.value = 1.0  # type: ignore[misc]


BAD_PREDICTIONS: dict[str, Prediction] = {
    "NaN value": Prediction(value=math.nan),
    "infinite value": Prediction(value=-math.inf),
    "score above 1": Prediction(score=1.5),
    "negative score": Prediction(score=-0.01),
    "NaN score": Prediction(score=math.nan),
    "score as text": Prediction(score="0.5"),  # type: ignore[arg-type]
    "value as a bool": Prediction(value=True),
    "label too long": Prediction(score=0.5, label="x" * 129),
    "label not text": Prediction(score=0.5, label=7),  # type: ignore[arg-type]
    "too many details": Prediction(value=1.0, details={f"k{i}": i for i in range(17)}),
    "NaN in details": Prediction(value=1.0, details={"rate": math.nan}),
    "list in details": Prediction(value=1.0, details={"ids": [1, 2]}),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("position", [0, 5, 11])
@pytest.mark.parametrize("bad", [pytest.param(p, id=name) for name, p in BAD_PREDICTIONS.items()])
def test_an_invalid_prediction_anywhere_in_a_batch_is_dead_lettered_alone(
    make_ride: RideFactory, make_record: RecordFactory, bad: Prediction, position: int
) -> None:
    good = Prediction(score=0.25, value=12.5, label="ok", details={"n": 1, "why": "x"})
    model = ScriptedModel({f"ride-{position}": bad}, default=good)
    spec = ride_check(model)
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(12)]

    result = process_batch(spec, model, records, stage=STAGE, now=fixed_now)

    (letter,) = result.dead_letters
    assert letter.source == SourcePosition(stream="rides", partition="0", offset=position)
    want_reason = oracle(records[position], bad, spec, model)
    assert isinstance(want_reason, str)
    assert letter.reason == f"{MODEL_ERROR}: invalid prediction: {want_reason}"
    assert [v.source.offset for v in result.verdicts] == [i for i in range(12) if i != position]
    for verdict in result.verdicts:
        want = oracle(records[verdict.source.offset], good, spec, model)
        assert isinstance(want, Verdict)
        assert_same_verdict(verdict, want)


ACCEPTABLE_PREDICTIONS: dict[str, Prediction] = {
    "nothing at all": Prediction(),
    "a score of exactly 1": Prediction(score=1.0, label="flag"),
    "an int score": Prediction(score=1),
    "an int value": Prediction(value=3),
    "a numpy float": Prediction(value=np.float64(2.5)),
    "a negative value": Prediction(value=-4.25),
    "mixed details": Prediction(details={"a": "x", "b": 1, "c": 2.5, "d": True, "e": None}),
    "a label of 128 characters": Prediction(label="y" * 128),
}


@pytest.mark.parametrize(
    "prediction", [pytest.param(p, id=name) for name, p in ACCEPTABLE_PREDICTIONS.items()]
)
@pytest.mark.parametrize("size", [1, 12])
def test_unusual_but_valid_predictions_become_the_verdicts_validation_would_make(
    make_ride: RideFactory, make_record: RecordFactory, prediction: Prediction, size: int
) -> None:
    model = ScriptedModel({}, default=prediction)
    spec = ride_check(model)
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(size)]

    result = process_batch(spec, model, records, stage=STAGE, now=fixed_now)

    assert len(result.verdicts) == size
    for record, verdict in zip(records, result.verdicts, strict=True):
        want = oracle(record, prediction, spec, model)
        assert isinstance(want, Verdict)
        assert_same_verdict(verdict, want)


def test_records_from_several_streams_and_partitions_keep_their_own_source(
    spec: CheckSpec, model: MinutesPerMileModel
) -> None:
    records = [
        Record(stream, partition, offset, "k", ride_bytes(event_id=f"r{i}"), 0)
        for i, (stream, partition, offset) in enumerate(
            [("rides", "0", 5), ("rides", "3", 0), ("rides-replay", "0", 5), ("rides", "0", 6)] * 3
        )
    ]

    result = process_batch(spec, model, records, stage=STAGE, now=fixed_now)

    predictions = model.predict([parse_event(r.value) for r in records])
    for record, prediction, verdict in zip(records, predictions, result.verdicts, strict=True):
        want = oracle(record, prediction, spec, model)
        assert isinstance(want, Verdict)
        assert_same_verdict(verdict, want)


def test_a_model_whose_version_the_schema_refuses_gets_no_verdicts_at_all(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    model = ScriptedModel({}, default=Prediction(value=1.0))
    model.version = "v" * 129  # over Verdict's 128 characters
    records = [make_record(make_ride(event_id=f"ride-{i}"), offset=i) for i in range(12)]

    result = process_batch(ride_check(model), model, records, stage=STAGE, now=fixed_now)

    assert result.verdicts == []
    assert [d.source.offset for d in result.dead_letters if d.source] == list(range(12))
    assert all("model_version" in d.reason for d in result.dead_letters)


@pytest.mark.parametrize(("partition", "offset"), [("p" * 129, 0), ("0", -1)])
def test_no_verdict_is_made_with_a_source_the_schema_refuses(
    spec: CheckSpec, model: MinutesPerMileModel, partition: str, offset: int
) -> None:
    """A backend handing out such positions is a bug, not bad data: it surfaces as an error
    (as it always has), never as verdicts that every reader downstream would refuse."""
    records = [Record(RIDES, "0", i, "k", ride_bytes(event_id=f"r{i}"), 0) for i in range(11)]
    records.append(Record(RIDES, partition, offset, "k", ride_bytes(event_id="r11"), 0))

    with pytest.raises(ValidationError):
        process_batch(spec, model, records, stage=STAGE, now=fixed_now)


def test_kinesis_sized_offsets_are_kept_exactly(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    base = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
    records = [make_record(make_ride(event_id=f"r{i}"), offset=base + i) for i in range(12)]

    result = process_batch(spec, model, records, stage=STAGE, now=fixed_now)

    assert [v.source.offset for v in result.verdicts] == [base + i for i in range(12)]


def test_verdict_fields_taken_from_the_event_are_declared_alike_in_both_schemas() -> None:
    """Verdicts copy event_id, event_type and occurred_at from validated events without checking
    them again; that is sound only while both schemas declare them identically."""
    verdict_fields = Verdict.model_fields
    for event_model in (RideEvent, UploadEvent):
        event_fields = event_model.model_fields
        for event_name, verdict_name in (
            ("event_id", "event_id"),
            ("occurred_at", "event_occurred_at"),
        ):
            event_field, verdict_field = event_fields[event_name], verdict_fields[verdict_name]
            assert event_field.annotation == verdict_field.annotation
            assert event_field.metadata == verdict_field.metadata
        event_type = event_fields["event_type"].annotation
        assert set(get_args(event_type)) <= set(get_args(verdict_fields["event_type"].annotation))
        assert event_model.model_config == Verdict.model_config


def test_verdicts_have_no_validators_that_building_them_directly_would_skip() -> None:
    for model in (Verdict, SourcePosition):
        decorators = model.__pydantic_decorators__
        assert not decorators.validators
        assert not decorators.field_validators
        assert not decorators.root_validators
        assert not decorators.model_validators
        assert model.model_post_init is BaseModel.model_post_init
