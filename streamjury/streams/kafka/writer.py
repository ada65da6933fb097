"""The Kafka atomic writer: outputs and consumed offsets committed in one Kafka transaction.

read_committed readers see a batch's outputs exactly once, or never if the writer died mid-way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from streamjury.errors import (
    FencedError,
    RewoundDeliveryError,
    StreamError,
    WriterFencedError,
)
from streamjury.retry import RetryPolicy
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kafka.config import ClientConfig
from streamjury.streams.kafka.consumer import KafkaConsumer
from streamjury.streams.kafka.errors import (
    PERMANENT_CODES,
    PRODUCER_FENCED_CODES,
    REBALANCE_CODES,
    TRANSIENT_DELIVERY_CODES,
    describe,
    error_of,
)
from streamjury.streams.kafka.producer import Sender

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 10.0
"""Longest timeout of one transactional call (init, send offsets, commit, abort)."""
START_FOR_S = 60.0
"""How long starting a producer (``init_transactions``) is retried when the writer opens."""
TRANSACTION_RETRY = RetryPolicy(attempts=10_000, base_delay_s=0.1, max_delay_s=1.0)
"""Retries within one ``write_and_commit``: as many as fit before its deadline (the
transaction timeout), never one that would end after it."""
LIBRDKAFKA_TRANSACTION_TIMEOUT_MS = 60_000
"""librdkafka's ``transaction.timeout.ms`` when a config does not set it (ours always does)."""
MIN_CALL_TIMEOUT_S = 1.0
"""A call started just before the deadline still gets this long (an abort must be tried)."""
STUCK_GRACE_S = 5.0
"""How long past its own timeout a transactional call may run before it counts as stuck.

librdkafka enforces the timeout itself, except where it cannot: ``send_offsets_to_transaction``
waits forever for a group coordinator that librdkafka dropped from its broker list (librdkafka
issues #5456 and #5511). Since librdkafka 2.16 every broker restart can do that, as the client
decommissions its brokers when it re-bootstraps. A stuck call is left behind with its producer
(it holds the producer's only transactional slot) and a new producer takes over."""


SETTLE_READ_S = 5.0
"""How long the check after a replacement waits for the group's committed offsets before it
takes an unanswered read (offsets of an unfinished transaction) as a sign to sweep."""
SWEEP_KEY = b"streamjury-abort-sweep"
"""Key of the records a sweep writes in every partition and aborts at once: never visible to
read_committed readers, and keyed so compacted streams accept them."""


class RolledBackError(Exception):
    """The broker rolled back a transaction after reporting it committed.

    Deliberately not a StreamError: the attempt loop must not take it for a failed attempt.
    ``positions`` are the group's committed offsets the consumer has to go back to."""

    def __init__(self, reason: str, positions: dict[tuple[str, int], int]) -> None:
        super().__init__(reason)
        self.positions = positions


