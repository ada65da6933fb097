"""Time as a dependency: the system clock for real runs, a fake one that tests move by hand.

Anything that paces or times itself takes a ``Clock``, so its tests never wait on the wall clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

FAKE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""Where a FakeClock's wall time starts unless told otherwise: fixed, so test output is stable."""


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for intervals, and a way to wait."""

    def now(self) -> datetime:
        """The current wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards. Use it for intervals."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing for zero or less)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when slept on or advanced: deterministic timing for tests.

    Sleeping returns at once and moves both the wall and the monotonic time forward; ``sleeps``
    keeps every requested wait so a test can assert how something paced itself.
    """

    def __init__(self, start: datetime = FAKE_EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("a FakeClock needs a timezone-aware start time")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping (a slow call, a stalled process)."""
        if seconds > 0:
            self._elapsed += seconds
