"""Readiness: the named conditions a service waits for before it can do its work.

A consumer waits for ``model`` (loaded and verified) and ``assignment`` (owns partitions);
``/readyz`` answers 200 only when none is pending. Thread-safe: set by the service, read by HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

MODEL = "model"
ASSIGNMENT = "assignment"


class Readiness:
    """A set of pending conditions; ready when it is empty.

    ``on_change(ready)`` is called whenever readiness flips (and once at construction), so a
    gauge can follow it.
    """

    def __init__(
        self, waits_for: Iterable[str], on_change: Callable[[bool], None] | None = None
    ) -> None:
        self._conditions = frozenset(waits_for)
        self._pending = set(self._conditions)
        self._details: dict[str, Callable[[], object]] = {}
        self._lock = threading.Lock()
        self._on_change = on_change
        if on_change is not None:
            on_change(not self._pending)

    @property
    def ready(self) -> bool:
        with self._lock:
            return not self._pending

    def pending(self) -> list[str]:
        """The conditions still unmet, sorted, for the ``/readyz`` body."""
        with self._lock:
            return sorted(self._pending)

    def add_details(self, name: str, describe: Callable[[], object]) -> None:
        """Show ``describe()`` (JSON-able) under ``details.<name>`` in every ``/readyz`` answer."""
        with self._lock:
            self._details[name] = describe

    def details(self) -> dict[str, object]:
        with self._lock:
            describers = dict(self._details)
        return {name: describe() for name, describe in describers.items()}

    def set(self, condition: str, met: bool = True) -> None:
        """Mark ``condition`` met (or unmet again); a condition not waited for is an error."""
        if condition not in self._conditions:
            known = ", ".join(sorted(self._conditions)) or "nothing"
            raise ValueError(f"unknown readiness condition {condition!r}: waits for {known}")
        with self._lock:
            was_ready = not self._pending
            if met:
                self._pending.discard(condition)
            else:
                self._pending.add(condition)
            now_ready = not self._pending
        if now_ready != was_ready and self._on_change is not None:
            self._on_change(now_ready)
