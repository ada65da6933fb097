"""The live-quality join: predictions meet outcomes once, whatever the order or the redeliveries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from decision.quality.join import QualityJoin, Series
from streamjury.schemas import RideCompleted, SourcePosition, Verdict

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def verdict(event: str, check: str, version: str, value: float) -> Verdict:
    return Verdict(
        event_id=event,
        event_type="ride",
        check=check,
        model_name=check,
        model_version=version,
        value=value,
        event_occurred_at=WHEN,
        produced_at=WHEN,
        source=SourcePosition(stream="rides", partition="0", offset=0),
    )


def outcome(event: str, minutes: float, tip: float) -> RideCompleted:
    return RideCompleted(event_id=event, occurred_at=WHEN, duration_minutes=minutes, tip_amount=tip)


def test_a_prediction_meets_its_outcome_in_either_order() -> None:
    join = QualityJoin(60, 100, Clock())

    early = join.prediction(verdict("a", "duration", "v1", 12.0), "live")
    met = join.outcome(outcome("a", 10.0, 2.0))
    late = join.prediction(verdict("a", "tip", "t1", 1.5), "canary")

    assert early == []
    assert [(e.series, e.abs_error, e.signed_error) for e in met] == [
        (Series("duration", "v1", "live"), 2.0, 2.0)
    ]
    assert [(e.series, e.abs_error, e.signed_error) for e in late] == [
        (Series("tip", "t1", "canary"), 0.5, -0.5)
    ]


def test_redelivered_predictions_and_outcomes_count_once_but_other_arms_count() -> None:
    join = QualityJoin(60, 100, Clock())
    errors = join.prediction(verdict("a", "duration", "v1", 12.0), "live")
    errors += join.prediction(verdict("a", "duration", "v1", 12.0), "live")
    errors += join.outcome(outcome("a", 10.0, 2.0))
    errors += join.outcome(outcome("a", 10.0, 2.0))
    errors += join.prediction(verdict("a", "duration", "v1", 12.0), "live")
    errors += join.prediction(verdict("a", "duration", "v2", 9.0), "shadow")

    assert [(e.series.arm, e.abs_error) for e in errors] == [("live", 2.0), ("shadow", 1.0)]
    assert join.duplicates == 3


def test_classifier_verdicts_are_not_joined() -> None:
    join = QualityJoin(60, 100, Clock())
    nsfw = verdict("a", "duration", "v1", 1.0).model_copy(update={"check": "nsfw", "value": None})

    assert join.prediction(nsfw, "live") == []
    assert len(join) == 0


def test_events_leave_the_window_and_unmatched_ones_are_reported() -> None:
    clock = Clock()
    join = QualityJoin(60, 100, clock)
    join.prediction(verdict("waiting", "duration", "v1", 12.0), "live")
    join.outcome(outcome("lonely", 10.0, 2.0))
    clock.now = 30
    join.prediction(verdict("young", "tip", "t1", 1.0), "live")

    clock.now = 61
    expired = join.expire()

    assert expired.predictions == {"duration": 1}
    assert expired.outcomes == 1
    assert len(join) == 1  # "young" stays
    # a redelivery after the window is a new event: it waits again
    assert join.outcome(outcome("waiting", 10.0, 2.0)) == []


def test_the_oldest_events_go_first_beyond_max_events() -> None:
    join = QualityJoin(3600, 2, Clock())
    for event in ("a", "b", "c"):
        join.prediction(verdict(event, "duration", "v1", 5.0), "live")

    expired = join.expire()

    assert (len(join), expired.predictions) == (2, {"duration": 1})
    assert join.outcome(outcome("a", 5.0, 0.0)) == []  # "a" was dropped
    assert [e.abs_error for e in join.outcome(outcome("c", 4.0, 0.0))] == [1.0]


@pytest.mark.parametrize(("window", "most"), [(0, 1), (1, 0)])
def test_a_window_must_hold_something(window: float, most: int) -> None:
    with pytest.raises(ValueError, match="window_s"):
        QualityJoin(window, most, Clock())
