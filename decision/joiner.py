"""Joins verdicts into decisions for the partitions one instance owns, one micro-batch at a time.

No I/O: the service feeds it verdicts and restored states and writes out the changes it returns,
already encoded. Joins are ``live_join.Join`` objects changed in place, so a verdict costs one
serialisation (its JSON, reused by every record that carries it) and no model copies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic_core import to_json

from decision.join_state import JoinState, event_type_conflict, verdict_conflict
from decision.live_join import DecisionRecord, Join, verdict_json
from decision.policy import Policy
from decision.rules import judge, unusable_reason
from decision.table import JoinTable
from streamjury.errors import InvalidEvent
from streamjury.schemas import Decision, Verdict

log = logging.getLogger(__name__)

MAX_CHECKS_PER_EVENT = 16
"""More distinct checks than this for one event is a misbehaving producer, not a policy:
the extra verdicts are dead-lettered so one event's state and decision stay small."""


@dataclass(slots=True)
class Changes:
    """What one micro-batch produced: decisions to publish and state records to write.

    ``state_records`` maps event_id to its latest state's changelog value, or to b"" when the
    state was dropped (a tombstone, so the compacted changelog forgets it too).
    """

    decision_records: list[DecisionRecord] = field(default_factory=list)
    state_records: dict[str, bytes] = field(default_factory=dict)

    @property
    def decisions(self) -> list[Decision]:
        """The decisions as models (decoded and validated again: for tests, not the hot path)."""
        return [record.to_decision() for record in self.decision_records]

    @property
    def states(self) -> dict[str, JoinState | None]:
        """The states as models, None for a tombstone (decoded again: for tests)."""
        return {
            event_id: JoinState.from_bytes(value) if value else None
            for event_id, value in self.state_records.items()
        }

    @property
    def dropped(self) -> int:
        """How many states were dropped after their retention."""
        return sum(1 for value in self.state_records.values() if not value)

    def __bool__(self) -> bool:
        return bool(self.decision_records or self.state_records)


