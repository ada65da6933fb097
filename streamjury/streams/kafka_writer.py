"""The Kafka atomic writer: outputs and consumed offsets committed in one Kafka transaction.

read_committed readers see a batch's outputs exactly once, or never if the writer died mid-way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException

from streamjury.errors import DeliveryError, FencedError, StreamError
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kafka_config import ClientConfig
from streamjury.streams.kafka_consumer import KafkaConsumer
from streamjury.streams.kafka_errors import (
    PRODUCER_FENCED_CODES,
    REBALANCE_CODES,
    describe,
    error_of,
)
from streamjury.streams.kafka_producer import Sender

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 10.0
"""Timeout of one transactional call (init, send offsets, commit, abort)."""
RETRY_FOR_S = 60.0
"""How long a retriable transactional call is retried, e.g. across a broker restart."""
RETRY_PAUSE_S = 0.2


class KafkaAtomicWriter:
    """Implements AtomicWriter with a transactional producer (``transactional.id`` = writer id).

    Per batch: begin, produce the outputs, add the consumer's offsets (with its group metadata,
    so a member that lost its partitions in a rebalance cannot commit them: KIP-447), commit.
    If the transaction is aborted the consumer is rewound to the batch, so its records are
    polled again; the caller must discard whatever it derived from them.
    """

    exactly_once = True

    def __init__(self, config: ClientConfig, consumer: KafkaConsumer, writer_id: str) -> None:
        self.writer_id = writer_id
        self._consumer = consumer
        self._fenced: str | None = None
        self._closed = False
        self._config = config
        self._sender = self._start(config)
        log.info("transactional writer %s ready", writer_id)

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        """All of ``outputs`` and the offsets after ``consumed`` become visible together, or not.

        Raises UnknownStream (before starting) for a stream that does not exist; FencedError if
        another writer or group member took over; DeliveryError if the transaction had to be
        aborted. Either way nothing was written and the consumer was rewound to ``consumed``
        (in the partitions it still owns): drop whatever was derived from it and poll again.
        """
        self._check_usable()
        for stream, records in outputs.items():
            if records:
                self._sender.check_stream(stream)
        if consumed and self._consumer.group is None:
            raise StreamError("a group-less reader cannot commit")
        offsets = self._consumer.next_offsets(consumed) if consumed else []
        if not offsets and not any(outputs.values()):
            return
        producer = self._sender.producer
        try:
            producer.begin_transaction()
            for stream, records in outputs.items():
                self._sender.send(stream, records)
            if offsets:
                metadata = self._consumer.group_metadata()
                self._transactional(
                    lambda timeout: producer.send_offsets_to_transaction(
                        offsets, metadata, timeout
                    ),
                    "add the consumed offsets to the transaction",
                )
            self._transactional(producer.commit_transaction, "commit the transaction")
        except (KafkaException, StreamError) as exc:
            self._abandon(exc, consumed)
        self._sender.take_failures()

    def close(self) -> None:
        """Nothing is ever left open between batches; drop the producer."""
        if self._closed:
            return
        self._closed = True
        self._sender.producer.flush(0)

    # -- internals -------------------------------------------------------------------------

    def _abandon(self, exc: BaseException, consumed: Sequence[Record]) -> None:
        """Abort (unless fenced), rewind the consumer to the batch, and raise."""
        error = error_of(exc) if isinstance(exc, KafkaException) else None
        reason = describe(error, exc)
        failures = self._sender.take_failures()
        if failures:
            reason = f"{reason}; {failures}"
        if error is not None and (error.fatal() or error.code() in PRODUCER_FENCED_CODES):
            self._fenced = reason
        try:
            if self._fenced is None:
                self._abort()
        finally:
            self._consumer.rewind(consumed)
        if self._fenced is not None:
            raise FencedError(f"writer {self.writer_id!r} was fenced: {reason}") from exc
        if error is not None and error.code() in REBALANCE_CODES:
            raise FencedError(
                f"writer {self.writer_id!r}: the group rebalanced, transaction aborted: {reason}"
            ) from exc
        raise DeliveryError(
            f"writer {self.writer_id!r}: transaction aborted, nothing written, "
            f"the consumer was rewound to the batch: {reason}"
        ) from exc

    def _abort(self) -> None:
        """Abort, then start over with a fresh producer.

        A record the broker refused inside a transaction leaves librdkafka's idempotence
        sequence numbers out of step, and the *next* transaction would then fail too; a new
        producer (same transactional id, next epoch) starts clean. If the abort itself fails,
        the new producer's ``init_transactions`` aborts the transaction instead.
        """
        try:
            self._transactional(self._sender.producer.abort_transaction, "abort the transaction")
            log.warning("writer %s aborted a transaction", self.writer_id)
        except FencedError:
            raise
        except (KafkaException, StreamError) as exc:
            log.warning("writer %s could not abort, restarting it instead: %s", self.writer_id, exc)
        self._sender.producer.flush(0)
        self._sender = self._start(self._config)

    def _start(self, config: ClientConfig) -> Sender:
        """A transactional producer, ready: fences any older writer with this id and aborts
        the transaction it left open."""
        sender = Sender(config)
        try:
            self._transactional(sender.producer.init_transactions, "start transactions")
        except KafkaException as exc:
            reason = describe(error_of(exc), exc)
            raise StreamError(f"writer {self.writer_id!r} could not start: {reason}") from exc
        return sender

    def _transactional(self, call: Callable[[float], Any], what: str) -> None:
        """Run a transactional call, retrying retriable errors (a coordinator moving or a broker
        restarting) for up to RETRY_FOR_S; fatal errors fence this writer for good."""
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                call(CALL_TIMEOUT_S)
                return
            except KafkaException as exc:
                error = error_of(exc)
                if error is None:
                    raise StreamError(f"writer {self.writer_id!r} could not {what}: {exc}") from exc
                if error.fatal() or error.code() in PRODUCER_FENCED_CODES:
                    self._fenced = describe(error)
                    raise FencedError(
                        f"writer {self.writer_id!r} could not {what}: {describe(error)}"
                    ) from exc
                if error.retriable() and time.monotonic() < deadline:
                    log.warning(
                        "writer %s: could not %s, retrying: %s",
                        self.writer_id,
                        what,
                        describe(error),
                    )
                    time.sleep(RETRY_PAUSE_S)
                    continue
                raise  # abortable: the caller aborts the transaction

    def _check_usable(self) -> None:
        if self._closed:
            raise StreamError(f"writer {self.writer_id!r} is closed")
        if self._fenced is not None:
            raise FencedError(f"writer {self.writer_id!r} is fenced: {self._fenced}")
