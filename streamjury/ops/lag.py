"""Consumer lag, sampled off the hot path: how far each owned partition is behind its end.

Kafka and the local log: the partition's end offset minus the group's committed offset, in
records. Kinesis: sequence numbers are not dense, so the consumer's MillisBehindLatest instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from streamjury.ops.metrics import Metrics
from streamjury.streams.base import Backend

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 15.0
"""Prometheus' default scrape interval: sampling more often would only load the broker."""


@runtime_checkable
class ReportsBehind(Protocol):
    """A consumer that knows how far behind the newest record it is (Kinesis GetRecords'
    ``MillisBehindLatest``). Called from the lag thread, so it must return a copy."""

    def millis_behind_latest(self) -> Mapping[str, Mapping[str, int]]:
        """Stream -> shard -> milliseconds behind the newest record, for owned shards."""
        ...


class OwnedPartitions:
    """The latest assignment a consumer reported, shared between its thread and the lag thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: dict[str, list[str]] = {}

    def update(self, assignment: Mapping[str, Sequence[str]]) -> bool:
        """Record ``assignment``; True if it holds at least one partition."""
        owned = {stream: sorted(parts) for stream, parts in assignment.items() if parts}
        with self._lock:
            self._owned = owned
        return bool(owned)

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {stream: list(parts) for stream, parts in self._owned.items()}


class LagMonitor:
    """Samples the lag of ``group``'s owned partitions every ``interval_s`` on a daemon thread.

    Failures (a broker briefly unreachable) are logged and the next sample tries again: lag is
    for dashboards and must never stop the service.
    """

    def __init__(
        self,
        backend: Backend,
        group: str,
        owned: OwnedPartitions,
        metrics: Metrics,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        behind: ReportsBehind | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._backend = backend
        self._group = group
        self._owned = owned
        self._metrics = metrics
        self._interval_s = interval_s
        self._behind = behind
        self._streams: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lag-{self._group}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sample(self) -> None:
        """Take one sample now and set the gauges; raises what the backend raises."""
        owned = self._owned.snapshot()
        for gone in self._streams - set(owned):
            self._metrics.set_lag_records(gone, {})
            self._metrics.set_lag_seconds(gone, {})
        self._streams = set(owned)
        behind = self._behind.millis_behind_latest() if self._behind is not None else None
        for stream, partitions in owned.items():
            if behind is not None:
                millis = behind.get(stream, {})
                seconds = {p: millis[p] / 1000 for p in partitions if p in millis}
                self._metrics.set_lag_seconds(stream, seconds)
            if self._backend.name == "kinesis":
                continue  # sequence-number distance is not a record count
            end = self._backend.end_offsets(stream)
            committed = self._backend.committed(stream, self._group)
            lag = {p: max(0, end.get(p, 0) - committed.get(p, 0)) for p in partitions}
            self._metrics.set_lag_records(stream, lag)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sample()
            except Exception as exc:  # any failure: report, retry next interval
                level = logging.DEBUG if self._failing else logging.WARNING
                log.log(level, "could not sample the lag of group %s: %s", self._group, exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("lag of group %s is sampled again", self._group)
                self._failing = False
