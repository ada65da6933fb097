"""The Kafka producer: idempotent, batched, and loud about every record it could not deliver.

``Sender`` is shared with the transactional writer: it queues records and tallies failures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamjury.errors import DeliveryError, PartialDeliveryError, StreamError, UnknownStream
from streamjury.retry import RetryPolicy
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka.config import ClientConfig
from streamjury.streams.kafka.errors import UNKNOWN_TOPIC_CODES, describe, error_of
from streamjury.streams.kafka.window import Content, SendWindow

log = logging.getLogger(__name__)

QUEUE_FULL_WAIT_S = 0.1
"""How long ``send`` serves delivery reports when librdkafka's queue is full, before retrying."""
METADATA_TIMEOUT_S = 10.0
METADATA_RETRY = RetryPolicy(attempts=3, base_delay_s=0.5, max_delay_s=2.0, jitter="none")
"""A lookup that timed out or lost its connection (a broker just died, the cluster is electing
new leaders) is asked again, up to three times, before the send is refused."""
TRANSIENT_LOOKUP_CODES = frozenset(
    {KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
)
PURGE_DRAIN_S = 5.0
"""How long ``purge_all`` waits for the reports of what it purged: they come at once, so this
only bounds a librdkafka that misbehaves."""


class PartlyQueued(DeliveryError):
    """``Sender.send`` stopped part-way: its first ``queued`` records were handed to librdkafka,
    the others certainly not. The cause is the same as a plain DeliveryError's would be."""

    def __init__(self, message: str, queued: int) -> None:
        super().__init__(message)
        self.queued = queued


class Sender:
    """Queues records on a confluent Producer and collects the failed delivery reports.

    Delivery reports arrive only for failures (``delivery.report.only.error``); success is
    "nothing failed and nothing is left in the queue" after a flush.

    A fatal error (a fenced or broken idempotent producer) is not handed to ``error_cb``:
    confluent-kafka raises it as a KafkaException from whichever call serves callbacks
    (poll, flush). ``fatal`` keeps it, and every later use raises DeliveryError: such a
    producer has to be replaced.
    """

    def __init__(self, config: ClientConfig, *, keep_failed: bool = False) -> None:
        """``keep_failed`` keeps the (topic, key, value) of every failed record until
        ``take_failed``, so a caller can tell which of its records they were."""
        self._keep_failed = keep_failed
        self._lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self._failed_codes: set[int] = set()
        self._failed: list[Content] = []
        self._sent = 0
        self.fatal: KafkaError | None = None
        self._known_streams: set[str] = set()
        self.producer = Producer(
            {**config, "on_delivery": self._on_delivery, "error_cb": self._on_error}
        )

    def check_stream(self, stream: str) -> None:
        """UnknownStream now rather than a delivery failure much later (auto-create is off)."""
        if stream in self._known_streams:
            return

        def look_up() -> Any:
            try:
                return self.producer.list_topics(topic=stream, timeout=METADATA_TIMEOUT_S)
            except KafkaException as exc:
                error = error_of(exc)
                if error is not None and (
                    error.code() in TRANSIENT_LOOKUP_CODES or error.retriable()
                ):
                    raise _TransientLookup(str(exc)) from exc
                raise

        def retry_later(attempt: int, wait: float, exc: Exception) -> None:
            log.warning("looking up stream %s failed, retrying in %.1fs: %s", stream, wait, exc)

        try:
            metadata = METADATA_RETRY.call(look_up, retry_on=_TransientLookup, on_retry=retry_later)
        except (KafkaException, _TransientLookup) as exc:
            cause = exc.__cause__ if isinstance(exc, _TransientLookup) else exc
            raise StreamError(f"cannot look up stream {stream!r}: {cause}") from cause
        topic = metadata.topics.get(stream)
        if topic is None or (topic.error is not None and topic.error.code() in UNKNOWN_TOPIC_CODES):
            raise UnknownStream(f"stream {stream!r} does not exist: create it first")
        if topic.error is not None:
            raise StreamError(f"cannot look up stream {stream!r}: {topic.error}")
        self._known_streams.add(stream)

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        """Queue every record; an empty value is sent as a null value (a tombstone).

        One plain ``produce`` per record: no per-record callback or Python object, as delivery
        reports come for failures only. PartlyQueued if it stops part-way.
        """
        self.raise_if_fatal()
        with self._lock:
            self._sent += len(records)
        produce = self.producer.produce
        for place, record in enumerate(records):
            key = record.key.encode()
            value = record.value or None
            while True:
                try:
                    produce(stream, value, key)
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    try:
                        self.serve(QUEUE_FULL_WAIT_S)
                    except DeliveryError as exc:
                        raise PartlyQueued(str(exc), place) from exc.__cause__
                except KafkaException as exc:
                    raise PartlyQueued(
                        f"could not queue a record for {stream!r}: {describe(None, exc)}", place
                    ) from exc
        self.serve(0)

    def serve(self, timeout: float) -> None:
        """``poll``: serve delivery reports, errors and logs; DeliveryError if now fatal."""
        self._guard(self.producer.poll, timeout)

    def wait(self, timeout: float) -> int:
        """``flush``: wait for every queued record; how many are still pending."""
        return int(self._guard(self.producer.flush, timeout))

    def flush(self, timeout: float) -> None:
        """Wait for every queued record; DeliveryError naming what failed or is still pending."""
        remaining = self.wait(timeout)
        problem = self.take_failures(remaining, timeout)
        if problem:
            raise DeliveryError(problem)

    def take_failures(self, remaining: int = 0, timeout: float = 0.0) -> str | None:
        """What went wrong since the last call, as a sentence (None if nothing); resets the tally."""
        return self.take_report(remaining, timeout)[0]

    def take_failed(self) -> list[Content]:
        """(topic, key, value) of the records that failed since the last call (with
        ``keep_failed``); resets them."""
        with self._lock:
            failed, self._failed = self._failed, []
        return failed

    def take_report(
        self, remaining: int = 0, timeout: float = 0.0
    ) -> tuple[str | None, frozenset[int]]:
        """``take_failures`` plus the error codes of the failed records (they say whether
        sending them again can work)."""
        with self._lock:
            failures, self._failures = self._failures, Counter()
            codes, self._failed_codes = frozenset(self._failed_codes), set()
            sent, self._sent = self._sent, 0
        if not failures and not remaining:
            return None, codes
        parts = []
        if failures:
            reasons = "; ".join(f"{n} x {reason}" for reason, n in failures.most_common(3))
            parts.append(
                f"{sum(failures.values())} of {sent} records could not be written ({reasons})"
            )
        if remaining:
            parts.append(
                f"{remaining} records were still in flight after {timeout:g}s "
                "(they may or may not be written later)"
            )
        return "; ".join(parts), codes

    def raise_if_fatal(self) -> None:
        if self.fatal is not None:
            raise DeliveryError(
                f"the Kafka producer hit a fatal error and must be recreated: "
                f"{describe(self.fatal)}"
            )

    def _guard(self, call: Callable[[float], Any], timeout: float) -> Any:
        """Run a call that serves callbacks, turning the fatal error it may raise into
        DeliveryError (and remembering it)."""
        self.raise_if_fatal()
        try:
            return call(timeout)
        except KafkaException as exc:
            error = error_of(exc)
            if error is not None and error.fatal():
                log.error("fatal Kafka producer error: %s", describe(error))
                self.fatal = error
                raise DeliveryError(
                    f"the Kafka producer hit a fatal error and must be recreated: {describe(error)}"
                ) from exc
            raise DeliveryError(f"the Kafka producer failed: {describe(error, exc)}") from exc

    def pending(self) -> int:
        """Records queued or in flight."""
        return len(self.producer)

    def purge_all(self) -> bool:
        """Fail every record still queued or in flight and serve their delivery reports, so
        each unacknowledged record has had a failure report; False if some are still pending.

        Sound because librdkafka (``rd_kafka_purge``) fails every purged record with a delivery
        report, ``_PURGE_QUEUE`` if it was never sent, ``_PURGE_INFLIGHT`` if it was, and ignores
        any later acknowledgement of the latter: a purged record is reported failed exactly once
        and never also as written. One in flight may still land, so re-sending it can duplicate
        it (at least once) but never loses it; what was acknowledged before the purge is not
        reported at all. librdkafka's threads purge their queues on their own (non-blocking: a
        broker thread busy connecting cannot stall the flush) and queue the reports, which
        ``wait`` serves until nothing is pending.
        """
        try:
            self.producer.purge(in_queue=True, in_flight=True, blocking=False)
            return self.wait(PURGE_DRAIN_S) == 0
        except (KafkaException, DeliveryError) as exc:
            log.warning("could not purge the producer: %s", exc)
            return False

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            with self._lock:
                self._failures[describe(error)] += 1
                self._failed_codes.add(error.code())
                if self._keep_failed:
                    self._failed.append(
                        (message.topic(), message.key() or None, message.value() or None)
                    )

    def _on_error(self, error: KafkaError) -> None:
        """Client-level errors: fatal ones poison the producer; librdkafka retries the rest and
        has already logged the details (through the ``librdkafka`` logger)."""
        if error.fatal():  # not reached with confluent-kafka (see the class doc), kept for safety
            log.error("fatal Kafka producer error: %s", describe(error))
            self.fatal = error
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("Kafka producer: %s (retrying)", describe(error))
        else:
            log.debug("Kafka producer: %s", describe(error))


class KafkaProducer:
    """Implements StreamProducer: ``send`` queues, ``flush`` is the durability point.

    A failed ``flush`` raises PartialDeliveryError whose ``unwritten`` indexes the records sent
    since the previous flush (in the order they were sent, across streams) that were not
    acknowledged: re-send those only. librdkafka reports failed records only, so the success
    path pays nothing per record; the failures are traced back to their records by content
    (SendWindow). A flush that gives up purges what is still queued (never written) or in
    flight: a record in flight counts as unwritten, though it may still land (at least once,
    never lost).

    After a fatal error the error is raised once and the next call gets a new producer, so the
    caller's re-send works (what the old one still held is discarded). Every record sent to the
    failed producer since the last flush then counts as unwritten, acknowledged or not: failure
    reports alone cannot tell which were, so this may duplicate records but never loses one.
    """

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._window = SendWindow()
        self._sender = Sender(config, keep_failed=True)
        self._closed = False

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        if self._closed:
            raise StreamError("this producer is closed")
        self._renew_if_fatal()
        self._sender.check_stream(stream)
        sent = self._window.add(stream, records)
        try:
            self._sender.send(stream, sent.records)
        except PartlyQueued as exc:
            sent.queued = exc.queued
            raise

    def flush(self, timeout: float = 30.0) -> None:
        """Everything sent since the last flush is written, or PartialDeliveryError says which
        records (by index since that flush) were not."""
        self._renew_if_fatal()
        sender = self._sender
        remaining = 0
        problem: DeliveryError | None = None
        try:
            remaining = sender.wait(timeout)
        except DeliveryError as exc:  # the producer failed for good; a new one takes over
            problem = exc
        # Every record not acknowledged must have had its failure report: purge what is left.
        settled = sender.fatal is None and (not (remaining or problem) or sender.purge_all())
        if not settled:
            self._window.lose_all()
        report = sender.take_failures(remaining, timeout)
        failed = sender.take_failed()
        unwritten, by_stream = self._window.close(failed if settled else ())
        if not unwritten:
            return
        reason = str(problem) if problem is not None else report or "no delivery report"
        raise PartialDeliveryError(
            f"{reason} ({len(unwritten)} records not acknowledged: re-send only those)",
            unwritten,
            by_stream,
        ) from problem

    def _renew_if_fatal(self) -> None:
        if self._sender.fatal is not None:
            log.warning(
                "replacing a Kafka producer after its fatal error: %s",
                describe(self._sender.fatal),
            )
            self._window.lose_all()
            self._sender = Sender(self._config, keep_failed=True)

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is pending (raising if it cannot be delivered), then stop using it."""
        if self._closed:
            return
        self._closed = True
        if self._sender.fatal is not None:
            return  # it failed loudly already; nothing it holds can be delivered
        started = time.monotonic()
        self.flush(timeout)
        log.debug("producer closed in %.3fs", time.monotonic() - started)


class _TransientLookup(Exception):
    """A metadata lookup failed in a way that a moment later may not (see METADATA_RETRY)."""
