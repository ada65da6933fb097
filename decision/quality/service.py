"""The quality service loop: poll verdicts, shadow pairs and outcomes, join them, export, commit.

Nothing is written, so a batch is done once it is folded into the join and the metrics; only then
are its offsets committed. A record that cannot be read is logged and skipped: dead-lettering
verdicts is the decision service's job, and this service only observes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from decision.quality.join import Error, QualityJoin
from decision.quality.metrics import NullQualityMetrics, QualityMetrics
from models.shadow import ShadowVerdict
from streamjury.errors import FencedError, InvalidEvent
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.schemas import RideCompleted, Verdict, parse_model
from streamjury.streams.base import Record, StreamConsumer
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)
STAGE = "quality"


@dataclass(frozen=True, slots=True)
class QualityConfig:
    batch_size: int = 500
    batch_timeout_s: float = 0.2


@dataclass(slots=True)
class QualityStats:
    """Counters for logs and tests."""

    records: int = 0
    errors: int = 0
    """Predictions that met their outcome."""
    unreadable: int = 0
    lost_batches: int = 0


class QualityService:
    """One member of the quality group; ``step()`` does one batch (tests drive it directly)."""

    def __init__(
        self,
        consumer: StreamConsumer,
        join: QualityJoin,
        streams: StreamNames,
        config: QualityConfig | None = None,
        *,
        metrics: Metrics | None = None,
        quality: QualityMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._join = join
        self._streams = streams
        self._config = config or QualityConfig()
        self._metrics = metrics or NullMetrics()
        self._quality = quality or NullQualityMetrics()
        self.stats = QualityStats()

    def run(self, stop_requested: Callable[[], bool]) -> QualityStats:
        """Process batches until ``stop_requested()``; the batch in hand always finishes."""
        while not stop_requested():
            self.step()
        log.info(
            "quality service stopped: %d records, %d predictions met their outcome, "
            "%d duplicates, %d unreadable",
            self.stats.records,
            self.stats.errors,
            self._join.duplicates,
            self.stats.unreadable,
            extra={"service": STAGE},
        )
        return self.stats

    def step(self) -> int:
        """One batch: join it, export its errors, then commit it; records consumed."""
        records = self._consumer.poll(self._config.batch_size, self._config.batch_timeout_s)
        errors: list[Error] = []
        for record in records:
            errors.extend(self._offer(record))
        expired = self._join.expire()
        self._quality.observe(errors, expired, len(self._join), self._join.duplicates)
        if not records:
            return 0
        committed = True
        try:
            self._consumer.commit(records)
        except FencedError as exc:  # the new owner reads them again: duplicates, never loss
            committed = False
            self.stats.lost_batches += 1
            log.warning("batch not committed: %s", exc, extra={"service": STAGE})
        self._metrics.observe_batch(records=len(records), committed=committed)
        self.stats.records += len(records)
        self.stats.errors += len(errors)
        return len(records)

    def _offer(self, record: Record) -> list[Error]:
        try:
            if record.stream == self._streams.verdicts:
                verdict = parse_model(Verdict, record.value)
                return self._join.prediction(verdict, verdict.arm or "live")
            if record.stream == self._streams.verdicts_shadow:
                pair = parse_model(ShadowVerdict, record.value)
                return self._join.prediction(pair.shadow, "shadow")
            if record.stream == self._streams.outcomes:
                return self._join.outcome(parse_model(RideCompleted, record.value))
        except InvalidEvent as exc:
            self.stats.unreadable += 1
            log.warning(
                "skipping unreadable %s/%s@%d: %s",
                record.stream,
                record.partition,
                record.offset,
                exc.reason,
                extra={"service": STAGE, "stream": record.stream, "partition": record.partition},
            )
        return []
