"""The Kafka backend: streams are topics, readers are consumer groups, atomic writes are transactions.

Built on confluent-kafka (librdkafka); every client's settings come from ``kafka_config``.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from streamjury.errors import StreamError
from streamjury.masking import MASK, mask_config
from streamjury.settings import KafkaSettings
from streamjury.streams.base import PartitionsCallback, Record, StartFrom, StreamConsumer
from streamjury.streams.kafka.admin import KafkaAdmin
from streamjury.streams.kafka.client_logs import librdkafka_logger
from streamjury.streams.kafka.config import KafkaClientConfigs
from streamjury.streams.kafka.consumer import KafkaConsumer
from streamjury.streams.kafka.producer import KafkaProducer
from streamjury.streams.kafka.reader import read_partition
from streamjury.streams.kafka.writer import KafkaAtomicWriter

log = logging.getLogger(__name__)

NOT_SHOWN = ("logger",)
"""Config keys left out when a client config is shown: the logger is an object, not a setting."""

__all__ = ["KafkaAtomicWriter", "KafkaBackend", "KafkaConsumer", "KafkaProducer"]


class _Closeable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closeable)


class KafkaBackend:
    """Implements Backend over a Kafka cluster described by ``KafkaSettings``.

    ``overrides`` are extra librdkafka properties applied to every client (tests use them to
    shorten timeouts); they win over streamjury's own tuning.
    """

    name = "kafka"

    def __init__(
        self, settings: KafkaSettings, *, overrides: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self._configs = KafkaClientConfigs(
            settings,
            overrides=dict(overrides or {}),
            logger=librdkafka_logger(),
        )
        self._admin = KafkaAdmin(
            self._configs.admin(),
            partitions=settings.partitions,
            replication_factor=settings.replication_factor,
        )
        self._lock = threading.Lock()
        self._clients: weakref.WeakSet[_Closeable] = weakref.WeakSet()
        log.info("Kafka backend: %r", self)
        log.debug(
            "Kafka producer config: %s", mask_config(self._configs.producer(), omit=NOT_SHOWN)
        )

    def __repr__(self) -> str:
        s = self.settings
        user = (
            f", sasl_username={s.sasl_username!r}, sasl_password={MASK}"
            if (s.sasl_username is not None or s.sasl_password is not None)
            else ""
        )
        return (
            f"KafkaBackend(bootstrap={s.bootstrap!r}, client_id={s.client_id!r}, "
            f"security_protocol={s.security_protocol!r}{user})"
        )

    def client_config(self, kind: str = "producer") -> dict[str, Any]:
        """A client's librdkafka config with secrets masked, for logs and ``streamjury config``."""
        configs = {
            "admin": self._configs.admin,
            "producer": self._configs.producer,
            "consumer": lambda: self._configs.group_consumer("<group>"),
        }
        if kind not in configs:
            raise ValueError(f"kind must be one of {sorted(configs)}, got {kind!r}")
        return mask_config(configs[kind](), omit=NOT_SHOWN)

    # -- admin -----------------------------------------------------------------------------

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        """Create missing topics with ``settings.partitions`` partitions; existing ones keep theirs."""
        self._admin.create_topics(streams, compacted=compacted)

    def list_streams(self) -> list[str]:
        return self._admin.topic_names()

    def partitions(self, stream: str) -> list[str]:
        return self._admin.partitions(stream)

    def end_offsets(self, stream: str) -> dict[str, int]:
        """Partition -> the last stable offset (the high watermark unless a transaction is open)."""
        return self._admin.end_offsets(stream)

    def committed(self, stream: str, group: str) -> dict[str, int]:
        return self._admin.committed(stream, group, self._configs.reader(group))

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        return read_partition(self._configs, self._admin, stream, partition, start_offset)

    def close(self) -> None:
        """Close every producer, consumer and writer this backend made that is still open."""
        with self._lock:
            clients = list(self._clients)
            self._clients.clear()
        for client in clients:
            try:
                client.close()
            except StreamError as exc:
                log.warning("could not close a Kafka client cleanly: %s", exc)

    # -- factories -------------------------------------------------------------------------

    def producer(self) -> KafkaProducer:
        return self._track(KafkaProducer(self._configs.producer()))

    def consumer(
        self,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom | None = None,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> KafkaConsumer:
        """A group member (``subscribe``), or a group-less reader (``assign``) that never commits.

        Start positions are resolved now (UnknownStream for a missing stream), so LATEST means
        records sent after this call even though a member only gets partitions when it joins.
        """
        if not streams:
            raise StreamError("a consumer needs at least one stream")
        start_offsets = self._admin.start_offsets(streams, start or StartFrom.earliest())
        if group is None:
            config = self._configs.reader(f"{self.settings.client_id}-reader-{uuid.uuid4().hex}")
        else:
            config = self._configs.group_consumer(group)
        consumer = KafkaConsumer(
            config, streams, group, start_offsets, on_assign=on_assign, on_revoke=on_revoke
        )
        return self._track(consumer)

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> KafkaAtomicWriter:
        """A transactional writer; a restart with the same ``writer_id`` fences the old one."""
        if not isinstance(consumer, KafkaConsumer):
            raise StreamError("an atomic writer needs a consumer of the Kafka backend")
        config = self._configs.transactional_producer(writer_id)
        return self._track(KafkaAtomicWriter(config, consumer, writer_id))

    def _track(self, client: C) -> C:
        with self._lock:
            self._clients.add(client)
        return client
