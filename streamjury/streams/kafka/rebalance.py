"""The rebalance callbacks of a Kafka group member (cooperative-sticky assignor).

New partitions start at their committed offset or the consumer's start position; the
application hears of every partition it gains or loses, in poll, before any of its records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from streamjury.streams.base import PartitionsCallback
from streamjury.streams.kafka.errors import as_stream_error
from streamjury.streams.kafka.records import Position, by_stream, describe_partitions

log = logging.getLogger(__name__)

COMMITTED_TIMEOUT_S = 45.0
"""Longest wait for a new partition's committed offset. With read_committed the broker holds
the answer back while the previous owner's transaction is open, which lasts at most the
transaction timeout (plus the coordinator's abort check) if that owner was killed."""


class Rebalancer:
    """Handles librdkafka's assign / revoke / lost callbacks for one member.

    Cooperative rebalancing hands over only the partitions that move, so callbacks carry
    increments. An exception from the application's callback cannot cross librdkafka: it is
    kept in ``failure`` and the consumer raises it from ``poll``.
    """

    def __init__(
        self,
        group: str | None,
        start_offsets: Mapping[Position, int],
        on_assign: PartitionsCallback | None,
        on_revoke: PartitionsCallback | None,
    ) -> None:
        self.group = group
        self._start_offsets = start_offsets
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._announced: set[Position] = set()
        """Partitions the application was told it owns (and not yet told it lost)."""
        self.closing = False
        self.failure: BaseException | None = None

    def assigned(self, consumer: Any, partitions: list[Any]) -> None:
        """Start each new partition at its committed offset, else at the start position.

        An assignment arriving while closing is taken as is and not announced: asking for
        committed offsets then would block until the timeout, and the final revoke follows.
        """
        if self.closing or not partitions:
            consumer.incremental_assign(partitions)
            return
        try:
            consumer.incremental_assign(self._positions(consumer, partitions))
        except BaseException as exc:
            self._remember(exc)
            return
        log.info("group %s: assigned %s", self.group, describe_partitions(partitions))
        self._announced.update((tp.topic, tp.partition) for tp in partitions)
        self.notify(self._on_assign, by_stream(partitions))

    def revoked(self, consumer: Any, partitions: list[Any]) -> None:
        """Tell the application first (it may still hold state), then let the partitions go."""
        announced = [tp for tp in partitions if (tp.topic, tp.partition) in self._announced]
        if announced:
            log.info("group %s: revoked %s", self.group, describe_partitions(announced))
            self._announced.difference_update((tp.topic, tp.partition) for tp in announced)
            self.notify(self._on_revoke, by_stream(announced))
        try:
            consumer.incremental_unassign(partitions)
        except KafkaException as exc:
            self._remember(exc)

    def lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Partitions taken away without a revoke: the group presumed this member dead."""
        log.warning(
            "group %s: lost %s (session timed out)", self.group, describe_partitions(partitions)
        )
        self.revoked(consumer, partitions)

    def notify(self, callback: PartitionsCallback | None, grouped: dict[str, list[str]]) -> None:
        """Call the application's callback once per stream, keeping what it raises."""
        if callback is None:
            return
        for stream, partition_ids in grouped.items():
            try:
                callback(stream, partition_ids)
            except BaseException as exc:
                self._remember(exc)

    def take_failure(self) -> BaseException | None:
        failure, self.failure = self.failure, None
        return failure

    def _positions(self, consumer: Any, partitions: list[Any]) -> list[Any]:
        """Committed offsets (waiting out pending transactional ones), else the start offsets."""
        try:
            committed = consumer.committed(partitions, timeout=COMMITTED_TIMEOUT_S)
        except KafkaException as exc:
            what = f"read the committed offsets of group {self.group!r}"
            raise as_stream_error(exc, what) from exc
        positioned = []
        for tp in committed:
            offset = tp.offset
            if offset < 0:
                offset = self._start_offsets.get((tp.topic, tp.partition), tp.offset)
            positioned.append(TopicPartition(tp.topic, tp.partition, offset))
        return positioned

    def _remember(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
