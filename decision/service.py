"""The decision service loop: poll verdicts, join them, write decisions, state and offsets as one.

Every micro-batch is one ``AtomicWriter.write_and_commit``: decisions, the changed join states
(to the compacted ``decision-state`` changelog) and the consumed verdict offsets, so on the local
and Kafka backends a crash at any moment leaves the three consistent.

State is partition-aware: the changelog is keyed like ``verdicts`` (by event_id, same partition
count), so the states of verdicts partition *p* live in changelog partition *p*. An instance
restores a partition when it is assigned and drops it when it is revoked.

Downtime is not lateness: join timers run on the clock, so after an outage longer than a timeout
every restored join would time out before its waiting verdicts were read. A partition's timers
are therefore held from its assignment until the verdicts that were already in it are read (its
end offset at assignment), or until it stays silent for ``catch_up_grace_s``.

Retention trade-off: a decided event is remembered for ``retention_s`` after its last decision,
to absorb redeliveries and late verdicts; then it is dropped and tombstoned. A verdict of that
event arriving later still opens a new join and yields a new decision with revision 1, so set the
retention longer than any redelivery or lateness you expect; memory and the changelog grow with
(decided events per second x retention).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from decision.join_state import CONFLICTING_DUPLICATE
from decision.joiner import Changes, Joiner
from streamjury.errors import (
    ConfigError,
    FencedError,
    InvalidEvent,
    OpenTransactionError,
    RewoundDeliveryError,
    WriterFencedError,
)
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.schemas import (
    MAX_DEAD_LETTER_BYTES,
    MAX_OUTPUT_BYTES,
    DeadLetter,
    SourcePosition,
    Verdict,
    parse_model,
)
from streamjury.streams.base import (
    AtomicWriter,
    Backend,
    OutRecord,
    Record,
    StartFrom,
    StreamConsumer,
    last_per_partition,
)
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``): join open times are durable and must mean
the same after a restart, possibly on another host. Injected so tests never sleep."""
STAGE = "decision"
_validate_verdict = Verdict.__pydantic_validator__.validate_json


