"""The consumer loop: poll a micro-batch, score it, write verdicts and dead letters, then commit.

Outputs are flushed durably before their inputs are committed, so a crash only ever repeats work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from consumers.batch import BatchResult, process_batch, source_of
from consumers.check import CheckModel, CheckSpec
from streamjury.errors import DeliveryError, FencedError, StreamError
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.schemas import utc_now
from streamjury.streams.base import OutRecord, Record, StreamConsumer, StreamProducer

log = logging.getLogger(__name__)

E = TypeVar("E", bound=StreamError)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """How the loop batches, retries and reports."""

    batch_size: int = 500
    batch_timeout_ms: int = 50
    """How long a batch may wait: for its first record, then for the rest to fill it."""
    flush_timeout_s: float = 30.0
    write_attempts: int = 4
    """Attempts at writing (or committing) one batch before the consumer gives up."""
    retry_backoff_s: float = 0.5
    """The first retry's delay; each further retry waits twice as long."""
    log_every_batches: int = 100

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.batch_timeout_ms < 1:
            # Zero would make an idle consumer spin on empty polls.
            raise ValueError(f"batch_timeout_ms must be at least 1, got {self.batch_timeout_ms}")
        if self.write_attempts < 1:
            raise ValueError(f"write_attempts must be at least 1, got {self.write_attempts}")


