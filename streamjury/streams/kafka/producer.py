"""The Kafka producer: idempotent, batched, and loud about every record it could not deliver.

``Sender`` is shared with the transactional writer: it queues records and tallies failures.
"""

from __future__ import annotations

import functools
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


class Sender:
    """Queues records on a confluent Producer and collects the failed delivery reports.

    Delivery reports arrive only for failures (``delivery.report.only.error``); success is
    "nothing failed and nothing is left in the queue" after a flush.

    A fatal error (a fenced or broken idempotent producer) is not handed to ``error_cb``:
    confluent-kafka raises it as a KafkaException from whichever call serves callbacks
    (poll, flush). ``fatal`` keeps it, and every later use raises DeliveryError: such a
    producer has to be replaced.
    """

    def __init__(
        self,
        config: ClientConfig,
        on_record: Callable[[int, KafkaError | None], None] | None = None,
    ) -> None:
        """``on_record(index, error)``, if given, hears every record's delivery report (success
        too), ``index`` being the one ``send`` was given for its first record, plus its place."""
        self._on_record = on_record
        self._lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self._failed_codes: set[int] = set()
        self._sent = 0
        self.fatal: KafkaError | None = None
        self._known_streams: set[str] = set()
        if on_record is not None:
            config = {**config, "delivery.report.only.error": False}
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

    def send(self, stream: str, records: Sequence[OutRecord], first_index: int = 0) -> None:
        """Queue every record; an empty value is sent as a null value (a tombstone)."""
        self.raise_if_fatal()
        with self._lock:
            self._sent += len(records)
        produce = self.producer.produce
        tracked = self._on_record is not None
        for place, record in enumerate(records):
            key = record.key.encode()
            value = record.value or None
            while True:
                try:
                    if tracked:
                        report = functools.partial(self._on_indexed, first_index + place)
                        produce(stream, value=value, key=key, on_delivery=report)
                    else:
                        produce(stream, value=value, key=key)
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    self.serve(QUEUE_FULL_WAIT_S)
                except KafkaException as exc:
                    raise DeliveryError(
                        f"could not queue a record for {stream!r}: {describe(None, exc)}"
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

    def purge_queued(self) -> None:
        """Drop what is still queued (never sent): it will certainly not be written. Records
        already sent keep their fate; their delivery reports still come."""
        try:
            self.producer.purge(in_queue=True, in_flight=False, blocking=False)
            self.producer.poll(0)
        except KafkaException as exc:
            log.debug("could not purge the producer queue: %s", exc)

    def _on_indexed(self, index: int, error: KafkaError | None, message: Any) -> None:
        self._on_delivery(error, message)
        if self._on_record is not None:
            self._on_record(index, error)

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            with self._lock:
                self._failures[describe(error)] += 1
                self._failed_codes.add(error.code())

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

    Every record's delivery report is kept, so a failed ``flush`` raises PartialDeliveryError
    whose ``unwritten`` indexes the records sent since the previous flush (in the order they
    were sent, across streams) that were not acknowledged: re-send those only. What was still
    queued is purged first (never written); a record in flight when the flush gave up counts
    as unwritten, though it may still land (at-least-once, never lost).

    After a fatal error the error is raised once and the next call gets a new producer, so the
    caller's re-send works (what the old one still held is discarded).
    """

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._next_index = 0
        """Index of the next record sent, counted over this producer's life."""
        self._window_start = 0
        """Index of the first record sent since the last flush."""
        self._acked: set[int] = set()
        self._sends: list[tuple[str, int, int]] = []
        """(stream, first index, count) of every send since the last flush."""
        self._sender = Sender(config, on_record=self._on_record)
        self._closed = False

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        if self._closed:
            raise StreamError("this producer is closed")
        self._renew_if_fatal()
        self._sender.check_stream(stream)
        with self._lock:
            first, self._next_index = self._next_index, self._next_index + len(records)
            self._sends.append((stream, first, len(records)))
        self._sender.send(stream, records, first_index=first)

    def flush(self, timeout: float = 30.0) -> None:
        """Everything sent since the last flush is written, or PartialDeliveryError says which
        records (by index since that flush) were not."""
        self._renew_if_fatal()
        remaining = 0
        problem: DeliveryError | None = None
        try:
            remaining = self._sender.wait(timeout)
        except DeliveryError as exc:  # the producer failed for good; a new one takes over
            problem = exc
        if remaining and self._sender.fatal is None:
            self._sender.purge_queued()
        report = self._sender.take_failures(remaining, timeout)
        unwritten, by_stream = self._next_window()
        if not unwritten:
            return
        reason = str(problem) if problem is not None else report or "no delivery report"
        raise PartialDeliveryError(
            f"{reason} ({len(unwritten)} records not acknowledged: re-send only those)",
            unwritten,
            by_stream,
        ) from problem

    def _on_record(self, index: int, error: KafkaError | None) -> None:
        if error is None:
            with self._lock:
                if index >= self._window_start:
                    self._acked.add(index)

    def _next_window(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]]]:
        """The unacknowledged records of the window that ends now: their indices from its
        start, and by stream (indices among that stream's records of the window)."""
        with self._lock:
            start, end = self._window_start, self._next_index
            acked, self._acked = self._acked, set()
            sends, self._sends = self._sends, []
            self._window_start = end
        unwritten = tuple(index - start for index in range(start, end) if index not in acked)
        by_stream: dict[str, list[int]] = {}
        seen: Counter[str] = Counter()
        for stream, first, count in sends:
            missing = [seen[stream] + n for n in range(count) if first + n not in acked]
            if missing:
                by_stream.setdefault(stream, []).extend(missing)
            seen[stream] += count
        return unwritten, {stream: tuple(indices) for stream, indices in by_stream.items()}

    def _renew_if_fatal(self) -> None:
        if self._sender.fatal is not None:
            log.warning(
                "replacing a Kafka producer after its fatal error: %s",
                describe(self._sender.fatal),
            )
            self._sender = Sender(self._config, on_record=self._on_record)

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
