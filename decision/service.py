"""The decision service loop: poll verdicts, join them, write decisions, state and offsets as one.

Every micro-batch is one ``AtomicWriter.write_and_commit``: decisions, the changed join states
(to the compacted ``decision-state`` changelog) and the consumed verdict offsets, so on the local
and Kafka backends a crash at any moment leaves the three consistent.

State is partition-aware: the changelog is keyed like ``verdicts`` (by event_id, same partition
count), so the states of verdicts partition *p* live in changelog partition *p*. An instance
restores a partition when it is assigned and drops it when it is revoked.

Retention trade-off: a decided event is remembered for ``retention_s`` after its last decision,
to absorb redeliveries and late verdicts; then it is dropped and tombstoned. A verdict of that
event arriving later still opens a new join and yields a new decision with revision 1, so set the
retention longer than any redelivery or lateness you expect; memory and the changelog grow with
(decided events per second x retention).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from decision.joiner import Changes, Joiner
from streamjury.errors import ConfigError, FencedError, InvalidEvent
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.schemas import DeadLetter, SourcePosition, Verdict, parse_model
from streamjury.streams.base import (
    AtomicWriter,
    Backend,
    OutRecord,
    Record,
    StartFrom,
    StreamConsumer,
)
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``): join open times are durable and must mean
the same after a restart, possibly on another host. Injected so tests never sleep."""
STAGE = "decision"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How the loop consumes: group, writer id and micro-batch bounds."""

    group: str
    writer_id: str
    batch_size: int = 500
    batch_timeout_s: float = 0.2


@dataclass(slots=True)
class ServiceStats:
    """Counters for logs and tests."""

    batches: int = 0
    verdicts: int = 0
    duplicates: int = 0
    decisions: int = 0
    dead_letters: int = 0
    dropped: int = 0


class DecisionService:
    """One group member over ``verdicts`` with its atomic writer.

    Lifecycle: ``start()`` (or ``with``), then ``run(stop_requested)`` or ``step()`` repeatedly
    (tests drive ``step`` with a fake clock), then ``close()``.
    """

    def __init__(
        self,
        backend: Backend,
        joiner: Joiner,
        streams: StreamNames,
        config: ServiceConfig,
        clock: Clock = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self._backend = backend
        self._joiner = joiner
        self._streams = streams
        self._config = config
        self._clock = clock
        self._metrics = metrics or NullMetrics()
        self._consumer: StreamConsumer | None = None
        self._writer: AtomicWriter | None = None
        self.stats = ServiceStats()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Create the streams if needed, join the group and open the atomic writer."""
        names = self._streams
        self._backend.ensure_streams([names.verdicts, names.decisions, names.deadletter])
        self._backend.ensure_streams([names.decision_state], compacted=True)
        self._check_changelog_partitions()
        self._consumer = self._backend.consumer(
            [names.verdicts],
            self._config.group,
            StartFrom.earliest(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        self._writer = self._backend.atomic_writer(self._consumer, self._config.writer_id)
        log.info(
            "decision service started: group %s, batches of up to %d verdicts / %.0f ms",
            self._config.group,
            self._config.batch_size,
            self._config.batch_timeout_s * 1000,
            extra={"service": STAGE, "stream": names.verdicts},
        )

    def close(self) -> None:
        """Close the writer and leave the group; everything written is already committed."""
        writer, self._writer = self._writer, None
        consumer, self._consumer = self._consumer, None
        try:
            if writer is not None:
                writer.close()
        finally:
            if consumer is not None:
                consumer.close()

    def __enter__(self) -> DecisionService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, stop_requested: Callable[[], bool]) -> ServiceStats:
        """Process micro-batches until ``stop_requested()``; the batch in hand always finishes."""
        while not stop_requested():
            self.step()
        log.info(
            "decision service stopped: %d verdicts (%d duplicates), %d decisions, "
            "%d dead letters, %d joins dropped after retention, %d joins held",
            self.stats.verdicts,
            self.stats.duplicates,
            self.stats.decisions,
            self.stats.dead_letters,
            self.stats.dropped,
            len(self._joiner),
            extra={"service": STAGE},
        )
        return self.stats

    # -- one micro-batch ------------------------------------------------------------------

    def step(self) -> int:
        """Poll one micro-batch, join it, fire due timers, write and commit; records consumed.

        Runs the timers even when no verdict came, so timeouts and retention never stall.
        """
        consumer, writer = self._open()
        records = consumer.poll(self._config.batch_size, self._config.batch_timeout_s)
        self._sync_ownership(consumer, records)
        now = self._clock()
        letters: list[DeadLetter] = []
        dead_letters: list[OutRecord] = []
        for record in records:
            letter = self._join(record, now)
            if letter is not None:
                letters.append(letter)
                dead_letters.append(OutRecord(record.key, letter.to_bytes()))
        changes = self._joiner.settle(now)
        outputs = self._outputs(changes, dead_letters)
        if outputs or records:
            try:
                writer.write_and_commit(outputs, records)
            except FencedError:
                log.warning(
                    "fenced: another instance owns the verdicts now; dropping join state",
                    extra={"service": STAGE},
                )
                for partition in self._joiner.owned():
                    self._joiner.release(partition)
                return 0
            self._metrics.observe_batch(
                records=len(records), decisions=changes.decisions, dead_letters=letters
            )
        self.stats.batches += 1 if records else 0
        self.stats.decisions += len(changes.decisions)
        self.stats.dead_letters += len(dead_letters)
        self.stats.dropped += sum(1 for state in changes.states.values() if state is None)
        return len(records)

    def _join(self, record: Record, now: float) -> DeadLetter | None:
        """Offer one verdict record to the joiner; the dead letter if it cannot be joined."""
        try:
            verdict = parse_model(Verdict, record.value)
        except InvalidEvent as exc:
            return self._dead_letter(record, exc.reason)
        if verdict.event_id != record.key:
            return self._dead_letter(
                record,
                f"record key {record.key!r} is not the verdict's event_id {verdict.event_id!r}: "
                "verdicts must be keyed by event_id",
            )
        reason = self._joiner.rejection(record.partition, verdict)
        if reason is not None:
            return self._dead_letter(record, reason)
        self.stats.verdicts += 1
        if not self._joiner.offer(record.partition, verdict, now):
            self.stats.duplicates += 1
        return None

    def _dead_letter(self, record: Record, reason: str) -> DeadLetter:
        log.warning(
            "dead-lettering %s/%s@%d: %s",
            record.stream,
            record.partition,
            record.offset,
            reason,
            extra={
                "service": STAGE,
                "stream": record.stream,
                "partition": record.partition,
                "position": record.offset,
            },
        )
        source = SourcePosition(
            stream=record.stream, partition=record.partition, offset=record.offset
        )
        return DeadLetter.of(record.value, reason, STAGE, source)

    def _outputs(
        self, changes: Changes, dead_letters: Sequence[OutRecord]
    ) -> dict[str, list[OutRecord]]:
        outputs: dict[str, list[OutRecord]] = {}
        if changes.decisions:
            outputs[self._streams.decisions] = [
                OutRecord(decision.event_id, decision.to_bytes()) for decision in changes.decisions
            ]
        if changes.states:
            outputs[self._streams.decision_state] = [
                OutRecord(event_id, b"" if state is None else state.to_bytes())
                for event_id, state in changes.states.items()
            ]
        if dead_letters:
            outputs[self._streams.deadletter] = list(dead_letters)
        return outputs

    # -- partition ownership --------------------------------------------------------------

    def _on_assign(self, stream: str, partitions: Sequence[str]) -> None:
        if stream == self._streams.verdicts:
            for partition in partitions:
                if not self._joiner.owns(partition):
                    self._restore(partition)

    def _on_revoke(self, stream: str, partitions: Sequence[str]) -> None:
        if stream == self._streams.verdicts:
            for partition in partitions:
                self._joiner.release(partition)
            log.info(
                "released verdicts partitions %s",
                ", ".join(partitions),
                extra={"service": STAGE, "stream": stream},
            )

    def _sync_ownership(self, consumer: StreamConsumer, records: Sequence[Record]) -> None:
        """Match owned state to the assignment, for backends whose callbacks came late or never.

        A partition is restored before any of its records is joined, and states of partitions no
        longer assigned are dropped.
        """
        assigned = set(consumer.assignment().get(self._streams.verdicts, []))
        assigned.update(record.partition for record in records)
        for partition in self._joiner.owned():
            if partition not in assigned:
                self._joiner.release(partition)
        for partition in sorted(assigned):
            if not self._joiner.owns(partition):
                self._restore(partition)

    def _restore(self, partition: str) -> None:
        changelog = self._backend.read_partition(self._streams.decision_state, partition)
        count = self._joiner.restore(partition, ((r.key, r.value) for r in changelog))
        log.info(
            "restored %d joins of verdicts partition %s",
            count,
            partition,
            extra={"service": STAGE, "stream": self._streams.verdicts, "partition": partition},
        )

    def _check_changelog_partitions(self) -> None:
        """Refuse to run if an event's verdicts and its state could live in different partitions."""
        verdicts = set(self._backend.end_offsets(self._streams.verdicts))
        changelog = set(self._backend.end_offsets(self._streams.decision_state))
        if verdicts != changelog:
            raise ConfigError(
                f"{self._streams.decision_state} has partitions {sorted(changelog)} but "
                f"{self._streams.verdicts} has {sorted(verdicts)}: they must match"
            )

    def _open(self) -> tuple[StreamConsumer, AtomicWriter]:
        if self._consumer is None or self._writer is None:
            raise RuntimeError("call start() before step()")
        return self._consumer, self._writer
