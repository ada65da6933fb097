"""Reads one Kafka partition from an offset to its current end, without a consumer group.

The decision service restores its join state this way from its changelog partition.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streamjury.errors import StreamError
from streamjury.streams.base import Record
from streamjury.streams.kafka.admin import KafkaAdmin
from streamjury.streams.kafka.config import KafkaClientConfigs
from streamjury.streams.kafka.errors import as_stream_error, describe, raise_unrecoverable
from streamjury.streams.kafka.records import to_record

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
WAIT_S = 0.5
SETTLE_TIMEOUT_S = 45.0
"""Longest wait for open transactions to finish: a killed writer's lasts up to its timeout
(10 s) plus the coordinator's abort check (10 s by default)."""
STALL_S = 60.0
"""Give up if the partition yields nothing for this long before its end (broker gone)."""


def read_partition(
    configs: KafkaClientConfigs, admin: KafkaAdmin, stream: str, partition: str, start: int
) -> Iterator[Record]:
    """Committed records of ``stream``/``partition`` from ``start`` up to its end.

    The end is taken once every transaction open at the call has finished (see
    ``KafkaAdmin.settled_end``), so a restore never misses a batch whose commit just returned.
    Checks and sizes everything now, so errors surface before the first next().
    """
    count = admin.partition_count(stream)
    if not partition.isdigit() or int(partition) >= count:
        raise StreamError(f"stream {stream!r} has no partition {partition!r}")
    number = int(partition)
    end = admin.settled_end(stream, number, SETTLE_TIMEOUT_S)
    first = max(start, admin.start_offset(stream, number))
    if first >= end:
        return iter(())
    group = f"{configs.settings.client_id}-reader-{uuid.uuid4().hex}"
    reader = Consumer(configs.reader(group, stop_at_end=True))
    try:
        reader.assign([TopicPartition(stream, number, first)])
    except KafkaException as exc:
        reader.close()
        raise as_stream_error(exc, f"read {stream}/{partition}") from exc
    return _pages(reader, TopicPartition(stream, number), end)


def _pages(reader: Any, tp: Any, end: int) -> Iterator[Record]:
    """Yields records below ``end``; stops once the position reaches ``end`` (a transaction's
    commit marker may be the partition's last offset, so no record need carry ``end - 1``),
    or at the end-of-partition event."""
    try:
        last_progress = time.monotonic()
        while True:
            try:
                first = reader.poll(WAIT_S)
                rest = reader.consume(PAGE_SIZE, 0) if first is not None else []
            except KafkaException as exc:
                raise as_stream_error(exc, "read a partition") from exc
            messages = [first, *rest] if first is not None else []
            yielded = False
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    raise_unrecoverable(error)  # else a broker or leader moment: poll on
                    log.warning("reading a partition: %s", describe(error))
                    continue
                if message.offset() >= end:
                    return
                yielded = True
                yield to_record(message)
            if messages and _position(reader, tp) >= end:
                return
            if yielded:  # error events alone are not progress
                last_progress = time.monotonic()
            if time.monotonic() - last_progress > STALL_S:
                raise StreamError(f"reading a partition stalled for {STALL_S:.0f}s")
    finally:
        reader.close()


def _position(reader: Any, tp: Any) -> int:
    """The reader's next offset; librdkafka moves it past commit markers it has skipped."""
    (found,) = reader.position([tp])
    return int(found.offset)
