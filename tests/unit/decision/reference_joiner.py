"""The joiner as it was before its join state became plain objects: the reference its
replacement is compared with (``test_decision_joiner_equivalence.py``).

It is ``decision/joiner.py`` and ``decision/table.py`` of commit 50ee5ff, unchanged but for the
names and for ruling on each verdict as it is offered (as the joiner now does, so decisions do not
depend on where batches are cut): one immutable ``JoinState`` per change, through
``join_state``'s pure functions.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from decision.join_state import (
    JoinState,
    conflict_reason,
    decide,
    duplicate_conflict,
    is_expired,
    record_verdict,
    wake_at,
)
from decision.joiner import MAX_CHECKS_PER_EVENT
from decision.policy import Policy
from decision.rules import unusable_reason
from streamjury.errors import InvalidEvent
from streamjury.schemas import Decision, Verdict

log = logging.getLogger(__name__)

WakeAt = Callable[[JoinState], float]


class ReferenceTable:
    """event_id -> JoinState per owned partition, and when each state next needs attention.

    The timer queue holds ``(when, partition, event_id)`` entries, pushed whenever a state's
    wake time changes; an entry whose time no longer matches its state's is stale and skipped
    when popped, so nothing ever has to be removed from the middle of the heap. A held
    partition's due entries are parked aside and pushed back when it resumes.
    """

    def __init__(self, wake_at: WakeAt) -> None:
        self._wake_at = wake_at
        self._partitions: dict[str, dict[str, JoinState]] = {}
        self._timers: list[tuple[float, str, str]] = []
        self._parked: dict[str, list[tuple[float, str, str]]] = {}
        """Held partition -> its due timer entries, kept until it resumes."""

    def owns(self, partition: str) -> bool:
        return partition in self._partitions

    def owned(self) -> list[str]:
        return list(self._partitions)

    def adopt(self, partition: str, states: dict[str, JoinState]) -> None:
        """Take ownership of ``partition`` with its restored ``states`` (replacing any held)."""
        self._partitions[partition] = dict(states)
        for state in states.values():
            self._push(partition, state)

    def release(self, partition: str) -> None:
        """Forget ``partition`` and its states; their timers go stale."""
        self._partitions.pop(partition, None)
        self._parked.pop(partition, None)

    def hold(self, partition: str) -> None:
        """Yield none of ``partition``'s timers from ``due`` until ``resume``."""
        self._parked.setdefault(partition, [])

    def resume(self, partition: str) -> None:
        for entry in self._parked.pop(partition, []):
            heapq.heappush(self._timers, entry)

    def held(self) -> list[str]:
        return list(self._parked)

    def is_held(self, partition: str) -> bool:
        return partition in self._parked

    def get(self, partition: str, event_id: str) -> JoinState | None:
        return self._partitions[partition].get(event_id)

    def put(self, partition: str, state: JoinState) -> None:
        states = self._partitions[partition]
        previous = states.get(state.event_id)
        states[state.event_id] = state
        if previous is None or self._wake_at(previous) != self._wake_at(state):
            self._push(partition, state)

    def remove(self, partition: str, event_id: str) -> None:
        self._partitions[partition].pop(event_id, None)

    def due(self, now: float) -> Iterator[tuple[str, JoinState]]:
        """Pop and yield (partition, state) for every live timer at or before ``now``."""
        while self._timers and self._timers[0][0] <= now:
            entry = heapq.heappop(self._timers)
            when, partition, event_id = entry
            parked = self._parked.get(partition)
            if parked is not None:
                parked.append(entry)
                continue
            state = self._partitions.get(partition, {}).get(event_id)
            if state is not None and self._wake_at(state) == when:
                yield partition, state

    def __len__(self) -> int:
        return sum(len(states) for states in self._partitions.values())

    def _push(self, partition: str, state: JoinState) -> None:
        heapq.heappush(self._timers, (self._wake_at(state), partition, state.event_id))


@dataclass(slots=True)
class ReferenceChanges:
    """What one micro-batch produced: decisions to publish and state records to write.

    ``states`` maps event_id to its latest state, or to None when the state was dropped
    (written as a tombstone so the compacted changelog forgets it too).
    """

    decisions: list[Decision] = field(default_factory=list)
    states: dict[str, JoinState | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.states)


class ReferenceJoiner:
    """Records verdicts, decides under the policy, times joins out and expires decided ones.

    Each offered verdict is ruled on at once; ``settle`` fires due timers and hands over the
    batch's changes.
    """

    def __init__(self, policy: Policy, retention_s: float) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        self.policy = policy
        self.retention_s = retention_s
        self._table = ReferenceTable(lambda state: wake_at(state, policy, retention_s))
        self._changes = ReferenceChanges()

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
        state = self._table.get(partition, verdict.event_id)
        if state is not None and verdict.check in state.by_check:
            return duplicate_conflict(state, verdict)  # None: harmless, ignored by offer
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
        self._decide(partition, state, now)
        return True

    def settle(self, now: float) -> ReferenceChanges:
        """Fire due timeouts and expiries, then hand over the batch's changes."""
        for partition, state in self._table.due(now):
            if state.decided is None:
                self._decide(partition, state, now)
            elif is_expired(state, now, self.retention_s):
                self._table.remove(partition, state.event_id)
                self._changes.states[state.event_id] = None
        changes, self._changes = self._changes, ReferenceChanges()
        return changes

    def __len__(self) -> int:
        """How many joins (open or decided, within retention) are held in memory."""
        return len(self._table)

    def _decide(self, partition: str, state: JoinState, now: float) -> None:
        may_time_out = not self._table.is_held(partition)
        new_state, decision = decide(state, self.policy, now, may_time_out=may_time_out)
        if decision is None:
            return
        self._table.put(partition, new_state)
        self._changes.states[new_state.event_id] = new_state
        self._changes.decisions.append(decision)
