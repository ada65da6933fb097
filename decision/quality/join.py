"""A bounded join of model predictions with what really happened, by event id.

Predictions (live, canary and shadow verdicts) and ``ride_completed`` outcomes arrive on different
streams in any order and at least once. Each event is kept for ``window_s`` after it was first
seen (and at most ``max_events`` events are kept), so memory stays bounded; a prediction is
counted once per (event, check, model version, arm) within that window, however often it is
redelivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from decision.model_compare import TRUTH_OF_CHECK
from streamjury.schemas import RideCompleted, Verdict

ARMS = ("live", "canary", "shadow")
"""Where a prediction came from: the verdict's arm (``live`` without a canary) or a shadow pair."""


@dataclass(frozen=True, slots=True)
class Series:
    """What an error is labelled with: bounded (no event ids)."""

    check: str
    model_version: str
    arm: str


@dataclass(frozen=True, slots=True)
class Error:
    """One prediction met its outcome."""

    series: Series
    abs_error: float
    signed_error: float
    """Prediction minus truth: positive means the model predicted too much."""


@dataclass(frozen=True, slots=True)
class Expired:
    """What left the window without a partner, by check (or ``outcome``)."""

    predictions: dict[str, int] = field(default_factory=dict)
    """Check -> predictions whose outcome never came within the window."""
    outcomes: int = 0
    """Outcomes no prediction of a scored check met within the window."""


@dataclass(slots=True)
class _Event:
    first_seen: float
    truth: RideCompleted | None = None
    waiting: dict[Series, float] = field(default_factory=dict)
    """Series -> predicted value, waiting for the outcome."""
    counted: set[Series] = field(default_factory=set)


class QualityJoin:
    """Pairs predictions with outcomes; ``clock`` is monotonic seconds (injected for tests)."""

    def __init__(self, window_s: float, max_events: int, clock: Callable[[], float]) -> None:
        if window_s <= 0 or max_events < 1:
            raise ValueError("window_s must be positive and max_events at least 1")
        self.window_s = window_s
        self.max_events = max_events
        self._clock = clock
        self._events: dict[str, _Event] = {}
        """Insertion order is first-seen order: the oldest are at the front."""
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._events)

    def prediction(self, verdict: Verdict, arm: str) -> list[Error]:
        """Offer one verdict of ``arm``; the error if its outcome is already known."""
        if verdict.check not in TRUTH_OF_CHECK or verdict.value is None:
            return []
        series = Series(verdict.check, verdict.model_version, arm)
        event = self._event(verdict.event_id)
        if series in event.counted or series in event.waiting:
            self.duplicates += 1
            return []
        if event.truth is None:
            event.waiting[series] = verdict.value
            return []
        event.counted.add(series)
        return [_error(series, verdict.value, event.truth)]

    def outcome(self, outcome: RideCompleted) -> list[Error]:
        """Offer one outcome; the errors of the predictions that were waiting for it."""
        event = self._event(outcome.event_id)
        if event.truth is not None:
            self.duplicates += 1
            return []
        event.truth = outcome
        errors = [_error(series, value, outcome) for series, value in event.waiting.items()]
        event.counted.update(event.waiting)
        event.waiting.clear()
        return errors

    def expire(self) -> Expired:
        """Forget events older than the window (and the oldest beyond ``max_events``)."""
        cutoff = self._clock() - self.window_s
        unmatched: dict[str, int] = {}
        lonely_outcomes = 0
        while self._events:
            event_id, event = next(iter(self._events.items()))
            if event.first_seen > cutoff and len(self._events) <= self.max_events:
                break
            del self._events[event_id]
            for series in event.waiting:
                unmatched[series.check] = unmatched.get(series.check, 0) + 1
            if event.truth is not None and not event.counted:
                lonely_outcomes += 1
        return Expired(unmatched, lonely_outcomes)

    def _event(self, event_id: str) -> _Event:
        event = self._events.get(event_id)
        if event is None:
            event = self._events[event_id] = _Event(first_seen=self._clock())
        return event


def _error(series: Series, predicted: float, truth: RideCompleted) -> Error:
    actual = float(getattr(truth, TRUTH_OF_CHECK[series.check]))
    return Error(series, abs(predicted - actual), predicted - actual)
