"""Test doubles for the consumer runtime's tests: a small ride check whose model is arithmetic.

The model stands in for a trained model, never for the runtime under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from streamjury.schemas import RideEvent, UploadEvent
from streamjury.streams.base import Record

RIDES = "rides"

RideFactory = Callable[..., dict[str, Any]]
RecordFactory = Callable[..., Record]


class MinutesPerMileModel:
    """Predicts 3 minutes a mile; its fare-per-mile detail divides by distance, like a real bug.

    A ride of zero miles is valid, yet makes ``predict`` raise ZeroDivisionError for its batch.
    """

    name = "minutes-per-mile"
    version = "test-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        self.calls.append(len(events))
        rides = [event for event in events if isinstance(event, RideEvent)]
        per_mile = [ride.fare_amount / ride.trip_distance for ride in rides]
        return [
            Prediction(value=3.0 * ride.trip_distance, details={"fare_per_mile": rate})
            for ride, rate in zip(rides, per_mile, strict=True)
        ]


def ride_check(model: CheckModel) -> CheckSpec:
    """A ride check serving ``model``, as a registry entry would."""

    def load_model(source: ModelSource) -> CheckModel:
        return model

    return CheckSpec(name="minutes", event_type="ride", stream=RIDES, load_model=load_model)
