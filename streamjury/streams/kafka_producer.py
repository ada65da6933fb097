"""The Kafka producer: idempotent, batched, and loud about every record it could not deliver.

``Sender`` is shared with the transactional writer: it queues records and tallies failures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamjury.errors import DeliveryError, StreamError, UnknownStream
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka_config import ClientConfig
from streamjury.streams.kafka_errors import UNKNOWN_TOPIC_CODES, describe

log = logging.getLogger(__name__)

QUEUE_FULL_WAIT_S = 0.1
"""How long ``send`` serves delivery reports when librdkafka's queue is full, before retrying."""
METADATA_TIMEOUT_S = 10.0


class Sender:
    """Queues records on a confluent Producer and collects the failed delivery reports.

    Delivery reports arrive only for failures (``delivery.report.only.error``); success is
    "nothing failed and nothing is left in the queue" after a flush.
    """

    def __init__(self, config: ClientConfig) -> None:
        self._lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self._sent = 0
        self._fatal: KafkaError | None = None
        self._known_streams: set[str] = set()
        self.producer = Producer(
            {**config, "on_delivery": self._on_delivery, "error_cb": self._on_error}
        )

    def check_stream(self, stream: str) -> None:
        """UnknownStream now rather than a delivery failure much later (auto-create is off)."""
        if stream in self._known_streams:
            return
        try:
            metadata = self.producer.list_topics(topic=stream, timeout=METADATA_TIMEOUT_S)
        except KafkaException as exc:
            raise StreamError(f"cannot look up stream {stream!r}: {exc}") from exc
        topic = metadata.topics.get(stream)
        if topic is None or (topic.error is not None and topic.error.code() in UNKNOWN_TOPIC_CODES):
            raise UnknownStream(f"stream {stream!r} does not exist: create it first")
        if topic.error is not None:
            raise StreamError(f"cannot look up stream {stream!r}: {topic.error}")
        self._known_streams.add(stream)

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        """Queue every record; an empty value is sent as a null value (a tombstone)."""
        self.raise_if_fatal()
        with self._lock:
            self._sent += len(records)
        produce = self.producer.produce
        for record in records:
            key = record.key.encode()
            value = record.value or None
            while True:
                try:
                    produce(stream, value=value, key=key)
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    self.producer.poll(QUEUE_FULL_WAIT_S)
                except KafkaException as exc:
                    raise DeliveryError(
                        f"could not queue a record for {stream!r}: {describe(None, exc)}"
                    ) from exc
        self.producer.poll(0)

    def flush(self, timeout: float) -> None:
        """Wait for every queued record; DeliveryError naming what failed or is still pending."""
        remaining = int(self.producer.flush(timeout))
        self.raise_if_fatal()
        problem = self.take_failures(remaining, timeout)
        if problem:
            raise DeliveryError(problem)

    def take_failures(self, remaining: int = 0, timeout: float = 0.0) -> str | None:
        """What went wrong since the last call, as a sentence (None if nothing); resets the tally."""
        with self._lock:
            failures, self._failures = self._failures, Counter()
            sent, self._sent = self._sent, 0
        if not failures and not remaining:
            return None
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
        return "; ".join(parts)

    def raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise DeliveryError(
                f"the Kafka producer hit a fatal error and must be recreated: "
                f"{describe(self._fatal)}"
            )

    def pending(self) -> int:
        """Records queued or in flight."""
        return len(self.producer)

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            with self._lock:
                self._failures[describe(error)] += 1

    def _on_error(self, error: KafkaError) -> None:
        """Client-level errors: fatal ones poison the producer; librdkafka retries the rest and
        has already logged the details (through the ``librdkafka`` logger)."""
        if error.fatal():
            log.error("fatal Kafka producer error: %s", describe(error))
            self._fatal = error
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("Kafka producer: %s (retrying)", describe(error))
        else:
            log.debug("Kafka producer: %s", describe(error))


class KafkaProducer:
    """Implements StreamProducer: ``send`` queues, ``flush`` is the durability point."""

    def __init__(self, config: ClientConfig) -> None:
        self._sender = Sender(config)
        self._closed = False

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        if self._closed:
            raise StreamError("this producer is closed")
        self._sender.check_stream(stream)
        self._sender.send(stream, records)

    def flush(self, timeout: float = 30.0) -> None:
        self._sender.flush(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is pending (raising if it cannot be delivered), then stop using it."""
        if self._closed:
            return
        self._closed = True
        started = time.monotonic()
        self._sender.flush(timeout)
        log.debug("producer closed in %.3fs", time.monotonic() - started)