def parse_verdict(raw: bytes) -> Verdict:
    """``parse_model(Verdict, raw)``, minus its generic overhead on the path every verdict takes.

    A record that fails any of the checks goes through ``parse_model`` itself, so a refused
    verdict is refused with the very same reason.
    """
    try:
        verdict = _validate_verdict(raw) if len(raw) <= MAX_OUTPUT_BYTES else None
    except ValidationError:
        verdict = None
    if verdict is None or "schema_version" not in verdict.__pydantic_fields_set__:
        return parse_model(Verdict, raw)  # raises InvalidEvent with the reason
    return verdict


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How the loop consumes: group, writer id and micro-batch bounds."""

    group: str
    writer_id: str
    batch_size: int = 2_000
    batch_timeout_s: float = 0.2
    deadletter_max_bytes: int = MAX_DEAD_LETTER_BYTES
    """The largest dead letter the dead-letter stream accepts; originals are cut to fit."""
    catch_up_grace_s: float = 10.0
    """A held partition that yields no verdict for this long counts as caught up (its end may be
    a Kafka transaction marker, which is never delivered as a record)."""


@dataclass(slots=True)
class ServiceStats:
    """Counters for logs and tests."""

    batches: int = 0
    verdicts: int = 0
    duplicates: int = 0
    conflicting_duplicates: int = 0
    """Verdicts dead-lettered because their event_id was sent before with other content."""
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
        self._catch_up: dict[str, tuple[int, float]] = {}
        """Held partition -> (its end offset at assignment, clock time of its last progress)."""
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
        self._note_catch_up(records, now)
        changes = self._joiner.settle(now)
        outputs = self._outputs(changes, dead_letters)
        if outputs or records:
            try:
                writer.write_and_commit(outputs, records)
            except WriterFencedError:
                raise  # a live writer with our id took over: exit, never keep the partitions
            except (FencedError, RewoundDeliveryError) as exc:
                # Nothing of the batch is visible and its records come back (from this member
                # or the partitions' new owner): rebuild the join state from the changelog.
                log.warning(
                    "batch not written, dropping join state to restore it: %s",
                    exc,
                    extra={"service": STAGE},
                )
                for partition in self._joiner.owned():
                    self._joiner.release(partition)
                return 0
            self._metrics.observe_batch(
                records=len(records), decisions=changes.decision_records, dead_letters=letters
            )
        self.stats.batches += 1 if records else 0
        self.stats.decisions += len(changes.decision_records)
        self.stats.dead_letters += len(dead_letters)
        self.stats.dropped += changes.dropped
        return len(records)

    def _join(self, record: Record, now: float) -> DeadLetter | None:
        """Offer one verdict record to the joiner; the dead letter if it cannot be joined."""
        try:
            verdict = parse_verdict(record.value)
        except InvalidEvent as exc:
            return self._dead_letter(record, exc.reason)
        if verdict.event_id != record.key:
            return self._dead_letter(
                record,
                f"record key {record.key!r} is not the verdict's event_id {verdict.event_id!r}: "
                "verdicts must be keyed by event_id",
            )
        joined = self._joiner.join(record.partition, verdict, now)
        if joined is True:
            self.stats.verdicts += 1
            return None
        if joined is False:
            self.stats.verdicts += 1
            self.stats.duplicates += 1
            return None
        if joined.startswith(CONFLICTING_DUPLICATE):
            self.stats.conflicting_duplicates += 1
        return self._dead_letter(record, joined)

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
        return DeadLetter.of(
            record.value, reason, STAGE, source, max_bytes=self._config.deadletter_max_bytes
        )

    def _outputs(
        self, changes: Changes, dead_letters: Sequence[OutRecord]
    ) -> dict[str, list[OutRecord]]:
        outputs: dict[str, list[OutRecord]] = {}
        if changes.decision_records:
            outputs[self._streams.decisions] = [
                OutRecord(decision.event_id, decision.value)
                for decision in changes.decision_records
            ]
        if changes.state_records:
            outputs[self._streams.decision_state] = [
                OutRecord(event_id, value) for event_id, value in changes.state_records.items()
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
        changelog = self._read_changelog(partition)
        count = self._joiner.restore(partition, ((r.key, r.value) for r in changelog))
        log.info(
            "restored %d joins of verdicts partition %s",
            count,
            partition,
            extra={"service": STAGE, "stream": self._streams.verdicts, "partition": partition},
        )
        self._hold_until_caught_up(partition)

    def _read_changelog(self, partition: str) -> Iterator[Record]:
        """The partition's changelog, once nothing this service's writer id left open holds
        the read up.

        A transaction still open after the read's long wait is not a live one: if it is this
        writer id's (a broker that completed it without its markers), only this writer can
        close it, and no batch gets written before the restore has passed it. So the writer
        aborts whatever its id left open and the read starts again, once.
        """
        state = self._streams.decision_state
        try:
            return self._backend.read_partition(state, partition)
        except OpenTransactionError as exc:
            if self._writer is None:
                raise
            log.warning(
                "restoring verdicts partition %s: %s; closing what this writer left open",
                partition,
                exc,
                extra={"service": STAGE, "stream": state, "partition": partition},
            )
        names = self._streams
        self._writer.abort_left_open([names.decisions, names.decision_state, names.deadletter])
        return self._backend.read_partition(state, partition)

    def _hold_until_caught_up(self, partition: str) -> None:
        """Hold the partition's timers if verdicts wait in it beyond the group's position."""
        verdicts = self._streams.verdicts
        end = self._backend.end_offsets(verdicts).get(partition, 0)
        position = self._backend.committed(verdicts, self._config.group).get(partition)
        if (position is None and end == 0) or (position is not None and position >= end):
            return
        self._catch_up[partition] = (end, self._clock())
        self._joiner.hold(partition)
        log.info(
            "holding timeouts of verdicts partition %s until it is read up to offset %d",
            partition,
            end,
            extra={"service": STAGE, "stream": verdicts, "partition": partition},
        )

    def _note_catch_up(self, records: Sequence[Record], now: float) -> None:
        """Resume the timers of held partitions that reached their end offset or fell silent."""
        if not self._catch_up:
            return
        last = {partition: offset for (_, partition), offset in last_per_partition(records).items()}
        for partition, (end, progressed) in list(self._catch_up.items()):
            if not self._joiner.owns(partition):
                del self._catch_up[partition]
            elif partition in last and last[partition] + 1 >= end:
                self._resume(partition, f"read up to offset {end}")
            elif partition in last:
                self._catch_up[partition] = (end, now)
            elif now - progressed >= self._config.catch_up_grace_s:
                self._resume(partition, f"no verdict for {self._config.catch_up_grace_s:g}s")

    def _resume(self, partition: str, why: str) -> None:
        del self._catch_up[partition]
        self._joiner.resume(partition)
        log.info(
            "verdicts partition %s caught up (%s): its timeouts run again",
            partition,
            why,
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
