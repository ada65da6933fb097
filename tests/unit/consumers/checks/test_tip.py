"""The tip check: dollars per ride, zero for cash, never negative."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from consumers.checks.tip import SPEC
from models.store import ModelStore
from producers.synthetic import generate_rides
from streamjury.schemas import RideEvent

CASH, CARD = 2, 1


def test_reads_rides_from_the_rides_stream() -> None:
    assert (SPEC.name, SPEC.event_type, SPEC.stream) == ("tip", "ride", "rides")


def test_a_cash_ride_tips_nothing(
    model_store: ModelStore, build_ride: Callable[..., RideEvent]
) -> None:
    model = SPEC.load_model(model_store)
    cash = build_ride(payment_type=CASH, fare_amount=60.0, trip_distance=15.0)

    assert model.predict([cash])[0].value == 0.0


def test_a_card_ride_tips_more_on_a_bigger_fare(
    model_store: ModelStore, build_ride: Callable[..., RideEvent]
) -> None:
    model = SPEC.load_model(model_store)
    small = build_ride("small", payment_type=CARD, fare_amount=8.0, trip_distance=1.0)
    large = build_ride("large", payment_type=CARD, fare_amount=60.0, trip_distance=15.0)

    small_tip, large_tip = (p.value for p in model.predict([small, large]))

    assert small_tip is not None
    assert large_tip is not None
    assert large_tip > small_tip > 0


def test_tips_are_never_negative(model_store: ModelStore) -> None:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    rides = [ride.event for ride in generate_rides(seed=9, count=2_000, start=start)]

    tips = [p.value for p in SPEC.load_model(model_store).predict(rides)]

    assert all(tip is not None and tip >= 0 for tip in tips)
