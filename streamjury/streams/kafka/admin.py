"""Topic and offset administration for the Kafka backend, over one AdminClient.

Creates topics, lists partitions, and answers the offset questions the services ask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streamjury.errors import StreamError, UnknownStream
from streamjury.streams.base import StartFrom, StartKind
from streamjury.streams.kafka.config import ClientConfig
from streamjury.streams.kafka.errors import (
    UNKNOWN_TOPIC_CODES,
    TransactionStillOpenError,
    as_stream_error,
    error_of,
    known_codes,
)

log = logging.getLogger(__name__)

ADMIN_TIMEOUT_S = 30.0
"""Longest wait for one admin answer (topic creation, offsets) before raising StreamError."""
REQUEST_TIMEOUT_S = 10.0
"""One offsets request; a failed or lost one is asked again until ADMIN_TIMEOUT_S."""
ANSWER_GRACE_S = 2.0
"""How much longer than its own timeout a request's future may take before it counts as lost."""


T = TypeVar("T")
TRANSIENT_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.UNSTABLE_OFFSET_COMMIT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
    }
) | known_codes("_DESTROY_BROKER")
"""Errors that clear up by themselves in a moment, whatever librdkafka's retriable flag says.

OFFSET_NOT_AVAILABLE: a leader elected a moment ago answers offset look-ups with it until its
high watermark has caught up with the replicas' (Kafka's own clients retry it).

_DESTROY_BROKER: up to librdkafka 2.15, a request in flight on a broker that the client
decommissioned (e.g. on re-bootstrap) failed with it; 2.16 reports _TRANSPORT instead."""


def partition_ids(count: int) -> list[str]:
    """Partition names as the Protocol spells them: Kafka's partition numbers, as strings."""
    return [str(number) for number in range(count)]


