"""Ride outcomes: each ride is followed, at its end in event time, by what really happened."""

from __future__ import annotations

from producers.synthetic import generate_rides, with_outcomes
from streamjury.schemas import RideCompleted, RideEvent


def test_every_ride_gets_one_outcome_after_it_with_its_true_duration_and_tip() -> None:
    labelled = generate_rides(2, 200)

    merged = list(with_outcomes(labelled))

    rides = [item for item in merged if isinstance(item, RideEvent)]
    outcomes = [item for item in merged if isinstance(item, RideCompleted)]
    position = {(type(item).__name__, item.event_id): n for n, item in enumerate(merged)}
    assert [r.event_id for r in rides] == [r.event.event_id for r in labelled]
    assert sorted(o.event_id for o in outcomes) == sorted(r.event_id for r in rides)
    truth = {r.event.event_id: r for r in labelled}
    for outcome in outcomes:
        assert outcome.duration_minutes == truth[outcome.event_id].duration_minutes
        assert outcome.tip_amount == truth[outcome.event_id].tip_amount
        assert outcome.occurred_at > truth[outcome.event_id].event.occurred_at
        assert (
            position[("RideCompleted", outcome.event_id)]
            > position[("RideEvent", outcome.event_id)]
        )
    times = [item.occurred_at for item in merged]
    assert times == sorted(times)
