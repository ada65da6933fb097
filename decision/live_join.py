"""The joiner's working state of one event: a plain slotted object, changed in place, encoded
straight to the bytes of the changelog record and of the decision.

``join_state.JoinState`` is the changelog's schema and ``join_state``'s functions the reference
transitions (one immutable pydantic model per change); this is the same state held the cheap way.
Every verdict is serialised once, when it joins, and its JSON is reused by every changelog record
and decision that carries it; the parts around the verdicts are serialised by pydantic-core's own
serialiser (``pydantic_core.to_json``), so the bytes are exactly what the models would write
(tests compare them with ``JoinState.to_bytes`` and ``Decision.to_bytes`` on random joins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pydantic_core import to_json

from decision.join_state import STATE_VERSION, Decided, JoinState
from decision.policy import EventType
from decision.rules import Ruling
from streamjury.schemas import SCHEMA_VERSION, Decision, Outcome, Verdict

verdict_json: Final = Verdict.__pydantic_serializer__.to_json
"""A verdict as it appears inside a state or a decision (``arm`` included, unlike on the wire)."""


class Join:
    """Everything known about one event's join; the joiner changes it in place.

    ``fragments`` keeps the verdicts' JSON in arrival order (the first verdict of a check wins),
    ``by_check`` the verdicts by check for the rules. ``wake`` is when the join's timer is set
    for (see ``table.JoinTable``).

    A decided join is kept for the retention, mostly to recognise redeliveries, so the joiner
    ``compact``s it: the verdict models go and only their JSON stays. That is a fraction of the
    memory, and two objects for the garbage collector to scan instead of a dozen or more. The
    rare verdict that reaches a compacted join (a redelivery, a late check) brings the models
    back from the JSON, exactly as a restore from the changelog does.
    """

    __slots__ = (
        "_by_check",
        "_occurred",
        "_state_head",
        "decided_at",
        "event_id",
        "event_occurred_at",
        "event_type",
        "fragments",
        "opened_at",
        "outcome",
        "revision",
        "wake",
    )

    def __init__(
        self,
        event_id: str,
        event_type: EventType,
        event_occurred_at: datetime,
        opened_at: float,
    ) -> None:
        self.event_id = event_id
        self.event_type = event_type
        self.event_occurred_at = event_occurred_at
        self.opened_at = opened_at
        self._by_check: dict[str, Verdict] | None = {}
        self.fragments: list[bytes] = []
        self.outcome: Outcome | None = None
        """The outcome last published, None while undecided."""
        self.revision = 0
        self.decided_at = 0.0
        self.wake = 0.0
        self._state_head = b""
        self._occurred = b""

    @classmethod
    def open(cls, verdict: Verdict, now: float) -> Join:
        """A join opened by ``verdict`` (not added yet) at clock time ``now``."""
        return cls(verdict.event_id, verdict.event_type, verdict.event_occurred_at, now)

    @property
    def by_check(self) -> dict[str, Verdict]:
        """The verdicts by check (a repeated check's last verdict counts, as in ``JoinState``)."""
        by_check = self._by_check
        if by_check is None:
            parse = Verdict.model_validate_json
            by_check = self._by_check = {}
            for fragment in self.fragments:
                verdict = parse(fragment)
                by_check[verdict.check] = verdict
        return by_check

    @property
    def verdict_count(self) -> int:
        return len(self.fragments)

    def add(self, verdict: Verdict, fragment: bytes | None = None) -> None:
        """Record ``verdict`` (its check must be new here); ``fragment`` is its ``verdict_json``."""
        self.by_check[verdict.check] = verdict
        self.fragments.append(verdict_json(verdict) if fragment is None else fragment)

    def compact(self) -> None:
        """Drop the verdict models, keeping their JSON (``by_check`` rebuilds them on demand)."""
        self._by_check = None

    @property
    def compacted(self) -> bool:
        return self._by_check is None

    def record_decision(self, outcome: Outcome, now: float) -> int:
        """Note ``outcome`` as published at ``now``; returns its revision."""
        self.outcome = outcome
        self.revision += 1
        self.decided_at = now
        return self.revision

    # -- the changelog ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The changelog value: byte for byte ``self.to_state().to_bytes()``."""
        head = self._state_head
        if not head:
            head = self._state_head = (
                b'{"state_version":%d,"event_id":%b,"event_type":"%b","event_occurred_at":%b,'
                b'"opened_at":%b,"verdicts":['
                % (
                    STATE_VERSION,
                    to_json(self.event_id),
                    self.event_type.encode(),
                    self._occurred_json(),
                    to_json(self.opened_at),
                )
            )
        if self.outcome is None:
            decided = b'],"decided":null}'
        else:
            decided = b'],"decided":{"outcome":"%b","revision":%d,"decided_at":%b}}' % (
                self.outcome.encode(),
                self.revision,
                to_json(self.decided_at),
            )
        return head + b",".join(self.fragments) + decided

    def _occurred_json(self) -> bytes:
        occurred = self._occurred
        if not occurred:
            occurred = self._occurred = to_json(self.event_occurred_at)
        return occurred

    def to_state(self) -> JoinState:
        """The same state as the changelog's model (validated: for restores' tests and tools)."""
        return JoinState.from_bytes(self.to_bytes())

    @classmethod
    def from_state(cls, state: JoinState) -> Join:
        """The working copy of a state restored from the changelog."""
        join = cls(state.event_id, state.event_type, state.event_occurred_at, state.opened_at)
        for verdict in state.verdicts:
            join.add(verdict)  # as in JoinState.by_check, a repeated check's last verdict counts
        decided: Decided | None = state.decided
        if decided is not None:
            join.outcome = decided.outcome
            join.revision = decided.revision
            join.decided_at = decided.decided_at
        return join

    # -- decisions -------------------------------------------------------------------------

    def decision_bytes(
        self, ruling: Ruling, revision: int, now: float, decided_at: bytes | None = None
    ) -> bytes:
        """The decision published for ``ruling`` at ``now``: byte for byte what the ``Decision``
        model with these values and this join's verdicts would write.

        ``decided_at``, if given, is ``now`` as the JSON of its UTC datetime (the joiner makes it
        once per batch)."""
        if decided_at is None:
            decided_at = to_json(datetime.fromtimestamp(now, UTC))
        return (
            b'{"schema_version":%d,"event_id":%b,"event_type":"%b","outcome":"%b","reasons":%b,'
            b'"verdicts":[%b],"missing_checks":%b,"estimate":%b,"revision":%d,'
            b'"event_occurred_at":%b,"decided_at":%b}'
            % (
                SCHEMA_VERSION,
                to_json(self.event_id),
                self.event_type.encode(),
                ruling.outcome.encode(),
                to_json(ruling.reasons),
                b",".join(self.fragments),
                to_json(ruling.missing_checks) if ruling.missing_checks else b"[]",
                b"null" if ruling.estimate is None else to_json(ruling.estimate),
                revision,
                self._occurred_json(),
                decided_at,
            )
        )


@dataclass(slots=True)
class DecisionRecord:
    """A decision to publish: its encoded ``value`` and what metrics and logs need of it.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, and one of
    these is made for every decision. Nothing changes it after the joiner made it."""

    event_id: str
    outcome: Outcome
    revision: int
    event_occurred_at: datetime
    value: bytes

    def to_decision(self) -> Decision:
        """The decision as its model (validated: for tests and tools, never the hot path)."""
        return Decision.model_validate_json(self.value)
