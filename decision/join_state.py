"""The durable join state of one event and its pure transitions: record a verdict, decide, expire.

A state is what the ``decision-state`` changelog stores under the event_id, so restarts resume it.
``JoinState`` is that record's schema. The transitions here (one immutable model per change) are
the reference semantics; the service's joiner runs the same ones on ``live_join.Join`` objects
changed in place, and tests hold the two to the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import AwareDatetime, Field, ValidationError

from decision.policy import Policy
from decision.rules import judge
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    Decision,
    EventId,
    Outcome,
    Verdict,
    WireModel,
    describe_validation_error,
)

STATE_VERSION: Final = 1
CONFLICTING_DUPLICATE: Final = "conflicting duplicate"
"""How a dead-letter reason starts when one event_id was sent twice with different content."""


class Decided(WireModel):
    """The last decision published for an event."""

    outcome: Outcome
    revision: int = Field(ge=1)
    decided_at: float
    """Clock seconds; retention counts from here."""


class JoinState(WireModel):
    """Everything known about one event's join; immutable, replaced on every change."""

    state_version: Literal[1] = STATE_VERSION
    event_id: EventId
    event_type: Literal["ride", "upload"]
    event_occurred_at: AwareDatetime
    opened_at: float
    """Clock seconds when the first verdict was processed; the timeout counts from here."""
    verdicts: tuple[Verdict, ...]
    """One verdict per check, in arrival order; the first verdict of a check wins."""
    decided: Decided | None = None

    @property
    def by_check(self) -> dict[str, Verdict]:
        return {verdict.check: verdict for verdict in self.verdicts}

    @classmethod
    def from_bytes(cls, raw: bytes) -> JoinState:
        """Decode a changelog value; raises InvalidEvent if it is not a valid state.

        No size limit, unlike wire input: a state holds several verdicts and is our own record.
        """
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(describe_validation_error(exc)) from exc


def conflict_reason(state: JoinState | None, verdict: Verdict) -> str | None:
    """Why ``verdict`` cannot join ``state`` (it names another event type), else None."""
    if state is not None and state.event_type != verdict.event_type:
        return event_type_conflict(state.event_type, verdict)
    return None


def event_type_conflict(event_type: str, verdict: Verdict) -> str:
    """Why ``verdict`` cannot join earlier verdicts that said the event is an ``event_type``."""
    return (
        f"verdict says event {verdict.event_id} is a {verdict.event_type}, "
        f"earlier verdicts said {event_type}"
    )


def duplicate_conflict(state: JoinState | None, verdict: Verdict) -> str | None:
    """Why ``verdict`` conflicts with the verdict ``state`` already has for its check, else None.

    The same input record read again (same source position) is a redelivery, and the same event
    sent twice yields the same prediction: both are harmless duplicates. A verdict for the same
    check from another input record with a different prediction means two different events were
    sent under one event_id; dropping it silently would hide, say, a protected fingerprint.
    """
    seen = None if state is None else state.by_check.get(verdict.check)
    return None if seen is None else verdict_conflict(seen, verdict)


def verdict_conflict(seen: Verdict, verdict: Verdict) -> str | None:
    """Why ``verdict`` conflicts with ``seen``, the verdict of its check already joined, else None
    (see ``duplicate_conflict``)."""
    if seen.source == verdict.source or _same_prediction(seen, verdict):
        return None
    return (
        f"{CONFLICTING_DUPLICATE}: event {verdict.event_id} check {verdict.check} already has a "
        f"verdict from {seen.source} ({_prediction(seen)}); this one from {verdict.source} "
        f"says {_prediction(verdict)}: one event_id was sent with different content"
    )


def _same_prediction(first: Verdict, second: Verdict) -> bool:
    return (
        first.score == second.score
        and first.value == second.value
        and first.label == second.label
        and first.details == second.details
        and first.event_occurred_at == second.event_occurred_at
    )


def _prediction(verdict: Verdict) -> str:
    parts = [
        f"{name} {value}"
        for name, value in (
            ("score", verdict.score),
            ("value", verdict.value),
            ("label", verdict.label),
        )
        if value is not None
    ]
    parts.append(f"occurred_at {verdict.event_occurred_at.isoformat()}")
    return ", ".join(parts)


def record_verdict(state: JoinState | None, verdict: Verdict, now: float) -> JoinState | None:
    """The state with ``verdict`` added (opening the join if new), or None for a duplicate.

    A verdict for a check already recorded is a redelivery: it changes nothing, so a crash
    between processing and committing can never make the service decide twice.
    """
    if state is None:
        return JoinState(
            event_id=verdict.event_id,
            event_type=verdict.event_type,
            event_occurred_at=verdict.event_occurred_at,
            opened_at=now,
            verdicts=(verdict,),
        )
    if any(seen.check == verdict.check for seen in state.verdicts):
        return None
    return state.model_copy(update={"verdicts": (*state.verdicts, verdict)})


def decide(
    state: JoinState, policy: Policy, now: float, *, may_time_out: bool = True
) -> tuple[JoinState, Decision | None]:
    """Apply the rules: a first decision, an amendment (outcome changed), or nothing new.

    An amendment gets the next revision; a ruling with the outcome already published is
    dropped, so late verdicts that change nothing publish nothing.
    """
    ruling = judge(
        policy,
        state.event_type,
        state.by_check,
        opened_at=state.opened_at,
        now=now,
        may_time_out=may_time_out,
    )
    if ruling is None:
        return state, None
    if state.decided is not None and state.decided.outcome == ruling.outcome:
        return state, None
    revision = 1 if state.decided is None else state.decided.revision + 1
    decided = Decided(outcome=ruling.outcome, revision=revision, decided_at=now)
    decision = Decision(
        event_id=state.event_id,
        event_type=state.event_type,
        outcome=ruling.outcome,
        reasons=list(ruling.reasons),
        verdicts=list(state.verdicts),
        missing_checks=list(ruling.missing_checks),
        estimate=ruling.estimate,
        revision=revision,
        event_occurred_at=state.event_occurred_at,
        decided_at=datetime.fromtimestamp(now, UTC),
    )
    return state.model_copy(update={"decided": decided}), decision


def wake_at(state: JoinState, policy: Policy, retention_s: float) -> float:
    """When the state next needs attention: its timeout if open, its expiry if decided."""
    if state.decided is None:
        return state.opened_at + policy.for_event_type(state.event_type).timeout_s
    return state.decided.decided_at + retention_s


def is_expired(state: JoinState, now: float, retention_s: float) -> bool:
    """Decided at least ``retention_s`` ago: safe to forget (see the service docs for the cost)."""
    return state.decided is not None and now >= state.decided.decided_at + retention_s
