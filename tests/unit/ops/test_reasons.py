"""Dead-letter reasons map onto a small fixed set of metric labels.

The reasons come from the real code that writes them (the consumer's batch core, the decision
service), so a reworded reason that would fall into the wrong class fails here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from consumers.batch import process_batch
from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from decision.app import build_service
from decision.policy import load_policy
from decision.settings import DecisionSettings
from producers.synthetic import iter_rides, iter_uploads
from streamjury.ops.reasons import REASON_CLASSES, reason_class
from streamjury.schemas import MAX_RECORD_BYTES, RideEvent, UploadEvent
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.memory import MemoryBackend
from streamjury.streams.names import StreamNames

START = datetime(2025, 1, 1, tzinfo=UTC)


class FlakyModel:
    """Fails on rides with more than 2 passengers; predicts 1.0 for the rest."""

    name = "flaky"
    version = "test"

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        if any(isinstance(e, RideEvent) and e.passenger_count > 2 for e in events):
            raise RuntimeError("too many passengers")
        return [Prediction(value=1.0) for _ in events]


def ride_check(model: CheckModel) -> CheckSpec:
    def load(source: ModelSource) -> CheckModel:
        return model

    return CheckSpec(name="duration", event_type="ride", stream="rides", load_model=load)


def record(value: bytes, offset: int = 0) -> Record:
    return Record("rides", "0", offset, f"k{offset}", value, 0)


def consumer_reason(value: bytes) -> str:
    result = process_batch(ride_check(FlakyModel()), FlakyModel(), [record(value)], stage="t")
    (letter,) = result.dead_letters
    return letter.reason


def a_ride(**changes: object) -> dict[str, object]:
    ride = next(iter_rides(1, START)).event.model_dump(mode="json")
    ride.update(changes)
    return ride


def test_every_class_is_a_short_snake_case_label() -> None:
    assert len(REASON_CLASSES) == len(set(REASON_CLASSES)) <= 10
    assert all(label.replace("_", "").isalpha() and label.islower() for label in REASON_CLASSES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1]", "validation"),
        (b"{}", "validation"),
        (json.dumps(a_ride(trip_distance=-1)).encode(), "validation"),
        (json.dumps(a_ride(event_type="bogus")).encode(), "validation"),
        (b" " * (MAX_RECORD_BYTES + 1), "too_large"),
    ],
)
def test_records_a_consumer_cannot_read_are_classified_by_what_is_wrong(
    value: bytes, expected: str
) -> None:
    assert reason_class(consumer_reason(value)) == expected


def test_an_event_of_the_other_type_is_a_wrong_event_type() -> None:
    upload = next(iter_uploads(1, START)).event.to_bytes()
    assert reason_class(consumer_reason(upload)) == "wrong_event_type"


def test_an_event_the_model_fails_on_is_a_model_error() -> None:
    crowded = json.dumps(a_ride(passenger_count=5)).encode()
    assert reason_class(consumer_reason(crowded)) == "model_error"


def test_a_model_error_stays_a_model_error_even_when_it_quotes_a_validation_error() -> None:
    assert reason_class("model error: invalid prediction: score: Input should be <= 1") == (
        "model_error"
    )


def test_unknown_free_text_is_other() -> None:
    assert reason_class("something odd happened") == "other"


def decision_reasons(records: list[OutRecord]) -> list[str]:
    """Reasons the decision service gives for ``records`` sent to its verdicts stream."""
    settings = DecisionSettings(backend="memory")
    backend = MemoryBackend(partitions=1)
    names = StreamNames(settings.stream_prefix)
    backend.ensure_streams([names.verdicts])
    producer = backend.producer()
    producer.send(names.verdicts, records)
    producer.flush()
    with build_service(settings, backend, load_policy(None)) as service:
        while service.step():
            pass
    letters = list(backend.read_partition(names.deadletter, "0"))
    return [json.loads(letter.value)["reason"] for letter in letters]


def verdict(event: RideEvent | UploadEvent, check: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema_version": 1,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "check": check,
        "model_name": "m",
        "model_version": "1",
        "value": 3.0,
        "event_occurred_at": event.occurred_at.isoformat(),
        "produced_at": event.occurred_at.isoformat(),
        "source": {"stream": "rides", "partition": "0", "offset": 0},
    }
    body.update(changes)
    return body


def test_verdicts_the_decision_service_refuses_are_classified() -> None:
    ride = next(iter_rides(2, START)).event
    upload = next(iter_uploads(2, START)).event
    as_upload = verdict(ride, "nsfw", event_type="upload", score=0.1, value=None)
    records = [
        OutRecord("x", b"not json"),
        OutRecord("someone-else", json.dumps(verdict(ride, "duration")).encode()),
        OutRecord(ride.event_id, json.dumps(verdict(ride, "duration")).encode()),
        OutRecord(ride.event_id, json.dumps(as_upload).encode()),
        OutRecord(upload.event_id, json.dumps(verdict(upload, "nsfw", value=None)).encode()),
    ]

    classes = [reason_class(reason) for reason in decision_reasons(records)]

    assert classes == ["invalid_json", "wrong_key", "conflict", "validation"]