class Joiner:
    """Records verdicts, decides under the policy, times joins out and expires decided ones.

    Each verdict is ruled on as it is joined, in stream order, so the decisions depend only on
    the order of an event's verdicts (one partition keeps it), never on where micro-batches
    happen to be cut: an at-least-once backend that replays verdicts after a crash repeats the
    same decisions, byte for byte but for ``decided_at``. ``settle`` then fires due timers and
    hands over what the batch produced.
    """

    def __init__(self, policy: Policy, retention_s: float) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        self.policy = policy
        self.retention_s = retention_s
        timeouts = {"ride": policy.ride.timeout_s, "upload": policy.upload.timeout_s}

        def wake_at(join: Join) -> float:
            """As ``join_state.wake_at``: its timeout while open, its expiry once decided."""
            if join.outcome is None:
                return join.opened_at + timeouts[join.event_type]
            return join.decided_at + retention_s

        self._table = JoinTable(wake_at)
        self._decisions: list[DecisionRecord] = []
        self._changed: dict[str, Join | None] = {}
        """event_id -> the join changed in this batch, None if dropped; encoded by ``settle``."""
        self._decided_at: tuple[float, bytes] | None = None

    # -- ownership ------------------------------------------------------------------------

    def owns(self, partition: str) -> bool:
        return self._table.owns(partition)

    def owned(self) -> list[str]:
        return self._table.owned()

    def restore(self, partition: str, changelog: Iterable[tuple[str, bytes]]) -> int:
        """Own ``partition`` with the states replayed from its changelog (key, value) records.

        The last record of a key wins and an empty value is a tombstone. A record that does not
        decode is logged and skipped: that join starts afresh rather than stopping the service.
        Returns the number of states restored.
        """
        states: dict[str, JoinState] = {}
        for key, value in changelog:
            if not value:
                states.pop(key, None)
                continue
            try:
                state = JoinState.from_bytes(value)
            except InvalidEvent as exc:
                log.error(
                    "skipping undecodable state of %s in partition %s: %s", key, partition, exc
                )
                states.pop(key, None)
                continue
            states[state.event_id] = state
        joins = {event_id: Join.from_state(state) for event_id, state in states.items()}
        for join in joins.values():
            if join.outcome is not None:
                join.compact()
        self._table.adopt(partition, joins)
        return len(states)

    def hold(self, partition: str) -> None:
        """Fire no timer of ``partition`` until ``resume``: its verdicts are still being read.

        After an assignment, verdicts already in the stream must reach their joins before any
        timeout does, however long the partition was unowned (downtime is not lateness).
        """
        self._table.hold(partition)

    def resume(self, partition: str) -> None:
        """Let ``partition``'s timers fire again; overdue ones fire at the next ``settle``."""
        self._table.resume(partition)

    def held(self) -> list[str]:
        return self._table.held()

    def release(self, partition: str) -> None:
        """Stop owning ``partition``: its states leave memory (the changelog keeps them)."""
        self._table.release(partition)

    # -- one micro-batch ------------------------------------------------------------------

    def rejection(self, partition: str, verdict: Verdict) -> str | None:
        """Why ``verdict`` must be dead-lettered instead of joined, else None."""
        join = self._table.get(partition, verdict.event_id)
        if join is not None:
            seen = join.by_check.get(verdict.check)
            if seen is not None:
                return verdict_conflict(seen, verdict)  # None: harmless, ignored by offer
            if join.verdict_count >= MAX_CHECKS_PER_EVENT:
                return _too_many_checks(verdict.event_id)
            if join.event_type != verdict.event_type:
                return event_type_conflict(join.event_type, verdict)
        return unusable_reason(self.policy, verdict)

    def offer(self, partition: str, verdict: Verdict, now: float) -> bool:
        """Record ``verdict`` (``partition`` must be owned); False if it was a duplicate.

        A verdict for a check already recorded is a redelivery: it changes nothing, so a crash
        between processing and committing can never make the service decide twice.
        """
        joins = self._table.joins(partition)
        event_id = verdict.event_id
        join = joins.get(event_id)
        if join is None:
            join = Join.open(verdict, now)
            self._table.add(partition, join)
        elif verdict.check in join.by_check:
            return False
        join.add(verdict, verdict_json(verdict))
        self._changed[event_id] = join
        self._decide(partition, join, now)
        return True

    def join(self, partition: str, verdict: Verdict, now: float) -> str | bool:
        """``rejection``, then ``offer`` if there is none, with one look-up: the service's path.

        Returns the reason ``verdict`` must be dead-lettered, else whether it was recorded
        (False: a harmless duplicate, ignored).
        """
        table = self._table
        joins = table.joins(partition)
        event_id = verdict.event_id
        join = joins.get(event_id)
        if join is not None:
            seen = join.by_check.get(verdict.check)
            if seen is not None:
                if join.outcome is not None:
                    join.compact()  # a redelivery to a decided join: nothing else will change
                return verdict_conflict(seen, verdict) or False
            if join.verdict_count >= MAX_CHECKS_PER_EVENT:
                return _too_many_checks(event_id)
            if join.event_type != verdict.event_type:
                return event_type_conflict(join.event_type, verdict)
        number = verdict.score if verdict.event_type == "upload" else verdict.value
        if number is None:  # usable without its number only if the policy does not look at it
            reason = unusable_reason(self.policy, verdict)
            if reason is not None:
                return reason
        if join is None:
            join = Join.open(verdict, now)
            table.add(partition, join)
        join.add(verdict, verdict_json(verdict))
        self._changed[event_id] = join
        self._decide(partition, join, now)
        return True

    def settle(self, now: float) -> Changes:
        """Fire due timeouts and expiries, then hand over the batch's decisions and states."""
        table = self._table
        for partition, join in table.due(now):
            if join.outcome is None:
                self._decide(partition, join, now)
            elif now >= join.decided_at + self.retention_s:
                table.remove(partition, join.event_id)
                self._changed[join.event_id] = None
        states: dict[str, bytes] = {}
        for event_id, changed in self._changed.items():
            if changed is None:
                states[event_id] = b""
                continue
            states[event_id] = changed.to_bytes()
            if changed.outcome is not None:
                changed.compact()  # kept for the retention: its JSON is enough (see ``Join``)
        changes = Changes(self._decisions, states)
        self._decisions, self._changed = [], {}
        return changes

    def held_join(self, partition: str, event_id: str) -> Join | None:
        """The join of ``event_id`` held for ``partition``, if any (for tools and tests)."""
        return self._table.get(partition, event_id)

    def __len__(self) -> int:
        """How many joins (open or decided, within retention) are held in memory."""
        return len(self._table)

    def _decide(self, partition: str, join: Join, now: float) -> None:
        """Apply the rules: a first decision, an amendment (outcome changed), or nothing new.

        An amendment gets the next revision; a ruling with the outcome already published is
        dropped, so late verdicts that change nothing publish nothing.
        """
        ruling = judge(
            self.policy,
            join.event_type,
            join.by_check,
            opened_at=join.opened_at,
            now=now,
            may_time_out=not self._table.is_held(partition),
        )
        if ruling is None or ruling.outcome == join.outcome:
            return
        revision = join.record_decision(ruling.outcome, now)
        self._table.changed(partition, join)
        self._changed[join.event_id] = join
        self._decisions.append(
            DecisionRecord(
                join.event_id,
                ruling.outcome,
                revision,
                join.event_occurred_at,
                join.decision_bytes(ruling, revision, now, self._decided_at_json(now)),
            )
        )

    def _decided_at_json(self, now: float) -> bytes:
        """``now`` as a decision's ``decided_at`` JSON, made once per clock reading."""
        cached = self._decided_at
        if cached is None or cached[0] != now:
            cached = self._decided_at = (now, to_json(datetime.fromtimestamp(now, UTC)))
        return cached[1]


def _too_many_checks(event_id: str) -> str:
    return f"event {event_id} already has {MAX_CHECKS_PER_EVENT} checks' verdicts"
