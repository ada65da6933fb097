"""Kafka consumers: group members (cooperative rebalancing, explicit commits) and group-less readers.

Both read committed data only, in micro-batches, and hand out ``Record`` objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streamjury.errors import FencedError, StreamError
from streamjury.streams.base import PartitionsCallback, Record, last_per_partition
from streamjury.streams.kafka.config import ClientConfig
from streamjury.streams.kafka.errors import (
    REBALANCE_CODES,
    RETRIABLE_COMMIT_CODES,
    as_stream_error,
    describe,
    error_of,
    raise_unrecoverable,
)
from streamjury.streams.kafka.rebalance import Rebalancer
from streamjury.streams.kafka.records import Position, by_stream, to_record

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_S = 30.0
"""How long ``commit`` keeps retrying while the group coordinator is unreachable."""
COMMIT_RETRY_S = 0.5


class KafkaConsumer:
    """Implements StreamConsumer for a group (``subscribe``) or for none (``assign``).

    Group members use the cooperative-sticky assignor: a rebalance revokes only the partitions
    that move, so the others keep flowing and the decision service does not drop and reload
    the join state of partitions it keeps. Rebalance callbacks run inside ``poll``.
    """

    def __init__(
        self,
        config: ClientConfig,
        streams: Sequence[str],
        group: str | None,
        start_offsets: dict[Position, int],
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        self.group = group
        self._start_offsets = start_offsets
        self._rebalancer = Rebalancer(group, start_offsets, on_assign, on_revoke)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._closed = False
        self._announced_group_less = False
        self._consumer = Consumer(config)
        try:
            if group is None:
                self._consumer.assign(
                    [
                        TopicPartition(topic, number, offset)
                        for (topic, number), offset in sorted(start_offsets.items())
                    ]
                )
            else:
                self._consumer.subscribe(
                    list(streams),
                    on_assign=self._rebalancer.assigned,
                    on_revoke=self._rebalancer.revoked,
                    on_lost=self._rebalancer.lost,
                )
        except KafkaException as exc:
            self._consumer.close()
            raise as_stream_error(exc, f"start consuming {', '.join(streams)}") from exc

    # -- reading ---------------------------------------------------------------------------

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Waits for the first record with ``poll``, then takes what is already fetched with
        ``consume(n, 0)``: librdkafka's ``consume(n, timeout)`` would wait for all ``n``."""
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self._check_open()
        self._announce_group_less_assignment()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            first = self._call("poll", self._consumer.poll, remaining)
            if first is not None:
                messages = [first]
                if max_records > 1:
                    more = self._call("poll", self._consumer.consume, max_records - 1, 0)
                    messages.extend(more)
                records = self._records(messages)
                if records:
                    return records
            if time.monotonic() >= deadline:
                return []

    def _records(self, messages: Sequence[Any]) -> list[Record]:
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(to_record(message))
            else:
                self._on_message_error(error)
        return records

    def _on_message_error(self, error: KafkaError) -> None:
        """End-of-partition events are not errors; the rest: see ``raise_unrecoverable``."""
        if error.code() == KafkaError._PARTITION_EOF:
            return
        raise_unrecoverable(error)
        log.warning("Kafka consumer: %s", describe(error))

    # -- committing ------------------------------------------------------------------------

    def commit(self, records: Sequence[Record]) -> None:
        """Synchronously commit offset+1 of each partition's last record.

        FencedError if a partition was revoked (its new owner reads these records again) or the
        group refused the commit because it rebalanced meanwhile.
        """
        self._check_open()
        if self.group is None:
            raise StreamError("a group-less reader cannot commit")
        if not records:
            return
        offsets = self.next_offsets(records)
        deadline = time.monotonic() + COMMIT_TIMEOUT_S
        while True:
            try:
                answer = self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                error = error_of(exc)
                code = error.code() if error is not None else None
                if code in RETRIABLE_COMMIT_CODES and time.monotonic() < deadline:
                    log.warning("commit failed, retrying: %s", describe(error, exc))
                    time.sleep(COMMIT_RETRY_S)
                    continue
                if code in REBALANCE_CODES:
                    raise FencedError(
                        f"group {self.group!r} rebalanced before the commit ({describe(error)}): "
                        "these records will be redelivered"
                    ) from exc
                raise as_stream_error(exc, f"commit for group {self.group!r}") from exc
            failed = [tp for tp in answer or () if tp.error is not None]
            if failed:
                raise StreamError(
                    f"commit for group {self.group!r} failed for "
                    + ", ".join(f"{tp.topic}/{tp.partition}: {tp.error}" for tp in failed)
                )
            return

    def next_offsets(self, records: Sequence[Record]) -> list[Any]:
        """The TopicPartitions a commit of ``records`` stores, after checking they are ours."""
        owned = self.owned()
        offsets = []
        for (stream, partition), offset in sorted(last_per_partition(records).items()):
            if (stream, int(partition)) not in owned:
                raise FencedError(
                    f"{stream}/{partition} is no longer assigned to this member of group "
                    f"{self.group!r}: its new owner will read these records again"
                )
            offsets.append(TopicPartition(stream, int(partition), offset + 1))
        return offsets

    def rewind(
        self, records: Sequence[Record], *, back_to: Mapping[Position, int] | None = None
    ) -> None:
        """Seek back to the first of ``records`` in each partition still owned, so the next
        poll delivers them again: used after a transaction that carried them was aborted.

        ``back_to`` names positions further back still (a partition's committed offset, or -2
        for its earliest record when the group has none): each partition goes to the lower.
        """
        first: dict[Position, int] = dict(back_to or {})
        for record in records:
            position = (record.stream, int(record.partition))
            first[position] = min(first.get(position, record.offset), record.offset)
        owned = self.owned()
        for (topic, number), offset in sorted(first.items()):
            if (topic, number) in owned:
                try:
                    self._consumer.seek(TopicPartition(topic, number, offset))
                except KafkaException as exc:
                    raise as_stream_error(exc, f"rewind {topic}/{number} to {offset}") from exc

    def owned(self) -> set[Position]:
        """The (topic, partition) pairs assigned to this member now."""
        if self._closed:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def committed_offsets(self, partitions: Sequence[Any], timeout: float) -> dict[Position, int]:
        """(topic, partition) -> the group's committed next offset, for TopicPartitions.

        read_committed members ask with ``require_stable``: the answer waits until no
        transaction that carries offsets of these partitions is still being completed.
        Partitions without a committed offset are left out; StreamError if any could not be read.
        """
        self._check_open()
        what = f"read the committed offsets of group {self.group!r}"
        try:
            found = self._consumer.committed(list(partitions), timeout=timeout)
        except KafkaException as exc:
            raise as_stream_error(exc, what) from exc
        failed = [tp for tp in found if tp.error is not None]
        if failed:
            raise as_stream_error(KafkaException(failed[0].error), what)
        return {(tp.topic, tp.partition): int(tp.offset) for tp in found if tp.offset >= 0}

    def group_metadata(self) -> Any:
        """What a transaction needs to commit this member's offsets (with fencing by generation)."""
        if self.group is None:
            raise StreamError("a group-less reader has no group to commit offsets for")
        return self._consumer.consumer_group_metadata()

    # -- membership ------------------------------------------------------------------------

    def assignment(self) -> dict[str, list[str]]:
        if self._closed:
            return {}
        return by_stream(self._consumer.assignment())

    def close(self) -> None:
        """Leave the group at once (a final revoke runs); uncommitted records go to the next owner."""
        if self._closed:
            return
        self._closed = True
        self._rebalancer.closing = True
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("Kafka consumer did not close cleanly: %s", exc)
        if self.group is None and self._announced_group_less:
            self._rebalancer.notify(self._on_revoke, by_stream(self._group_less_partitions()))

    # -- helpers ---------------------------------------------------------------------------

    def _call(self, what: str, action: Callable[..., Any], *args: Any) -> Any:
        """Run a librdkafka call that may serve callbacks; re-raise what a callback raised."""
        try:
            result = action(*args)
        except KafkaException as exc:
            raise as_stream_error(exc, what) from exc
        failure = self._rebalancer.take_failure()
        if failure is not None:
            # A failed assign or revoke leaves this member inconsistent: leave the group.
            self.close()
            if isinstance(failure, StreamError | KeyboardInterrupt | SystemExit):
                raise failure
            raise StreamError(f"a partition callback failed: {failure!r}") from failure
        return result

    def _announce_group_less_assignment(self) -> None:
        """A group-less reader owns its partitions from the first poll, like a lone member."""
        if self.group is None and not self._announced_group_less:
            self._announced_group_less = True
            self._rebalancer.notify(self._on_assign, by_stream(self._group_less_partitions()))

    def _group_less_partitions(self) -> list[Any]:
        return [TopicPartition(topic, number) for topic, number in sorted(self._start_offsets)]

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError("this consumer is closed")