class StuckCallError(StreamError):
    """A transactional call did not return in time; its producer can never be used again."""


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why one attempt at a transaction failed, and what may be done about it."""

    reason: str
    fenced: bool
    """A newer writer with this writer id took over: this one stops for good."""
    rebalanced: bool
    """The group moved partitions away (KIP-447): their new owner reads the batch again."""
    stuck: bool
    """A call never returned: the producer must not be touched again."""
    broken: bool
    """The producer cannot abort (fatal error or stuck call): only a replacement ends the
    transaction, as its ``init_transactions`` completes or aborts whatever the old one left."""
    transient: bool
    """A new transaction with the same records may well succeed (the broker was away...)."""
    committed: bool | None
    """False if the transaction certainly did not commit; None if that is unknown (the
    commit itself failed without saying how)."""
    refused: bool
    """The coordinator refused the commit (INVALID_TXN_STATE: it has no ongoing transaction
    to commit, as after aborting it), so it did not commit; offsets, if any, confirm it."""


class KafkaAtomicWriter:
    """Implements AtomicWriter with a transactional producer (``transactional.id`` = writer id).

    Per batch: begin, produce the outputs, add the consumer's offsets (with its group metadata,
    so a member that lost its partitions in a rebalance cannot commit them: KIP-447), commit.

    A transaction that fails for a passing reason (a broker restarting, a coordinator moving,
    a stuck librdkafka call) is aborted and written again with a fresh producer, for up to
    the transaction timeout (``transaction.timeout.ms``) and never longer: the broker aborts a
    transaction older than that anyway. The outputs are the same records, so readers still see
    them exactly once.
    If it cannot be written, the consumer is rewound to the batch, so its records are polled
    again; the caller must discard whatever it derived from them.
    """

    exactly_once = True

    def __init__(self, config: ClientConfig, consumer: KafkaConsumer, writer_id: str) -> None:
        self.writer_id = writer_id
        self._consumer = consumer
        self._config = config
        self._fenced: str | None = None
        self._closed = False
        self._phase = "idle"
        self._sender: Sender | None = None
        self._abandoned: list[Sender] = []
        """Producers with a stuck call: kept referenced, as destroying one would block."""
        self._known_streams: set[str] = set()
        self._committed_through: dict[tuple[str, int], int] = {}
        """Per partition, the offset the last transaction reported committed stored."""
        timeout_ms = config.get("transaction.timeout.ms", LIBRDKAFKA_TRANSACTION_TIMEOUT_MS)
        self.retry_for_s = int(timeout_ms) / 1000
        """How long one ``write_and_commit`` keeps trying: the transaction timeout."""
        try:
            self._sender = self._start(time.monotonic() + START_FOR_S)
        except (KafkaException, StreamError) as exc:
            reason = describe(error_of(exc) if isinstance(exc, KafkaException) else None, exc)
            raise StreamError(f"writer {writer_id!r} could not start: {reason}") from exc
        log.info("transactional writer %s ready", writer_id)

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        """All of ``outputs`` and the offsets after ``consumed`` become visible together, or not.

        Raises UnknownStream (before starting) for a stream that does not exist; FencedError if
        another writer or group member took over; DeliveryError if the transaction could not be
        written. Either way nothing was written and the consumer was rewound to ``consumed``
        (in the partitions it still owns): drop whatever was derived from it and poll again.
        RewoundDeliveryError also when the broker rolled back an *earlier* transaction that it
        had reported committed (see ``_settle``): the consumer then went back further, to the
        group's committed positions, so whatever was derived since them must be dropped.
        StreamError (only) if a commit failed so that its outcome cannot be known: the caller
        must start over from the committed positions, as after a crash.
        """
        try:
            self._write_and_commit(outputs, consumed)
        except RolledBackError as exc:
            self._consumer.rewind(consumed, back_to=exc.positions)
            log.warning(
                "writer %s: consumer rewound to the committed positions %s: %s",
                self.writer_id,
                exc.positions,
                exc,
            )
            raise RewoundDeliveryError(
                f"writer {self.writer_id!r}: {exc}; nothing of this batch was written and the "
                "consumer went back to the group's committed positions"
            ) from exc

    def _write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        self._check_usable()
        if consumed and self._consumer.group is None:
            raise StreamError("a group-less reader cannot commit")
        offsets = self._consumer.next_offsets(consumed) if consumed else []
        if not offsets and not any(outputs.values()):
            return
        deadline = time.monotonic() + self.retry_for_s
        self._check_streams([stream for stream, records in outputs.items() if records], consumed)
        attempt = 1
        while True:
            try:
                self._attempt(outputs, offsets, deadline)
                return
            except (KafkaException, StreamError) as exc:
                failure = self._failure(exc)
                cause: BaseException = exc
            self._end(failure)
            if failure.fenced:
                self._consumer.rewind(consumed)
                raise self._fenced_by(failure) from cause
            committed = failure.committed
            if committed is None:
                committed = self._committed(offsets, deadline)
            if committed is None and failure.refused:
                committed = False
            if committed:
                log.warning(
                    "writer %s: the transaction committed although %s",
                    self.writer_id,
                    failure.reason,
                )
                return
            if committed is None:
                raise StreamError(
                    f"writer {self.writer_id!r}: a commit failed and its outcome is unknown "
                    f"({failure.reason}): start again from the committed positions"
                ) from cause
            if failure.rebalanced:
                self._consumer.rewind(consumed)
                raise FencedError(
                    f"writer {self.writer_id!r}: the group rebalanced, transaction aborted: "
                    f"{failure.reason}"
                ) from cause
            wait = TRANSACTION_RETRY.delay(attempt)
            if failure.transient and time.monotonic() + wait < deadline:
                log.warning(
                    "writer %s: transaction attempt %d failed, writing it again: %s",
                    self.writer_id,
                    attempt,
                    failure.reason,
                )
                attempt += 1
                time.sleep(wait)
                continue
            self._consumer.rewind(consumed)
            log.warning(
                "writer %s: transaction aborted, consumer rewound to the batch: %s",
                self.writer_id,
                failure.reason,
            )
            raise RewoundDeliveryError(
                f"writer {self.writer_id!r}: transaction aborted, nothing written, "
                f"the consumer was rewound to the batch: {failure.reason}"
            ) from cause

    def abort_left_open(self, streams: Sequence[str]) -> None:
        """Sweep ``streams`` and the group's offsets of the partitions this member owns: an
        aborted transaction whose markers close whatever is still open under this writer id.

        For a reader that found a transaction open for longer than any live one can be: one
        the broker completed without its markers (a broker shutting down while a transaction
        was under way). ``init_transactions`` does not end it, as the coordinator has it for
        complete, so only a marker of this producer id can, and no batch can be written
        before the reader has passed it. Records of other writer ids are left alone.
        """
        self._check_usable()
        deadline = time.monotonic() + self.retry_for_s
        self._phase = "sweep"
        try:
            sender = self._ready(deadline)
            self._learn_streams(sender, streams)
            owned = {position: 0 for position in self._consumer.owned()}
            self._sweep(sender, owned, deadline)
        except RolledBackError as exc:
            self._consumer.rewind([], back_to=exc.positions)
            raise StreamError(
                f"writer {self.writer_id!r}: {exc}: start again from the committed positions"
            ) from exc
        except (KafkaException, StreamError) as exc:
            failure = self._failure(exc)
            self._end(failure)
            if failure.fenced:
                raise self._fenced_by(failure) from exc
            raise StreamError(
                f"writer {self.writer_id!r} could not close transactions left open: "
                f"{failure.reason}"
            ) from exc
        finally:
            self._phase = "idle"

    def close(self) -> None:
        """Nothing is ever left open between batches; drop the producer.

        Never raises: a producer that is fenced or failed is simply dropped.
        """
        if self._closed:
            return
        self._closed = True
        sender, self._sender = self._sender, None
        if sender is None or sender.fatal is not None:
            return
        try:
            sender.serve(0)  # hand the last log lines and reports over
        except StreamError as exc:
            log.debug("writer %s: its producer had failed: %s", self.writer_id, exc)

    # -- one transaction -------------------------------------------------------------------

    def _attempt(
        self, outputs: Mapping[str, Sequence[OutRecord]], offsets: list[Any], deadline: float
    ) -> None:
        self._phase = "start"
        sender = self._ready(deadline)
        producer = sender.producer
        self._phase = "produce"
        producer.begin_transaction()
        for stream, records in outputs.items():
            sender.send(stream, records)
        if offsets:
            self._phase = "offsets"
            metadata = self._consumer.group_metadata()
            self._transactional(
                lambda timeout: producer.send_offsets_to_transaction(offsets, metadata, timeout),
                "add the consumed offsets to the transaction",
                deadline,
            )
        self._phase = "commit"
        self._transactional(producer.commit_transaction, "commit the transaction", deadline)
        self._phase = "idle"
        sender.take_failures()
        for tp in offsets:
            self._committed_through[(tp.topic, tp.partition)] = int(tp.offset)

    def _failure(self, exc: KafkaException | StreamError) -> _Failure:
        """What the failure of an attempt (in ``self._phase``) means."""
        phase, self._phase = self._phase, "idle"
        sender = self._sender
        report, codes = sender.take_report() if sender is not None else (None, frozenset())
        stuck = isinstance(exc, StuckCallError)
        cause = exc if isinstance(exc, KafkaException) else exc.__cause__
        error = error_of(cause) if isinstance(cause, KafkaException) else None
        if error is None and sender is not None and sender.fatal is not None:
            error = sender.fatal
        reason = describe(error, exc)
        if report:
            reason = f"{reason}; {report}"
        code = error.code() if error is not None else None
        permanent = code in PERMANENT_CODES or any(c not in TRANSIENT_DELIVERY_CODES for c in codes)
        # Before the commit, nothing can have committed, nor after a commit that failed with an
        # abortable error; any other failure of the commit leaves the outcome open.
        committed: bool | None = False
        if phase == "commit" and not (error is not None and error.txn_requires_abort()):
            committed = None
        return _Failure(
            reason=f"{reason} (while {PHASES[phase]})",
            fenced=code in PRODUCER_FENCED_CODES,
            rebalanced=code in REBALANCE_CODES,
            stuck=stuck,
            broken=stuck or (error is not None and error.fatal()),
            transient=not permanent,
            committed=committed,
            refused=phase == "commit" and code == KafkaError.INVALID_TXN_STATE,
        )

    def _fenced_by(self, failure: _Failure) -> WriterFencedError:
        """Mark this writer fenced for good (a newer one with its id took over): the error."""
        self._fenced = failure.reason
        return WriterFencedError(f"writer {self.writer_id!r} was fenced: {failure.reason}")

    def _end(self, failure: _Failure) -> None:
        """Abort the failed transaction if the producer still can, and drop the producer either
        way: a record the broker refused leaves librdkafka's idempotence sequence numbers out of
        step, so the next transaction would fail too; a new producer (same transactional id,
        next epoch) starts clean, and aborts what this one could not."""
        sender, self._sender = self._sender, None
        if sender is None:
            return
        if failure.stuck:
            self._abandoned.append(sender)
            log.warning(
                "writer %s: abandoned a producer with a stuck call (%d so far)",
                self.writer_id,
                len(self._abandoned),
            )
            return
        if failure.broken or failure.fenced:
            return
        try:
            self._transactional(
                sender.producer.abort_transaction,
                "abort the transaction",
                time.monotonic() + CALL_TIMEOUT_S,
            )
            log.warning("writer %s aborted a transaction", self.writer_id)
        except StuckCallError as exc:
            self._abandoned.append(sender)
            log.warning("writer %s could not abort, its replacement will: %s", self.writer_id, exc)
        except KafkaException as exc:
            log.warning("writer %s could not abort, its replacement will: %s", self.writer_id, exc)

    def _committed(self, offsets: Sequence[Any], deadline: float) -> bool | None:
        """Whether the group's committed offsets say the failed transaction committed.

        A new producer comes first: its ``init_transactions`` completes or aborts the old
        transaction, so the offsets are final. None if there are no offsets or no answer.
        """
        if not offsets:
            return None
        wanted = {(tp.topic, tp.partition): int(tp.offset) for tp in offsets}
        try:
            self._ready(max(deadline, time.monotonic() + CALL_TIMEOUT_S))
        except (KafkaException, StreamError) as exc:
            log.warning(
                "writer %s: cannot tell whether a commit went through: %s", self.writer_id, exc
            )
            return None
        found = self._group_positions(wanted, CALL_TIMEOUT_S)
        if found is None:
            return None
        done = [found.get(position, -1) >= offset for position, offset in wanted.items()]
        if all(done):
            return True
        return False if not any(done) else None

    # -- the producer ----------------------------------------------------------------------

    def _ready(self, deadline: float) -> Sender:
        """The producer, started again if the last one was dropped (after a failure: the first
        one is started by ``__init__``), in which case the last commit is checked first."""
        if self._sender is None:
            self._sender = self._start(deadline)
            self._settle(self._sender, deadline)
        return self._sender

    def _settle(self, sender: Sender, deadline: float) -> None:
        """After a failure, check that the last transaction reported committed still is.

        A broker can roll one back: a single Kafka node shutting down makes its partitions
        leaderless while its transaction coordinator still runs, and the coordinator then
        completes a commit without writing its markers (it takes the partitions for deleted).
        The transaction's records and offsets stay open until the next marker of this producer
        id closes them, an abort as a rule, and the offsets after them would be committed by
        the next batch: a batch reported written would be lost.

        The replacement producer's ``init_transactions`` has aborted whatever was left open.
        If the group's committed offsets are behind what the last commit stored (or cannot be
        read, as offsets of an unfinished transaction hold a read_committed read up), a sweep
        aborts any records and offsets still open under this writer id, and RolledBackError
        names the committed positions to go back to.
        """
        owned = self._consumer.owned()
        expected = {p: o for p, o in self._committed_through.items() if p in owned}
        if not expected or _reached(self._group_positions(expected, SETTLE_READ_S), expected):
            return
        self._sweep(sender, expected, deadline)
        found = self._consumer.committed_offsets(self._partitions_of(expected), CALL_TIMEOUT_S)
        behind = {
            p: found.get(p, OFFSET_BEGINNING) for p, o in expected.items() if found.get(p, -1) < o
        }
        if behind:
            self._committed_through.update(behind)
            raise RolledBackError(
                f"the broker rolled back a transaction it had reported committed "
                f"(stored offsets {expected}, committed now {found})",
                behind,
            )

    def _group_positions(
        self, offsets: Mapping[tuple[str, int], int], timeout: float
    ) -> dict[tuple[str, int], int] | None:
        """The group's committed offsets of the partitions of ``offsets``; None if unreadable
        (read_committed: offsets of a transaction still open hold the read up)."""
        try:
            return self._consumer.committed_offsets(self._partitions_of(offsets), timeout)
        except StreamError as exc:
            log.warning("writer %s: cannot read the committed offsets: %s", self.writer_id, exc)
            return None

    def _sweep(
        self, sender: Sender, offsets: Mapping[tuple[str, int], int], deadline: float
    ) -> None:
        """One transaction over every partition this writer writes and the group's offsets,
        aborted: its abort markers close whatever an earlier producer with this writer id left
        open there, so it can neither block read_committed readers nor commit later."""
        producer = sender.producer
        producer.begin_transaction()
        for stream in sorted(self._known_streams):
            for partition in range(self._partition_count(sender, stream)):
                producer.produce(stream, None, SWEEP_KEY, partition=partition)
        # Written before the abort: a record the abort purges from the queue may never have
        # added its partition to the transaction, and that partition would get no marker.
        sender.flush(max(deadline - time.monotonic(), MIN_CALL_TIMEOUT_S))
        if offsets:
            metadata = self._consumer.group_metadata()
            positions = self._partitions_of(offsets)
            self._transactional(
                lambda timeout: producer.send_offsets_to_transaction(positions, metadata, timeout),
                "add offsets to the sweep",
                deadline,
            )
        self._transactional(producer.abort_transaction, "abort the sweep", deadline)
        sender.take_report()
        log.warning(
            "writer %s: swept %s and the group's offsets for transactions left open",
            self.writer_id,
            sorted(self._known_streams),
        )

    @staticmethod
    def _partitions_of(offsets: Mapping[tuple[str, int], int]) -> list[Any]:
        return [
            TopicPartition(topic, number, offset) for (topic, number), offset in offsets.items()
        ]

    @staticmethod
    def _partition_count(sender: Sender, stream: str) -> int:
        metadata = sender.producer.list_topics(topic=stream, timeout=CALL_TIMEOUT_S)
        return len(metadata.topics[stream].partitions)

    def _start(self, deadline: float) -> Sender:
        """A transactional producer, ready: fences any older writer with this id and aborts
        (or completes) the transaction it left open."""
        sender = Sender(self._config)
        try:
            self._transactional(sender.producer.init_transactions, "start transactions", deadline)
        except StuckCallError:
            self._abandoned.append(sender)
            raise
        return sender

    def _check_streams(self, streams: Sequence[str], consumed: Sequence[Record]) -> None:
        """UnknownStream before anything is written; DeliveryError if no producer can start.

        Checked once per writer, not per producer, so a producer replaced while the broker is
        away does not need it to look the streams up again."""
        streams = [stream for stream in streams if stream not in self._known_streams]
        if not streams:
            return
        try:
            sender = self._ready(time.monotonic() + self.retry_for_s)
        except (KafkaException, StreamError) as exc:
            self._consumer.rewind(consumed)
            raise RewoundDeliveryError(
                f"writer {self.writer_id!r} could not start a producer, nothing written, "
                f"the consumer was rewound to the batch: {describe(None, exc)}"
            ) from exc
        self._learn_streams(sender, streams)

    def _learn_streams(self, sender: Sender, streams: Sequence[str]) -> None:
        """Look up (UnknownStream) and remember the streams this writer does not know yet."""
        for stream in streams:
            if stream not in self._known_streams:
                sender.check_stream(stream)
                self._known_streams.add(stream)

    def _transactional(self, call: Callable[[float], Any], what: str, deadline: float) -> None:
        """Run a transactional call, retrying retriable errors (a coordinator moving or a broker
        restarting) until ``deadline``; everything else is raised."""
        last: KafkaException | None = None
        for _ in TRANSACTION_RETRY.tries(deadline=deadline):
            try:
                self._bounded(call, what, deadline)
                return
            except KafkaException as exc:
                error = error_of(exc)
                if error is None or error.fatal() or error.txn_requires_abort():
                    raise
                if not error.retriable():
                    raise
                last = exc
                log.warning(
                    "writer %s: could not %s, retrying: %s", self.writer_id, what, describe(error)
                )
        if last is None:  # the deadline had passed before the first try: try once anyway
            self._bounded(call, what, deadline)
            return
        raise last

    def _bounded(self, call: Callable[[float], Any], what: str, deadline: float) -> None:
        """``call(timeout)`` on a helper thread, the timeout ending by ``deadline`` (at most
        CALL_TIMEOUT_S, at least MIN_CALL_TIMEOUT_S); StuckCallError if it has not returned
        STUCK_GRACE_S after its timeout (the thread is left behind, blocked in librdkafka)."""
        timeout = min(CALL_TIMEOUT_S, max(MIN_CALL_TIMEOUT_S, deadline - time.monotonic()))
        done = threading.Event()
        raised: list[BaseException] = []

        def run() -> None:
            try:
                call(timeout)
            except BaseException as exc:
                raised.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name=f"txn-{self.writer_id}", daemon=True).start()
        if not done.wait(timeout + STUCK_GRACE_S):
            raise StuckCallError(
                f"could not {what}: librdkafka did not return within {timeout + STUCK_GRACE_S:.0f}s"
            )
        if raised:
            raise raised[0]

    def _check_usable(self) -> None:
        if self._closed:
            raise StreamError(f"writer {self.writer_id!r} is closed")
        if self._fenced is not None:
            raise WriterFencedError(f"writer {self.writer_id!r} is fenced: {self._fenced}")


def _reached(
    found: Mapping[tuple[str, int], int] | None, offsets: Mapping[tuple[str, int], int]
) -> bool:
    """Whether committed offsets ``found`` (None: unreadable) reach ``offsets`` everywhere."""
    return found is not None and all(found.get(p, -1) >= o for p, o in offsets.items())


PHASES = {
    "idle": "idle",
    "start": "starting a producer",
    "produce": "producing the outputs",
    "offsets": "adding the offsets",
    "commit": "committing",
    "sweep": "closing transactions left open",
}
"""The phase of an attempt, as failure reasons name it."""
