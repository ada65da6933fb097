"""The one retry/backoff policy: how many attempts, how long to wait between them, with what jitter.

Every retry loop uses it: the consumer runtime's writes and commits, Kinesis PutRecords, the
Lambda SQS sink, and a Kinesis shard's back-off; what is re-sent stays the caller's decision.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")
Jitter = Literal["none", "full"]
"""``none``: wait exactly the backoff. ``full``: wait uniform(0, backoff), which spreads out
clients that failed together (AWS's advice for throttled calls)."""
Sleep = Callable[[float], None]
Clock = Callable[[], float]
OnRetry = Callable[[int, float, Exception], None]
"""Told (attempt that failed, seconds until the next, its error) before each wait."""

_MAX_DOUBLINGS = 64
"""Beyond this the backoff is astronomically past any cap; stops ``2**n`` overflowing a float."""
_shared_rng = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: retry n waits ``min(max_delay_s, base_delay_s * 2**(n-1))``, jittered.

    ``attempts`` counts every try, the first included: 1 means never retry.
    """

    attempts: int = 8
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must not be negative")
        if self.jitter not in ("none", "full"):
            raise ValueError(f"jitter must be 'none' or 'full', got {self.jitter!r}")

    def backoff(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        doublings = min(max(retry - 1, 0), _MAX_DOUBLINGS)
        return min(self.max_delay_s, self.base_delay_s * 2**doublings)

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """How long to wait before retry number ``retry``: the backoff, jittered by ``rng``."""
        ceiling = self.backoff(retry)
        if self.jitter == "none":
            return ceiling
        return (rng or _shared_rng).uniform(0, ceiling)

    def gives_up(self, failures: int) -> bool:
        """Whether ``failures`` failed attempts in a row have used the policy up."""
        return failures >= self.attempts

    def tries(
        self,
        *,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
        deadline: float | None = None,
    ) -> Iterator[int]:
        """Attempt numbers 1, 2, ... up to ``attempts``, sleeping the delay before each retry.

        For loops whose attempts carry state (re-send only what failed): the caller breaks out
        when done. Stops early, without sleeping, if the wait would end after ``deadline``
        (a ``clock()`` reading).
        """
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                wait = self.delay(attempt - 1, rng)
                if deadline is not None and clock() + wait > deadline:
                    return
                sleep(wait)
            yield attempt

    def call(
        self,
        action: Callable[[], T],
        *,
        retry_on: type[Exception] | tuple[type[Exception], ...],
        give_up_on: type[Exception] | tuple[type[Exception], ...] = (),
        on_retry: OnRetry | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> T:
        """``action()``, retried on ``retry_on`` errors until it returns or attempts run out.

        The last error is re-raised once attempts are used up; a ``give_up_on`` error (even a
        subclass of ``retry_on``) and any other error are raised at once.
        """
        attempt = 1
        while True:
            try:
                return action()
            except give_up_on:
                raise
            except retry_on as exc:
                if self.gives_up(attempt):
                    raise
                wait = self.delay(attempt, rng)
                if on_retry is not None:
                    on_retry(attempt, wait, exc)
                sleep(wait)
                attempt += 1
