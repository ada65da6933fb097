"""When each event's first decision became readable: the "visible" end of end-to-end latency.

A decision's ``decided_at`` is stamped when the decision service rules, before the transaction
that carries it commits; a ``read_committed`` reader sees it only after that commit. The bench
reports latency to the moment a reader got the decision, so it counts the commit, the markers
and the fetch as a downstream consumer meets them.

A thread of its own polls all along: the bench's main thread publishes (and, in between, waits
on its own watch), and neither delays the reading. At as-fast-as-possible loads the thread shares
the interpreter with the publisher, so those arrival times may lag by a few milliseconds more;
their latencies are seconds of queueing anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from streamjury.streams.base import StreamConsumer

POLL_RECORDS = 5_000
POLL_S = 0.05


class Arrivals:
    """Follows one stream and notes when each key was first read (``clock`` seconds)."""

    def __init__(self, consumer: StreamConsumer, clock: Callable[[], float] = time.time) -> None:
        self._consumer = consumer
        self._clock = clock
        self._first: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._follow, name="decision-arrivals", daemon=True)

    def start(self) -> Arrivals:
        self._thread.start()
        return self

    def first_read(self, keys: Collection[str], timeout_s: float = 10.0) -> dict[str, float]:
        """When each of ``keys`` was first read; waits (up to ``timeout_s``) for any still
        unread, since the caller's own reader may have got them a moment earlier."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = {key: self._first[key] for key in keys if key in self._first}
            if self._failure is not None:
                raise RuntimeError(f"the arrivals reader failed: {self._failure}")
            if len(found) == len(keys) or time.monotonic() >= deadline:
                return found
            time.sleep(POLL_S)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._consumer.close()

    def __enter__(self) -> Arrivals:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                records = self._consumer.poll(POLL_RECORDS, POLL_S)
                if not records:
                    continue
                now = self._clock()
                with self._lock:
                    for record in records:
                        self._first.setdefault(record.key, now)
        except BaseException as exc:  # reported to the caller by first_read
            self._failure = exc
