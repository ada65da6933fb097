"""Specification of co-located checks: one process, one parse, one commit, a verdict per check."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.batch import process_batch, process_checks
from consumers.check import CheckModel, CheckSpec, Prediction
from consumers.runtime import AlsoScored, ConsumerRuntime, RuntimeConfig
from consumers.settings import ConsumerSettings
from streamjury.errors import ConfigError
from streamjury.schemas import DeadLetter, RideEvent, UploadEvent, Verdict
from streamjury.streams.base import OutRecord, StartFrom
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.doubles import (
    RIDES,
    MinutesPerMileModel,
    RecordFactory,
    RideFactory,
    ride_check,
)
from tests.unit.consumers.test_app import (
    COUNT,
    StopWhenCommitted,
    publish_rides,
    read_all,
    settings_for,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
STAGE = "consumer:minutes+fare"


class FareModel:
    """A second ride model: the fare, as its value; fails on fares above 1000."""

    name = "fare"
    version = "test-2"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        self.calls.append(len(events))
        rides = [event for event in events if isinstance(event, RideEvent)]
        if any(ride.fare_amount > 1000 for ride in rides):
            raise ValueError("fare out of range")
        return [Prediction(value=ride.fare_amount) for ride in rides]


def fare_check(model: CheckModel) -> CheckSpec:
    return CheckSpec(name="fare", event_type="ride", stream=RIDES, load_model=lambda source: model)


def upload_check(model: CheckModel) -> CheckSpec:
    return CheckSpec(
        name="uploads", event_type="upload", stream="uploads", load_model=lambda source: model
    )


def test_each_valid_event_gets_one_verdict_per_check_from_one_predict_per_check(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    minutes, fare = MinutesPerMileModel(), FareModel()
    records = [make_record(make_ride(event_id=f"r{i}"), offset=i) for i in range(6)]

    result = process_checks(
        [(ride_check(minutes), minutes), (fare_check(fare), fare)], records, stage=STAGE
    )

    by_check = {(v.check, v.event_id): v for v in result.verdicts}
    assert sorted(by_check) == sorted(
        (check, f"r{i}") for check in ("minutes", "fare") for i in range(6)
    )
    assert {v.model_name for v in result.verdicts if v.check == "fare"} == {"fare"}
    assert by_check[("fare", "r0")].value == make_ride()["fare_amount"]
    assert (minutes.calls, fare.calls) == ([6], [6])
    assert result.dead_letters == []


def test_a_record_that_is_no_event_is_one_dead_letter_not_one_per_check(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    minutes, fare = MinutesPerMileModel(), FareModel()
    records = [make_record(make_ride(event_id="ok"), offset=0), make_record(b"{not json", offset=1)]

    result = process_checks(
        [(ride_check(minutes), minutes), (fare_check(fare), fare)], records, stage=STAGE
    )

    [letter] = result.dead_letters
    assert (letter.stage, letter.source.offset) == (STAGE, 1)
    assert sorted(v.check for v in result.verdicts) == ["fare", "minutes"]


def test_a_model_failure_dead_letters_that_checks_outcome_only_under_its_own_stage(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    minutes, fare = MinutesPerMileModel(), FareModel()
    records = [
        make_record(make_ride(event_id="cheap"), offset=0),
        make_record(make_ride(event_id="dear", fare_amount=5000.0), offset=1),
    ]

    result = process_checks(
        [(ride_check(minutes), minutes), (fare_check(fare), fare)], records, stage=STAGE
    )

    assert sorted((v.check, v.event_id) for v in result.verdicts) == [
        ("fare", "cheap"),
        ("minutes", "cheap"),
        ("minutes", "dear"),
    ]
    [letter] = result.dead_letters
    assert letter.stage == "consumer:fare"
    assert "fare out of range" in letter.reason
    assert json.loads(base64.b64decode(letter.original_b64))["event_id"] == "dear"


def test_one_check_keeps_its_outcomes_in_input_order_with_dead_letters_in_place(
    make_ride: RideFactory, make_record: RecordFactory
) -> None:
    minutes = MinutesPerMileModel()
    records = [
        make_record(make_ride(event_id="a"), offset=0),
        make_record(b"junk", offset=1),
        make_record(make_ride(event_id="zero", trip_distance=0.0), offset=2),
        make_record(make_ride(event_id="b"), offset=3),
    ]

    result = process_checks([(ride_check(minutes), minutes)], records, stage="consumer:minutes")

    kinds = [("verdict" if o.verdict else "dead", o.record.offset) for o in result.outcomes]
    assert kinds == [("verdict", 0), ("dead", 1), ("dead", 2), ("verdict", 3)]


def test_checks_of_different_event_types_cannot_be_scored_together(
    make_record: RecordFactory,
) -> None:
    minutes, fare = MinutesPerMileModel(), FareModel()
    with pytest.raises(ValueError, match="one event type"):
        process_checks(
            [(ride_check(minutes), minutes), (upload_check(fare), fare)], [], stage=STAGE
        )


def test_the_runtime_writes_every_checks_verdicts_and_counts_each_input_once(
    make_ride: RideFactory,
) -> None:
    backend = MemoryBackend(partitions=2)
    backend.ensure_streams([RIDES, "verdicts", "deadletter"])
    producer = backend.producer()
    producer.send(
        RIDES,
        [OutRecord(f"r{i}", json.dumps(make_ride(event_id=f"r{i}")).encode()) for i in range(9)]
        + [OutRecord("bad", b"{")],
    )
    producer.flush()
    minutes, fare = MinutesPerMileModel(), FareModel()
    runtime = ConsumerRuntime(
        ride_check(minutes),
        minutes,
        backend.producer(),
        verdict_stream="verdicts",
        deadletter_stream="deadletter",
        config=RuntimeConfig(batch_size=4, batch_timeout_ms=5),
        also=[AlsoScored(fare_check(fare), lambda: fare)],
    )
    consumer = backend.consumer([RIDES], "g", StartFrom.earliest())

    stats = runtime.run(consumer, lambda: runtime.stats.records >= 10)

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    assert sorted((v.check, v.event_id) for v in verdicts) == sorted(
        (check, f"r{i}") for check in ("minutes", "fare") for i in range(9)
    )
    [letter] = [DeadLetter.model_validate_json(raw) for raw in read_all(backend, "deadletter")]
    assert letter.stage == "consumer:minutes+fare"
    assert (stats.records, stats.verdicts, stats.dead_letters) == (10, 18, 1)
    assert sum(backend.committed(RIDES, "g").values()) == 10


def test_a_canary_or_shadow_cannot_be_co_located() -> None:
    minutes = MinutesPerMileModel()
    with pytest.raises(ValueError, match="run alone"):
        ConsumerRuntime(
            ride_check(minutes),
            minutes,
            MemoryBackend().producer(),
            verdict_stream="verdicts",
            deadletter_stream="deadletter",
            scorer=lambda model, batch: process_batch(ride_check(minutes), model, batch, stage="x"),
            also=[AlsoScored(fare_check(FareModel()), FareModel)],
        )


def test_the_real_ride_checks_run_together_as_one_group(trained_models: Path) -> None:
    backend = MemoryBackend()
    ids = publish_rides(backend, "rides")

    stats = run_consumer(
        settings_for(trained_models, check="duration,tip"),
        StopWhenCommitted(backend, "rides", "streamjury-duration+tip"),
        backend=backend,
    )

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    assert sorted((v.check, v.event_id) for v in verdicts) == sorted(
        (check, event_id) for check in ("duration", "tip") for event_id in ids
    )
    assert stats.records == COUNT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"check": "duration,nsfw"}, r"one stream, but duration, nsfw read rides and uploads"),
        ({"shadow": "candidate"}, r"--shadow and --canary compare the models of one check"),
        ({"canary": "candidate"}, r"--shadow and --canary compare the models of one check"),
    ],
)
def test_checks_that_cannot_run_together_are_a_config_error(
    trained_models: Path, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        run_consumer(
            settings_for(trained_models, **{"check": "duration,tip", **changes}), lambda: True
        )


def test_the_check_setting_names_one_or_several_checks_and_the_group_follows() -> None:
    alone = ConsumerSettings.model_validate({"check": "duration"})
    together = ConsumerSettings.model_validate({"check": " duration , tip", "stream_prefix": "p."})

    assert (alone.checks, alone.group_name) == (("duration",), "streamjury-duration")
    assert (together.checks, together.group_name) == (
        ("duration", "tip"),
        "p.streamjury-duration+tip",
    )


@pytest.mark.parametrize(("check", "reason"), [("duration,,tip", "empty"), ("tip,tip", "twice")])
def test_a_malformed_check_list_is_refused(check: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ConsumerSettings.model_validate({"check": check})