class KafkaAdmin:
    """Metadata, topic creation and offset look-ups; thread-safe like the AdminClient it wraps."""

    def __init__(self, config: ClientConfig, *, partitions: int, replication_factor: int) -> None:
        self._client = AdminClient(config)
        self._partitions = partitions
        self._replication_factor = replication_factor

    # -- topics ----------------------------------------------------------------------------

    def topic_names(self) -> list[str]:
        """Every topic except Kafka's internal ones (``__consumer_offsets``...)."""
        metadata = self._metadata(None)
        return sorted(name for name in metadata.topics if not name.startswith("__"))

    def partition_count(self, stream: str) -> int:
        """How many partitions ``stream`` has; UnknownStream if it does not exist."""
        topic = self._metadata(stream).topics.get(stream)
        if topic is None or topic.error is not None:
            code = topic.error.code() if topic is not None and topic.error is not None else None
            if topic is None or code in UNKNOWN_TOPIC_CODES:
                raise UnknownStream(f"stream {stream!r} does not exist: create it first")
            raise StreamError(f"cannot describe stream {stream!r}: {topic.error}")
        return len(topic.partitions)

    def partitions(self, stream: str) -> list[str]:
        return partition_ids(self.partition_count(stream))

    def create_topics(self, streams: Iterable[str], *, compacted: bool) -> None:
        """Create the missing ones and wait until every partition has a leader.

        Another process creating the same topic meanwhile is fine (TOPIC_ALREADY_EXISTS).
        """
        existing = set(self._metadata(None).topics)
        missing = sorted({stream for stream in streams if stream not in existing})
        if not missing:
            return
        config = {"cleanup.policy": "compact"} if compacted else {}
        new_topics = [
            NewTopic(
                stream,
                num_partitions=self._partitions,
                replication_factor=self._replication_factor,
                config=dict(config),
            )
            for stream in missing
        ]
        futures = self._client.create_topics(
            new_topics, operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S
        )
        for stream, future in futures.items():
            try:
                future.result(timeout=ADMIN_TIMEOUT_S)
            except KafkaException as exc:
                error = error_of(exc)
                if error is None or error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise as_stream_error(exc, f"create stream {stream!r}") from exc
        self._wait_for_leaders(missing)
        log.info(
            "created %sstream(s) %s with %d partitions",
            "compacted " if compacted else "",
            ", ".join(missing),
            self._partitions,
        )

    def _wait_for_leaders(self, streams: Sequence[str]) -> None:
        """Producing right after creation fails until each partition has a leader."""
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        pending = set(streams)
        while pending:
            for stream in sorted(pending):
                topic = self._metadata(stream).topics.get(stream)
                if (
                    topic is not None
                    and topic.error is None
                    and topic.partitions
                    and all(p.leader >= 0 for p in topic.partitions.values())
                ):
                    pending.discard(stream)
            if pending:
                if time.monotonic() > deadline:
                    raise StreamError(f"streams {sorted(pending)} got no partition leaders in time")
                time.sleep(0.05)

    def _metadata(self, stream: str | None) -> Any:
        return self._retrying(
            "read the cluster metadata",
            lambda: self._client.list_topics(topic=stream, timeout=ADMIN_TIMEOUT_S),
        )

    def _retrying(self, what: str, request: Callable[[], T]) -> T:
        """Run an admin request, retrying what a moment may fix (a partition leader being
        elected after topic creation or a broker restart) for up to ADMIN_TIMEOUT_S."""
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        pause = 0.05
        while True:
            self._client.poll(0)  # deliver librdkafka's queued log lines to Python logging
            try:
                return request()
            except TimeoutError as exc:
                self._client.poll(0)  # why it failed (librdkafka logged it meanwhile) comes first
                # A future that never completed (librdkafka lost track of the request, e.g.
                # across a broker restart): ask again with a new request.
                if time.monotonic() + pause > deadline:
                    raise StreamError(f"Kafka could not {what}: no answer in time") from exc
                log.debug("could not %s, retrying: no answer in time", what)
            except KafkaException as exc:
                self._client.poll(0)  # why it failed (a refused SASL handshake...) comes first
                error = error_of(exc)
                transient = error is not None and (
                    error.retriable() or error.code() in TRANSIENT_CODES
                )
                if not transient or time.monotonic() + pause > deadline:
                    raise as_stream_error(exc, what) from exc
                log.debug("could not %s, retrying: %s", what, exc)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    # -- offsets ---------------------------------------------------------------------------

    def end_offsets(self, stream: str) -> dict[str, int]:
        """Partition -> the last stable offset: where a read_committed reader's data ends now.

        Equals the high watermark when no transaction is open on that partition.
        """
        return self._list_offsets(stream, OffsetSpec.latest())

    def settled_end(self, stream: str, partition: int, timeout: float) -> int:
        """The end of ``partition`` once every transaction open on it now has finished.

        A committed transaction's markers reach its partitions shortly *after* the commit
        returns, and a killed writer's transaction stays open until it times out; reading only
        to the present last stable offset could miss either. So: take the high watermark now,
        and wait until the last stable offset has caught up with it.
        """
        tp = TopicPartition(stream, partition)
        high = self._list_offsets_of([tp], OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED)
        deadline = time.monotonic() + timeout
        pause = 0.01
        while True:
            stable = self._list_offsets_of([tp], OffsetSpec.latest(), IsolationLevel.READ_COMMITTED)
            if stable[tp.partition] >= high[tp.partition]:
                return stable[tp.partition]
            if time.monotonic() > deadline:
                raise TransactionStillOpenError(
                    f"{stream}/{partition} still has a transaction open after {timeout:.0f}s "
                    f"(stable up to {stable[tp.partition]}, written up to {high[tp.partition]})"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def start_offset(self, stream: str, partition: int) -> int:
        """The first offset still in ``partition`` (retention or compaction removed the rest).

        Readers start at this exact number rather than at librdkafka's logical "beginning",
        whose look-up costs a 500 ms retry pause on a partition it has just discovered.
        """
        tp = TopicPartition(stream, partition)
        earliest = self._list_offsets_of([tp], OffsetSpec.earliest(), IsolationLevel.READ_COMMITTED)
        return earliest[partition]

    def offsets_for_time(self, stream: str, timestamp_ms: int) -> dict[str, int]:
        """Partition -> first offset whose timestamp is at or after ``timestamp_ms``, or the end."""
        found = self._list_offsets(stream, OffsetSpec.for_timestamp(timestamp_ms))
        ends = self.end_offsets(stream)
        return {p: offset if offset >= 0 else ends[p] for p, offset in found.items()}

    def _list_offsets(self, stream: str, spec: OffsetSpec) -> dict[str, int]:
        count = self.partition_count(stream)
        tps = [TopicPartition(stream, number) for number in range(count)]
        found = self._list_offsets_of(tps, spec, IsolationLevel.READ_COMMITTED)
        return {str(number): offset for number, offset in sorted(found.items())}

    def _list_offsets_of(
        self, tps: Sequence[Any], spec: OffsetSpec, isolation: IsolationLevel
    ) -> dict[int, int]:
        """Partition number -> offset, for partitions of one topic."""

        def request() -> dict[int, int]:
            futures = self._client.list_offsets(
                dict.fromkeys(tps, spec),
                isolation_level=isolation,
                request_timeout=REQUEST_TIMEOUT_S,
            )
            wait = REQUEST_TIMEOUT_S + ANSWER_GRACE_S
            return {
                tp.partition: int(future.result(timeout=wait).offset)
                for tp, future in futures.items()
            }

        topic = tps[0].topic if tps else "?"
        return self._retrying(f"list the offsets of {topic!r}", request)

    def committed(self, stream: str, group: str, reader: ClientConfig) -> dict[str, int]:
        """Partition -> the group's committed next offset (partitions it never committed: absent).

        Asked through a consumer of ``reader``'s config (``group.id`` = ``group``; it never
        subscribes, so it never joins the group), not the admin client: librdkafka (2.16 too)
        dereferences a null consumer group in an admin client that gets NOT_COORDINATOR for an
        OffsetFetch (a coordinator moving, a broker still loading its offsets), and the whole
        process segfaults (librdkafka#5040). ``isolation.level=read_committed`` makes the fetch
        require stable offsets: those still inside an open transaction are waited out.
        """
        count = self.partition_count(stream)
        partitions = [TopicPartition(stream, number) for number in range(count)]
        consumer = Consumer(reader)

        def fetch() -> list[Any]:
            found: list[Any] = consumer.committed(partitions, timeout=REQUEST_TIMEOUT_S)
            for tp in found:
                if tp.error is not None:
                    # UNSTABLE_OFFSET_COMMIT: a transaction that carries offsets of this
                    # partition is still completing (its commit returned, its markers are on
                    # their way). Retried like any transient error: never read as "absent".
                    raise KafkaException(tp.error)
            return found

        try:
            found = self._retrying(f"read the committed offsets of group {group!r}", fetch)
        finally:
            consumer.close()
        return {str(tp.partition): int(tp.offset) for tp in found if tp.offset >= 0}

    def start_offsets(self, streams: Sequence[str], start: StartFrom) -> dict[tuple[str, int], int]:
        """(stream, partition number) -> where a reader without a committed position begins.

        Resolved when the consumer is created, so LATEST means "records sent from now on" even
        though a group member only gets its partitions later, when it joins. EARLIEST is an
        exact offset too (see ``start_offset``); if retention passes it before the member joins,
        ``auto.offset.reset=earliest`` moves it on.
        """
        positions: dict[tuple[str, int], int] = {}
        for stream in streams:
            if start.kind is StartKind.LATEST:
                by_partition = self.end_offsets(stream)
            elif start.kind is StartKind.TIMESTAMP:
                by_partition = self.offsets_for_time(stream, start.timestamp_ms or 0)
            else:
                by_partition = self._list_offsets(stream, OffsetSpec.earliest())
                if start.kind is StartKind.OFFSET:
                    by_partition.update(
                        (p, o) for p, o in start.offsets.items() if p in by_partition
                    )
            for partition, offset in by_partition.items():
                positions[(stream, int(partition))] = offset
        return positions
