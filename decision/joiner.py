"""Joins verdicts into decisions for the partitions one instance owns, one micro-batch at a time.

No I/O: the service feeds it verdicts and restored states and writes out the changes it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from decision.join_state import (
    JoinState,
    conflict_reason,
    decide,
    is_expired,
    record_verdict,
    wake_at,
)
from decision.policy import Policy
from decision.rules import unusable_reason
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

    ``states`` maps event_id to its latest state, or to None when the state was dropped
    (written as a tombstone so the compacted changelog forgets it too).
    """

    decisions: list[Decision] = field(default_factory=list)
    states: dict[str, JoinState | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.states)


class Joiner:
    """Records verdicts, decides under the policy, times joins out and expires decided ones.

    Call ``offer`` for each verdict of a batch, then ``settle`` once: decisions are made per
    batch, so a batch holding all of an event's verdicts yields one decision, not several.
    """

    def __init__(self, policy: Policy, retention_s: float) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        self.policy = policy
        self.retention_s = retention_s
        self._table = JoinTable(lambda state: wake_at(state, policy, retention_s))
        self._touched: dict[tuple[str, str], None] = {}
        self._changes = Changes()

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
        self._table.adopt(partition, states)
        return len(states)

    def release(self, partition: str) -> None:
        """Stop owning ``partition``: its states leave memory (the changelog keeps them)."""
        self._table.release(partition)
        self._touched = {key: None for key in self._touched if key[0] != partition}

    # -- one micro-batch ------------------------------------------------------------------

    def rejection(self, partition: str, verdict: Verdict) -> str | None:
        """Why ``verdict`` must be dead-lettered instead of joined, else None."""
        state = self._table.get(partition, verdict.event_id)
        if state is not None and verdict.check in state.by_check:
            return None  # a duplicate: harmless, ignored by offer
        if state is not None and len(state.verdicts) >= MAX_CHECKS_PER_EVENT:
            return f"event {verdict.event_id} already has {MAX_CHECKS_PER_EVENT} checks' verdicts"
        return conflict_reason(state, verdict) or unusable_reason(self.policy, verdict)

    def offer(self, partition: str, verdict: Verdict, now: float) -> bool:
        """Record ``verdict`` (``partition`` must be owned); False if it was a duplicate."""
        state = record_verdict(self._table.get(partition, verdict.event_id), verdict, now)
        if state is None:
            log.debug("duplicate verdict %s/%s ignored", verdict.event_id, verdict.check)
            return False
        self._table.put(partition, state)
        self._changes.states[state.event_id] = state
        self._touched[(partition, state.event_id)] = None
        return True

    def settle(self, now: float) -> Changes:
        """Decide the joins touched since the last call, then fire due timeouts and expiries."""
        touched, self._touched = self._touched, {}
        for partition, event_id in touched:
            state = self._table.get(partition, event_id)
            if state is not None:
                self._decide(partition, state, now)
        for partition, state in self._table.due(now):
            if state.decided is None:
                self._decide(partition, state, now)
            elif is_expired(state, now, self.retention_s):
                self._table.remove(partition, state.event_id)
                self._changes.states[state.event_id] = None
        changes, self._changes = self._changes, Changes()
        return changes

    def __len__(self) -> int:
        """How many joins (open or decided, within retention) are held in memory."""
        return len(self._table)

    def _decide(self, partition: str, state: JoinState, now: float) -> None:
        new_state, decision = decide(state, self.policy, now)
        if decision is None:
            return
        self._table.put(partition, new_state)
        self._changes.states[new_state.event_id] = new_state
        self._changes.decisions.append(decision)
