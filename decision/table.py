"""The joins one service instance owns, grouped by partition, with a timer queue.

Partition-aware so an instance that owns some partitions restores and drops exactly those.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from decision.live_join import Join

WakeAt = Callable[[Join], float]


class JoinTable:
    """event_id -> Join per owned partition, and when each join next needs attention.

    Each join carries the time its timer is set for (``Join.wake``). The timer queue holds
    ``(when, partition, event_id)`` entries, pushed whenever a join's wake time changes; an
    entry whose time no longer matches its join's is stale and skipped when popped, so nothing
    ever has to be removed from the middle of the heap and no open join is ever scanned. A held
    partition's due entries are parked aside and pushed back when it resumes.
    """

    def __init__(self, wake_at: WakeAt) -> None:
        self._wake_at = wake_at
        self._partitions: dict[str, dict[str, Join]] = {}
        self._timers: list[tuple[float, str, str]] = []
        self._parked: dict[str, list[tuple[float, str, str]]] = {}
        """Held partition -> its due timer entries, kept until it resumes."""

    def owns(self, partition: str) -> bool:
        return partition in self._partitions

    def owned(self) -> list[str]:
        return list(self._partitions)

    def adopt(self, partition: str, joins: dict[str, Join]) -> None:
        """Take ownership of ``partition`` with its restored ``joins`` (replacing any held)."""
        self._partitions[partition] = dict(joins)
        for join in joins.values():
            self._schedule(partition, join)

    def release(self, partition: str) -> None:
        """Forget ``partition`` and its joins; their timers go stale."""
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

    def joins(self, partition: str) -> dict[str, Join]:
        """The owned ``partition``'s joins by event_id, to look up and add to (``add``)."""
        return self._partitions[partition]

    def get(self, partition: str, event_id: str) -> Join | None:
        return self._partitions[partition].get(event_id)

    def add(self, partition: str, join: Join) -> None:
        """Hold the new ``join`` and set its timer."""
        self._partitions[partition][join.event_id] = join
        self._schedule(partition, join)

    def changed(self, partition: str, join: Join) -> None:
        """``join`` changed in place: set its timer again if its wake time moved."""
        if self._wake_at(join) != join.wake:
            self._schedule(partition, join)

    def remove(self, partition: str, event_id: str) -> None:
        self._partitions[partition].pop(event_id, None)

    def due(self, now: float) -> Iterator[tuple[str, Join]]:
        """Pop and yield (partition, join) for every live timer at or before ``now``."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            when, partition, event_id = entry
            parked = self._parked.get(partition)
            if parked is not None:
                parked.append(entry)
                continue
            join = self._partitions.get(partition, {}).get(event_id)
            if join is not None and join.wake == when:
                yield partition, join

    def __len__(self) -> int:
        return sum(len(joins) for joins in self._partitions.values())

    def _schedule(self, partition: str, join: Join) -> None:
        join.wake = when = self._wake_at(join)
        heapq.heappush(self._timers, (when, partition, join.event_id))
