"""Translates confluent-kafka's errors into streamjury's, so callers catch one family.

Also names the error codes that mean "a rebalance took this member's partitions away".
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from streamjury.errors import FencedError, StreamError, UnknownStream

REBALANCE_CODES = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
        KafkaError.STALE_MEMBER_EPOCH,
        KafkaError.FENCED_MEMBER_EPOCH,
        KafkaError._ASSIGNMENT_LOST,
    }
)
"""A commit refused because the group moved on: the records will be redelivered elsewhere."""

PRODUCER_FENCED_CODES = frozenset(
    {
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTION_COORDINATOR_FENCED,
        KafkaError._FENCED,
    }
)
"""A newer writer with the same transactional id exists: this one must stop."""

UNKNOWN_TOPIC_CODES = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})

RETRIABLE_COMMIT_CODES = frozenset(
    {
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._WAIT_COORD,
        KafkaError._ALL_BROKERS_DOWN,
    }
)
"""Commit failures that a later attempt may overcome (the broker or its coordinator moved)."""


def error_of(exc: KafkaException) -> KafkaError | None:
    """The KafkaError inside a KafkaException (librdkafka puts it in ``args[0]``)."""
    if exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def describe(error: KafkaError | None, fallback: BaseException | None = None) -> str:
    """A short readable reason: librdkafka's text and code name."""
    if error is None:
        return str(fallback) if fallback is not None else "unknown Kafka error"
    return f"{error.str()} ({error.name()})"


def as_stream_error(exc: KafkaException, what: str) -> StreamError:
    """The streamjury error for a failed ``what``: fenced, unknown stream, or a plain StreamError."""
    error = error_of(exc)
    message = f"Kafka could not {what}: {describe(error, exc)}"
    if error is not None:
        code = error.code()
        if code in REBALANCE_CODES or code in PRODUCER_FENCED_CODES:
            return FencedError(message)
        if code in UNKNOWN_TOPIC_CODES:
            return UnknownStream(message)
    return StreamError(message)