@dataclass(slots=True)
class RunStats:
    """Running totals since the runtime was built."""

    batches: int = 0
    records: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    lost_batches: int = 0
    """Batches written but not committed because another member took the partitions over."""
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        """Records per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.records / elapsed if elapsed > 0 else 0.0


class ConsumerRuntime:
    """Runs one check over one consumer until asked to stop; uses only the stream Protocols.

    Pass ``partitions_assigned`` / ``partitions_revoked`` to the backend's consumer as its
    ``on_assign`` / ``on_revoke``: records of revoked partitions are dropped from a batch still
    being collected, since the new owner will read them again from the last commit.
    """

    def __init__(
        self,
        spec: CheckSpec,
        model: CheckModel,
        producer: StreamProducer,
        *,
        verdict_stream: str,
        deadletter_stream: str,
        config: RuntimeConfig | None = None,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.stage = f"consumer:{spec.name}"
        self.config = config or RuntimeConfig()
        self.stats = RunStats()
        self._producer = producer
        self._verdict_stream = verdict_stream
        self._deadletter_stream = deadletter_stream
        self._now = now
        self._sleep = sleep
        self._metrics = metrics or NullMetrics()
        self._context = {"service": "consumer", "check": spec.name}
        """``extra=`` of every log line: JSON logs carry them as fields."""
        self._revoked: set[tuple[str, str]] = set()

    # -- rebalance callbacks -------------------------------------------------------------------

    def partitions_assigned(self, stream: str, partitions: Sequence[str]) -> None:
        log.info(
            "%s: assigned %s partitions %s",
            self.stage,
            stream,
            ", ".join(partitions),
            extra={**self._context, "stream": stream},
        )

    def partitions_revoked(self, stream: str, partitions: Sequence[str]) -> None:
        log.info(
            "%s: revoked %s partitions %s",
            self.stage,
            stream,
            ", ".join(partitions),
            extra={**self._context, "stream": stream},
        )
        self._revoked.update((stream, partition) for partition in partitions)

    # -- the loop ------------------------------------------------------------------------------

    def run(self, consumer: StreamConsumer, stop_requested: Callable[[], bool]) -> RunStats:
        """Process batches until ``stop_requested()``; the batch in hand is always finished.

        Raises DeliveryError (or StreamError) when outputs cannot be written or inputs cannot be
        committed after retries: nothing more is committed, so the inputs are redelivered.
        """
        log.info(
            "%s: running model %s, version %s (batch size %d, batch timeout %d ms)",
            self.stage,
            self.model.name,
            self.model.version,
            self.config.batch_size,
            self.config.batch_timeout_ms,
            extra=self._context,
        )
        while not stop_requested():
            self.run_once(consumer)
        log.info(
            "%s: stopped after %d records (%d verdicts, %d dead letters) in %d batches",
            self.stage,
            self.stats.records,
            self.stats.verdicts,
            self.stats.dead_letters,
            self.stats.batches,
            extra=self._context,
        )
        return self.stats

    def run_once(self, consumer: StreamConsumer) -> int:
        """Collect, process, write and commit one batch; the number of records it held."""
        batch = self._collect(consumer)
        if not batch:
            return 0
        result = process_batch(self.spec, self.model, batch, stage=self.stage, now=self._now)
        self._write(result)
        committed = self._commit(consumer, batch)
        self._metrics.observe_batch(
            records=len(batch),
            verdicts=result.verdicts,
            dead_letters=result.dead_letters,
            committed=committed,
        )
        self._count(result, committed)
        return len(batch)

    def _collect(self, consumer: StreamConsumer) -> list[Record]:
        """Up to ``batch_size`` records, waiting at most ``batch_timeout_ms`` after the first."""
        size = self.config.batch_size
        timeout = self.config.batch_timeout_ms / 1000
        batch = consumer.poll(size, timeout)
        # A poll returns records owned after any rebalance it ran; only earlier ones may be stale.
        self._revoked.clear()
        deadline = time.monotonic() + timeout
        while batch and len(batch) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = consumer.poll(size - len(batch), remaining)
            if self._revoked:
                batch = [r for r in batch if (r.stream, r.partition) not in self._revoked]
                batch.extend(more)
                break
            if not more:
                break
            batch.extend(more)
        return batch

    def _write(self, result: BatchResult) -> None:
        """Send and durably flush the batch's outputs, retrying with backoff.

        A failed flush may have dropped what was pending (Kafka does, once its own retries are
        exhausted), so each attempt re-sends the whole batch: duplicates are possible, loss is not.
        """
        verdicts = [OutRecord(v.event_id, v.to_bytes()) for v in result.verdicts]
        dead_letters = [
            OutRecord(o.record.key or str(source_of(o.record)), o.dead_letter.to_bytes())
            for o in result.outcomes
            if o.dead_letter is not None
        ]

        def send_and_flush() -> None:
            if verdicts:
                self._producer.send(self._verdict_stream, verdicts)
            if dead_letters:
                self._producer.send(self._deadletter_stream, dead_letters)
            self._producer.flush(self.config.flush_timeout_s)

        self._retry(send_and_flush, DeliveryError, "write outputs")

    def _commit(self, consumer: StreamConsumer, batch: Sequence[Record]) -> bool:
        """Commit the batch; False if this member no longer owns its partitions."""
        try:
            self._retry(lambda: consumer.commit(batch), StreamError, "commit", give_up=FencedError)
        except FencedError:
            log.warning(
                "%s: partitions taken over before commit; the new owner redoes %d records",
                self.stage,
                len(batch),
                extra=self._context,
            )
            return False
        return True

    def _retry(
        self,
        action: Callable[[], None],
        retry_on: type[E],
        what: str,
        *,
        give_up: type[StreamError] | None = None,
    ) -> None:
        """Run ``action``, retrying ``retry_on`` errors with exponential backoff, then re-raise."""
        attempts = self.config.write_attempts
        for attempt in range(1, attempts + 1):
            try:
                action()
                return
            except retry_on as exc:
                if give_up is not None and isinstance(exc, give_up):
                    raise
                if attempt == attempts:
                    log.error(
                        "%s: could not %s after %d attempts; stopping without committing, "
                        "so the batch is redelivered: %s",
                        self.stage,
                        what,
                        attempts,
                        exc,
                        extra=self._context,
                    )
                    raise
                delay = self.config.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "%s: could not %s (attempt %d of %d), retrying in %.1fs: %s",
                    self.stage,
                    what,
                    attempt,
                    attempts,
                    delay,
                    exc,
                    extra=self._context,
                )
                self._sleep(delay)

    def _count(self, result: BatchResult, committed: bool) -> None:
        stats = self.stats
        stats.batches += 1
        if not committed:
            stats.lost_batches += 1
            return
        stats.records += len(result.outcomes)
        dead = sum(1 for o in result.outcomes if o.dead_letter is not None)
        stats.dead_letters += dead
        stats.verdicts += len(result.outcomes) - dead
        if stats.batches % self.config.log_every_batches == 0:
            log.info(
                "%s: %d batches, %d records (%d verdicts, %d dead letters), %.0f records/s",
                self.stage,
                stats.batches,
                stats.records,
                stats.verdicts,
                stats.dead_letters,
                stats.rate(),
                extra=self._context,
            )
