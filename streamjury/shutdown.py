"""Graceful shutdown for long-running services: SIGINT/SIGTERM ask the main loop to stop.

The loop polls ``stop_requested`` between batches, so it can finish, flush and commit first.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulShutdown:
    """A context manager that turns stop signals into a flag, and restores the old handlers on exit.

    The first signal only sets the flag; a second one raises KeyboardInterrupt, so a stuck service
    can still be interrupted (it then commits nothing more, and its inputs are redelivered).
    Usable as a ``Callable[[], bool]``: ``shutdown()`` is ``shutdown.stop_requested``.
    """

    def __init__(self, signals: Sequence[signal.Signals] = DEFAULT_SIGNALS) -> None:
        self._signals = tuple(signals)
        self._stop = threading.Event()
        self._previous: dict[signal.Signals, Any] = {}
        self.signal_name: str | None = None
        """The name of the signal that asked to stop, if one did."""

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def __call__(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the loop to stop, as a signal would (for other threads, tests and embedders)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a stop is requested or ``timeout`` passes; True if a stop was requested."""
        return self._stop.wait(timeout)

    def __enter__(self) -> GracefulShutdown:
        if threading.current_thread() is not threading.main_thread():
            # Python only delivers signals to the main thread; the flag still works by hand.
            log.debug("not the main thread: stop signals are not intercepted")
            return self
        for signum in self._signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop.is_set():
            raise KeyboardInterrupt(f"second stop signal ({name})")
        self.signal_name = name
        self._stop.set()
        log.info("received %s: finishing the current batch, then stopping", name)
