"""The consumer loop: poll a micro-batch, score it, write verdicts and dead letters, then commit.

Outputs are flushed durably before their inputs are committed, so a crash only ever repeats work.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from consumers.batch import process_checks
from consumers.check import CheckModel, CheckSpec
from consumers.outcomes import BatchResult
from streamjury.errors import DeliveryError, FencedError, PartialDeliveryError, StreamError
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.retry import RetryPolicy
from streamjury.schemas import MAX_DEAD_LETTER_BYTES, utc_now
from streamjury.streams.base import OutRecord, Record, StreamConsumer, StreamProducer

log = logging.getLogger(__name__)

E = TypeVar("E", bound=StreamError)


class StopDuringRetry(Exception):
    """A stop was requested while a write or commit was being retried: the batch in hand is
    left uncommitted (its inputs are redelivered to whoever reads next), and the loop ends."""


SideOutputs = Callable[[Sequence[Record], BatchResult], Mapping[str, list[OutRecord]]]
"""Given a batch and what it became, more records to write with it, by stream."""
Scorer = Callable[[CheckModel, Sequence[Record]], BatchResult]
"""Given the live model and a batch, what the batch became."""


@dataclass(frozen=True, slots=True)
class AlsoScored:
    """Another check of the same input stream, scored from the same parse of every batch.

    Co-located checks share one consumer, one parse per event and one write and commit per
    batch; each still writes its own verdicts, under its own name and model version.
    """

    spec: CheckSpec
    model: Callable[[], CheckModel]
    """The live model, asked for as each batch starts (it may follow a rollout)."""


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
    deadletter_max_bytes: int = MAX_DEAD_LETTER_BYTES
    """The largest dead letter the dead-letter stream accepts; originals are cut to fit."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.batch_timeout_ms < 1:
            # Zero would make an idle consumer spin on empty polls.
            raise ValueError(f"batch_timeout_ms must be at least 1, got {self.batch_timeout_ms}")
        if self.write_attempts < 1:
            raise ValueError(f"write_attempts must be at least 1, got {self.write_attempts}")

    @property
    def retry_policy(self) -> RetryPolicy:
        """Writes and commits: ``write_attempts`` tries, the wait doubling from the first."""
        return RetryPolicy(
            attempts=self.write_attempts,
            base_delay_s=self.retry_backoff_s,
            max_delay_s=math.inf,
            jitter="none",
        )


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
        models: Callable[[], CheckModel] | None = None,
        side_outputs: SideOutputs | None = None,
        scorer: Scorer | None = None,
        also: Sequence[AlsoScored] = (),
    ) -> None:
        if also and (scorer is not None or side_outputs is not None):
            raise ValueError("a canary or shadow model needs its check to run alone")
        self.spec = spec
        self.model = model
        self._models = models
        """Asked for the model as each batch starts (a rollout swaps versions between batches)."""
        self._side_outputs = side_outputs
        self._scorer = scorer
        """Scores a batch instead of ``process_batch`` with the model (a canary splits it)."""
        """More records per batch (a shadow model's verdicts), written and flushed with it."""
        self._also = tuple(also)
        self.name = "+".join([spec.name, *(other.spec.name for other in self._also)])
        """The check, or the co-located checks (``duration+tip``), in logs and stages."""
        self.stage = f"consumer:{self.name}"
        self.config = config or RuntimeConfig()
        self.stats = RunStats()
        self._producer = producer
        self._verdict_stream = verdict_stream
        self._deadletter_stream = deadletter_stream
        self._now = now
        self._sleep = sleep
        self._metrics = metrics or NullMetrics()
        self._context = {"service": "consumer", "check": self.name}
        """``extra=`` of every log line: JSON logs carry them as fields."""
        self._revoked: set[tuple[str, str]] = set()
        self._stop_requested: Callable[[], bool] = lambda: False

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
        committed after retries: nothing more is committed, so the inputs are redelivered. A
        stop requested while a write or commit is being retried ends the retries (an
        orchestrator's termination grace is shorter than a full retry schedule): that batch is
        left uncommitted, to be redone by the next reader, and the run ends normally.
        """
        self._stop_requested = stop_requested
        models = [self.model, *(other.model() for other in self._also)]
        log.info(
            "%s: running %s (batch size %d, batch timeout %d ms)",
            self.stage,
            ", ".join(f"model {model.name}, version {model.version}" for model in models),
            self.config.batch_size,
            self.config.batch_timeout_ms,
            extra=self._context,
        )
        try:
            while not stop_requested():
                self.run_once(consumer)
        except StopDuringRetry:
            log.warning(
                "%s: asked to stop while retrying a write or commit; the batch in hand is not "
                "committed, so it is redelivered",
                self.stage,
                extra=self._context,
            )
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
        if self._models is not None:
            self.model = self._models()  # one model for the whole batch
        batch = self._collect(consumer)
        if not batch:
            return 0
        if self._scorer is not None:
            result = self._scorer(self.model, batch)
        else:  # this check and those scored with it (co-located), from one parse of the batch
            result = process_checks(
                [(self.spec, self.model), *((other.spec, other.model()) for other in self._also)],
                batch,
                stage=self.stage,
                now=self._now,
                deadletter_max_bytes=self.config.deadletter_max_bytes,
            )
        extra = self._side_outputs(batch, result) if self._side_outputs is not None else {}
        self._write(result, extra)
        committed = self._commit(consumer, batch)
        self._metrics.observe_batch(
            records=len(batch),
            verdicts=result.verdict_outcomes(),
            dead_letters=result.dead_letters,
            committed=committed,
        )
        self._count(len(batch), result, committed)
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

    def _write(self, result: BatchResult, extra: Mapping[str, list[OutRecord]]) -> None:
        """Send and durably flush the batch's outputs, retrying with backoff.

        A failed flush may have dropped what was pending (Kafka does, once its own retries are
        exhausted). A producer that says which records were not written (PartialDeliveryError
        with ``by_stream``, as Kafka's does) gets only those again; otherwise each attempt
        re-sends the whole batch: duplicates are possible, loss is not.
        """
        outputs = result.output_records()
        verdicts, dead_letters = outputs.verdicts, outputs.dead_letters
        side = dict(extra)

        def send_and_flush() -> None:
            nonlocal verdicts, dead_letters, side
            if verdicts:
                self._producer.send(self._verdict_stream, verdicts)
            if dead_letters:
                self._producer.send(self._deadletter_stream, dead_letters)
            for stream, records in side.items():
                if records:
                    self._producer.send(stream, records)
            try:
                self._producer.flush(self.config.flush_timeout_s)
            except PartialDeliveryError as exc:
                if exc.by_stream is not None:  # the producer knows: re-send only the rest
                    verdicts = only(verdicts, exc.by_stream.get(self._verdict_stream, ()))
                    dead_letters = only(
                        dead_letters, exc.by_stream.get(self._deadletter_stream, ())
                    )
                    side = {s: only(r, exc.by_stream.get(s, ())) for s, r in side.items()}
                raise

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
        """Run ``action``, retrying ``retry_on`` errors by the config's policy, then re-raise."""
        policy = self.config.retry_policy

        def warn(attempt: int, delay: float, exc: Exception) -> None:
            log.warning(
                "%s: could not %s (attempt %d of %d), retrying in %.1fs: %s",
                self.stage,
                what,
                attempt,
                policy.attempts,
                delay,
                exc,
                extra=self._context,
            )

        def sleep_unless_stopping(seconds: float) -> None:
            if self._stop_requested():
                raise StopDuringRetry(what)
            self._sleep(seconds)
            if self._stop_requested():
                raise StopDuringRetry(what)

        try:
            policy.call(
                action,
                retry_on=retry_on,
                give_up_on=give_up or (),
                on_retry=warn,
                sleep=sleep_unless_stopping,
            )
        except retry_on as exc:
            if give_up is None or not isinstance(exc, give_up):
                log.error(
                    "%s: could not %s after %d attempts; stopping without committing, "
                    "so the batch is redelivered: %s",
                    self.stage,
                    what,
                    policy.attempts,
                    exc,
                    extra=self._context,
                )
            raise

    def _count(self, records: int, result: BatchResult, committed: bool) -> None:
        stats = self.stats
        stats.batches += 1
        if not committed:
            stats.lost_batches += 1
            return
        stats.records += records
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


def only(records: list[OutRecord], indices: Sequence[int]) -> list[OutRecord]:
    """The records at ``indices`` (what a failed flush says was not written), in order."""
    return [records[index] for index in sorted(indices)]
