"""The duration check: expected minutes per ride, longer for longer trips."""

from __future__ import annotations

from collections.abc import Callable

from consumers.checks.duration import SPEC
from models.store import ModelStore
from streamjury.schemas import RideEvent


def test_reads_rides_from_the_rides_stream() -> None:
    assert (SPEC.name, SPEC.event_type, SPEC.stream) == ("duration", "ride", "rides")


def test_a_long_airport_ride_takes_longer_than_a_short_hop(
    model_store: ModelStore, build_ride: Callable[..., RideEvent]
) -> None:
    model = SPEC.load_model(model_store)
    airport = build_ride(
        "jfk", PULocationID=132, DOLocationID=161, trip_distance=17.8, fare_amount=70.0
    )
    short_hop = build_ride(
        "hop", PULocationID=161, DOLocationID=161, trip_distance=0.7, fare_amount=7.5
    )

    airport_minutes, hop_minutes = (p.value for p in model.predict([airport, short_hop]))

    assert airport_minutes is not None
    assert hop_minutes is not None
    assert airport_minutes > 2 * hop_minutes
    assert hop_minutes > 0


def test_predictions_are_minutes_in_value_only(
    model_store: ModelStore, build_ride: Callable[..., RideEvent]
) -> None:
    (prediction,) = SPEC.load_model(model_store).predict([build_ride()])

    assert prediction.value is not None
    assert 1 < prediction.value < 120
    assert prediction.score is None
    assert prediction.label is None
