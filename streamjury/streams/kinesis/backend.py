"""The Kinesis backend: Amazon Kinesis Data Streams (or LocalStack, kinesis-local) through boto3.

Shards are partitions and sequence numbers offsets; leases, checkpoints and state live in a store.

What differs from the local and Kafka backends, and why:

* Offsets are sequence numbers: increasing within a shard, not dense, not starting at 0.
* ``end_offsets`` gives, per shard (open or closed), its last record's sequence number + 1, or
  its starting sequence number if it has none. Kinesis does not expose that number: it is found
  by reading back from a recent timestamp (see ``kinesis_shards.last_sequence``), so it costs a
  few GetRecords calls per shard. ``StartFrom.at_offsets(end_offsets(...))`` reads what comes
  after, as on the other backends.
* Consumer groups split the shards between their members (leases in the checkpoint store),
  and children of split or merged shards are read after their parents.
* Compacted streams are table streams in the checkpoint store (no compaction on Kinesis):
  ``send`` upserts a key, an empty value deletes it, ``read_partition`` returns the current
  records. Tombstones are not kept: a deleted key is simply absent.
* The atomic writer is at-least-once (``exactly_once = False``); see ``kinesis_writer``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from streamjury.errors import StreamError
from streamjury.retry import RetryPolicy
from streamjury.settings import DEFAULT_LOCAL_DIR, KinesisSettings
from streamjury.streams.base import PartitionsCallback, Record, StartFrom, StreamConsumer
from streamjury.streams.kinesis.catalog import StreamCatalog
from streamjury.streams.kinesis.checkpoints.base import CheckpointStore
from streamjury.streams.kinesis.clients import kinesis_client
from streamjury.streams.kinesis.consumer import ConsumerOptions, KinesisConsumer
from streamjury.streams.kinesis.producer import KinesisProducer
from streamjury.streams.kinesis.put import RecordPutter
from streamjury.streams.kinesis.shards import (
    Position,
    last_sequence,
    list_shards,
    read_to_tip,
)
from streamjury.streams.kinesis.writer import KinesisAtomicWriter

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)


class _Closeable(Protocol):
    def close(self) -> None: ...


class KinesisBackend:
    """Streams on Kinesis; leases, checkpoints and table streams in a ``CheckpointStore``.

    The store is DynamoDB when ``settings.checkpoint_table`` is set, else SQLite under
    ``local_dir`` (every process on one host must share it). Tests may pass their own
    ``client``, ``checkpoints`` store and ``consumer_options`` (e.g. a short lease TTL).
    """

    name = "kinesis"

    def __init__(
        self,
        settings: KinesisSettings,
        *,
        local_dir: Path = DEFAULT_LOCAL_DIR,
        client: KinesisClient | None = None,
        checkpoints: CheckpointStore | None = None,
        consumer_options: ConsumerOptions | None = None,
        retry: RetryPolicy | None = None,
        ready_timeout_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self._client = client or kinesis_client(settings)
        self._owns_store = checkpoints is None
        self.store = checkpoints or open_checkpoint_store(settings, local_dir)
        self._consumer_options = consumer_options or ConsumerOptions()
        self._catalog = StreamCatalog(
            self._client, self.store, shards=settings.shards, ready_timeout_s=ready_timeout_s
        )
        self._putter = RecordPutter(self._client, retry)
        self._clients: weakref.WeakSet[_Closeable] = weakref.WeakSet()

    # -- admin -----------------------------------------------------------------------------

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        """Create missing streams: Kinesis streams of ``settings.shards`` shards (waiting until
        they are ACTIVE), or, if ``compacted``, table streams of as many partitions."""
        self._catalog.ensure(streams, compacted=compacted)

    def list_streams(self) -> list[str]:
        return self._catalog.names()

    def partitions(self, stream: str) -> list[str]:
        """Shard ids (open and closed, within retention), or a table stream's partitions."""
        if self._catalog.kind(stream) == "table":
            return [partition.name for partition in self._catalog.layout(stream)]
        return [shard.shard_id for shard in list_shards(self._client, stream)]

    def end_offsets(self, stream: str) -> dict[str, int]:
        """Shard -> last sequence number + 1 (or the shard's first, if empty); see the module."""
        if self._catalog.kind(stream) == "table":
            return self.store.table_end_offsets(stream)
        ends: dict[str, int] = {}
        for shard in list_shards(self._client, stream):
            last = last_sequence(self._client, stream, shard)
            ends[shard.shard_id] = shard.starting_sequence if last is None else last + 1
        return ends

    def committed(self, stream: str, group: str) -> dict[str, int]:
        """Shard -> the sequence number after the group's last committed record."""
        if self._catalog.kind(stream) == "table":
            return {}
        return {
            shard: int(lease.sequence) + 1
            for shard, lease in self.store.leases(group, stream).items()
            if lease.sequence is not None
        }

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        """The records of one shard from ``start_offset`` up to its tip as it is now."""
        if self._catalog.kind(stream) == "table":
            return iter(self.store.read_table(stream, partition, start_offset))
        shards = {shard.shard_id: shard for shard in list_shards(self._client, stream)}
        if partition not in shards:
            raise StreamError(f"Kinesis stream {stream!r} has no shard {partition!r}")
        position = (
            Position.from_offset(start_offset) if start_offset > 0 else Position.trim_horizon()
        )
        return read_to_tip(self._client, stream, shards[partition], position)

    def close(self) -> None:
        """Close every producer and consumer still open, then the store if this backend made it."""
        for client in list(self._clients):
            client.close()
        if self._owns_store:
            self.store.close()

    # -- factories -------------------------------------------------------------------------

    def producer(self) -> KinesisProducer:
        producer = KinesisProducer(self._catalog, self._putter, self.store)
        self._clients.add(producer)
        return producer

    def consumer(
        self,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom | None = None,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> KinesisConsumer:
        consumer = KinesisConsumer(
            self._client,
            self.store,
            self._catalog,
            streams,
            group,
            start or StartFrom.earliest(),
            on_assign=on_assign,
            on_revoke=on_revoke,
            options=self._consumer_options,
        )
        self._clients.add(consumer)
        return consumer

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> KinesisAtomicWriter:
        if not isinstance(consumer, KinesisConsumer) or consumer.store is not self.store:
            raise StreamError("an atomic writer needs a consumer of the same Kinesis backend")
        return KinesisAtomicWriter(consumer, writer_id, self._catalog, self._putter)


CHECKPOINT_FILE = "kinesis-checkpoints.db"


def open_checkpoint_store(
    settings: KinesisSettings, local_dir: Path, *, dynamodb_endpoint_url: str | None = None
) -> CheckpointStore:
    """DynamoDB if ``settings.checkpoint_table`` is set (created if missing), else SQLite in
    ``local_dir``: fine for every process on one host, wrong for several hosts."""
    if settings.checkpoint_table:
        from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
        from streamjury.streams.kinesis.clients import dynamodb_client

        client = dynamodb_client(settings, endpoint_url=dynamodb_endpoint_url)
        return DynamoCheckpointStore(client, settings.checkpoint_table)
    from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore

    return SqliteCheckpointStore(local_dir / CHECKPOINT_FILE)
