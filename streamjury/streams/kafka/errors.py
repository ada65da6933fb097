"""Translates confluent-kafka's errors into streamjury's, so callers catch one family.

Also names the error codes that mean "a rebalance took this member's partitions away".
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from streamjury.errors import FencedError, OpenTransactionError, StreamError, UnknownStream


class TransactionStillOpenError(OpenTransactionError):
    """A partition's last stable offset has not reached what was written: a transaction on it
    has neither committed nor aborted yet. Transient by nature (the broker aborts a transaction
    that outlives ``transaction.timeout.ms``), so a caller that can wait may retry the read."""


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

TRANSIENT_DELIVERY_CODES = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._PURGE_QUEUE,
        KafkaError._PURGE_INFLIGHT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.CONCURRENT_TRANSACTIONS,
    }
)
"""Records that failed for these reasons (a broker restarting, a leader moving, a transaction
outliving a broker outage) are written fine by a new transaction a moment later. Any other
delivery failure (a record too large, a topic deleted, access denied) fails again."""

PERMANENT_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_VERSION,
        KafkaError.INVALID_TRANSACTION_TIMEOUT,
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._INVALID_ARG,
        KafkaError._NOT_IMPLEMENTED,
        KafkaError._UNSUPPORTED_FEATURE,
    }
)
"""Transactional failures that no retry fixes: the caller has to hear about them at once."""

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


ACCESS_DENIED_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError._AUTHENTICATION,
    }
)


def raise_unrecoverable(error: KafkaError) -> None:
    """Raise for an error event a consumer's poll handed out that librdkafka will not get over
    (a stream gone, access denied, a fatal error); return for the rest (a broker unreachable, a
    leader moving), which it recovers from by itself while the caller polls on."""
    code = error.code()
    if code in UNKNOWN_TOPIC_CODES:
        raise UnknownStream(f"a consumed stream does not exist (any more): {describe(error)}")
    if error.fatal() or code in ACCESS_DENIED_CODES:
        raise StreamError(f"Kafka consumer error: {describe(error)}")


def known_codes(*names: str) -> frozenset[int]:
    """The error codes of ``names`` that this confluent-kafka build knows (older ones lack the
    newest codes), so a set can name them without breaking on an older version."""
    return frozenset(getattr(KafkaError, name) for name in names if hasattr(KafkaError, name))


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
