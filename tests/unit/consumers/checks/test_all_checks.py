"""What every check promises the runtime: one prediction per event, in order, batch-independent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.registry import CHECKS
from models.store import ModelStore
from producers.synthetic import generate_rides, generate_uploads
from streamjury.errors import ModelError
from streamjury.schemas import RideEvent, UploadEvent

START = datetime(2025, 5, 1, tzinfo=UTC)


def events_of(event_type: str, count: int) -> list[RideEvent | UploadEvent]:
    if event_type == "ride":
        return [ride.event for ride in generate_rides(seed=42, count=count, start=START)]
    return [upload.event for upload in generate_uploads(seed=42, count=count, start=START)]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_batch_predictions_equal_one_by_one_predictions_in_input_order(
    model_store: ModelStore, name: str
) -> None:
    spec = CHECKS[name]
    model = spec.load_model(model_store)
    events = events_of(spec.event_type, 40)

    batch = model.predict(events)
    singles = [model.predict([event])[0] for event in events]

    assert len(batch) == len(events)
    assert batch == singles


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_an_empty_batch_gives_no_predictions(model_store: ModelStore, name: str) -> None:
    model = CHECKS[name].load_model(model_store)

    assert model.predict([]) == []


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_loaded_model_carries_the_manifest_name_and_version(
    model_store: ModelStore, name: str
) -> None:
    model = CHECKS[name].load_model(model_store)

    assert model.name == name
    assert model.version == model_store.version(name)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_events_of_the_other_type_are_refused(model_store: ModelStore, name: str) -> None:
    spec = CHECKS[name]
    model = spec.load_model(model_store)
    other_type = "upload" if spec.event_type == "ride" else "ride"
    wrong = events_of(other_type, 2)

    with pytest.raises(ModelError):
        model.predict(wrong)
