"""Sends records in batches, paced to a schedule that is measured against an injected clock.

Batching is where throughput comes from (one send and one flush per batch, never per record);
pacing only decides when a batch may go, and never lets a record go before its time.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from streamjury.clock import Clock
from streamjury.errors import ConfigError
from streamjury.streams.base import OutRecord, StreamProducer

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
DEFAULT_TICK_S = 0.005
"""Shortest wait between paced sends: at high rates every send carries what fell due meanwhile."""
EPSILON_S = 1e-9
"""Float slack when comparing times, so that a record due 'now' is not kept a whole tick."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record bound for one (physical) stream; ``occurred_at`` is for event-time pacing."""

    stream: str
    record: OutRecord
    occurred_at: datetime | None = None


class Pacing(Protocol):
    """When each record may be sent, in seconds after the start of a run."""

    max_lateness: float
    """How far behind schedule a run may fall and still catch up; beyond it the schedule slides."""

    def due(self, item: Outgoing) -> float:
        """The earliest send time of ``item``; called once per item, in order."""
        ...

    def finish(self) -> float:
        """When the run is over: the end of the last item's slot (so N items at R/s take N/R s)."""
        ...


class Unpaced:
    """As fast as possible: everything is due at once."""

    max_lateness = math.inf

    def due(self, item: Outgoing) -> float:
        return 0.0

    def finish(self) -> float:
        return 0.0


class SteadyRate:
    """Item i is due at i / rate: a steady rate however the items are batched.

    A run that falls behind (a slow flush, a paused process) catches up at most ``burst`` items
    at once; time lost beyond that is not made up, so a stall never turns into a flood.
    """

    def __init__(self, rate: float, burst: int = DEFAULT_BATCH_SIZE) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"rate must be a positive number of events per second, got {rate}")
        if burst < 1:
            raise ConfigError(f"burst must be at least 1, got {burst}")
        self.rate = rate
        self.max_lateness = (burst - 1) / rate
        self._count = 0

    def due(self, item: Outgoing) -> float:
        due = self._count / self.rate
        self._count += 1
        return due

    def finish(self) -> float:
        return self._count / self.rate


@dataclass(slots=True)
class PublishStats:
    """What a run has sent so far, per stream, and how long it took."""

    per_stream: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.per_stream.values())

    @property
    def events_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else math.inf


BatchCallback = Callable[[PublishStats], None]
"""Called after every batch is durably written (progress bars, logs)."""


class Publisher:
    """Sends items through one producer in batches of at most ``batch_size``, on schedule.

    A batch goes when it is full or when the next item is not yet due; then the publisher sleeps
    until that item is due, but at least ``tick``, so at high rates each send carries many items.
    """

    def __init__(
        self,
        producer: StreamProducer,
        clock: Clock,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tick: float = DEFAULT_TICK_S,
        on_batch: BatchCallback | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if tick < 0:
            raise ConfigError(f"tick must not be negative, got {tick}")
        self._producer = producer
        self._clock = clock
        self._batch_size = batch_size
        self._tick = tick
        self._on_batch = on_batch

    def publish(self, items: Iterable[Outgoing], pacing: Pacing | None = None) -> PublishStats:
        """Send every item, durably, no earlier than ``pacing`` allows; return what was sent."""
        pacing = pacing or Unpaced()
        stats = PublishStats()
        start = self._clock.monotonic()
        shift = 0.0  # how far the schedule has slid after falling too far behind
        batch: list[Outgoing] = []
        for item in items:
            due = pacing.due(item) + shift
            elapsed = self._clock.monotonic() - start
            if due > elapsed + EPSILON_S and batch:
                self._send(batch, stats, start)  # what is due goes before we wait
                batch = []
                elapsed = self._clock.monotonic() - start
            if due > elapsed + EPSILON_S:
                self._clock.sleep(max(due - elapsed, self._tick))
            elif elapsed - due > pacing.max_lateness:
                late_by = elapsed - due - pacing.max_lateness
                shift += late_by
                log.debug("%.3f s behind schedule: sliding the schedule", late_by)
            batch.append(item)
            if len(batch) >= self._batch_size:
                self._send(batch, stats, start)
                batch = []
        if batch:
            self._send(batch, stats, start)
        remaining = pacing.finish() + shift - (self._clock.monotonic() - start)
        if remaining > EPSILON_S:
            self._clock.sleep(remaining)
        stats.seconds = self._clock.monotonic() - start
        return stats

    def _send(self, batch: Sequence[Outgoing], stats: PublishStats, start: float) -> None:
        """One send per stream and one flush: the batch is durable when this returns."""
        by_stream: dict[str, list[OutRecord]] = {}
        for item in batch:
            by_stream.setdefault(item.stream, []).append(item.record)
        for stream, records in by_stream.items():
            self._producer.send(stream, records)
        self._producer.flush()
        for stream, records in by_stream.items():
            stats.per_stream[stream] += len(records)
        stats.batches += 1
        stats.seconds = self._clock.monotonic() - start
        if self._on_batch is not None:
            self._on_batch(stats)
