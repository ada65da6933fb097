"""The join states one service instance owns, grouped by partition, with a timer queue.

Partition-aware so an instance that owns some partitions restores and drops exactly those.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from decision.join_state import JoinState

WakeAt = Callable[[JoinState], float]


class JoinTable:
    """event_id -> JoinState per owned partition, and when each state next needs attention.

    The timer queue holds ``(when, partition, event_id)`` entries, pushed whenever a state's
    wake time changes; an entry whose time no longer matches its state's is stale and skipped
    when popped, so nothing ever has to be removed from the middle of the heap.
    """

    def __init__(self, wake_at: WakeAt) -> None:
        self._wake_at = wake_at
        self._partitions: dict[str, dict[str, JoinState]] = {}
        self._timers: list[tuple[float, str, str]] = []

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
            when, partition, event_id = heapq.heappop(self._timers)
            state = self._partitions.get(partition, {}).get(event_id)
            if state is not None and self._wake_at(state) == when:
                yield partition, state

    def __len__(self) -> int:
        return sum(len(states) for states in self._partitions.values())

    def _push(self, partition: str, state: JoinState) -> None:
        heapq.heappush(self._timers, (self._wake_at(state), partition, state.event_id))
