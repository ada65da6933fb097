"""The embedded default backend: a durable, multi-process-safe log in one SQLite file.

No broker to run: services on one machine share a directory; WAL lets many read while one writes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from streamjury.errors import ConfigError, DeliveryError, StreamError
from streamjury.streams.base import (
    OutRecord,
    PartitionsCallback,
    Record,
    StartFrom,
    StreamConsumer,
)
from streamjury.streams.local.consumer import LocalConsumer
from streamjury.streams.local.lease import DEFAULT_LEASE_TTL_S
from streamjury.streams.local.store import LogStore, Synchronous, sqlite_errors
from streamjury.streams.local.writer import LocalAtomicWriter

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 0.005
"""How long an idle poll sleeps between checks: bounds the added end-to-end latency."""
READ_PAGE_SIZE = 1000
SYNCHRONOUS_MODES = ("full", "normal")


class _Closeable(Protocol):
    def close(self) -> None: ...


class LocalBackend:
    """Streams in ``<directory>/streams.db``; each producer and consumer has its own connection.

    ``synchronous`` is SQLite's: ``full`` survives power loss, ``normal`` survives process kills.
    A group has one active member at a time (a lease of ``lease_ttl`` seconds, renewed by polls).
    In a compacted stream, a new record deletes the older records of its key; an empty value is
    a tombstone that deletes them too and stays readable, so a restoring reader sees the delete.
    """

    name = "local"

    def __init__(
        self,
        directory: str | Path,
        partitions: int = 4,
        synchronous: str = "full",
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL_S,
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        if partitions < 1:
            raise ConfigError(f"partitions must be at least 1, got {partitions}")
        if synchronous not in SYNCHRONOUS_MODES:
            raise ConfigError(f"synchronous must be 'full' or 'normal', got {synchronous!r}")
        if lease_ttl <= 0 or poll_interval <= 0:
            raise ConfigError("lease_ttl and poll_interval must be positive")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the local log directory {directory}: {exc}") from exc
        self._partition_count = partitions
        self._synchronous: Synchronous = "full" if synchronous == "full" else "normal"
        self._lease_ttl_s = lease_ttl
        self._poll_interval_s = poll_interval
        self._lock = threading.Lock()
        self._clients: weakref.WeakSet[_Closeable] = weakref.WeakSet()
        self._store = self._open_store()
        self._store.initialise()

    # -- admin -----------------------------------------------------------------------------

    def ensure_streams(self, streams: Iterable[str], *, compacted: bool = False) -> None:
        """Create missing streams; existing ones keep the partition count they were made with."""
        names = list(streams)
        with self._lock, sqlite_errors("create streams"):
            self._store.create_streams(names, self._partition_count, compacted)

    def list_streams(self) -> list[str]:
        with self._lock, sqlite_errors("list streams"):
            return self._store.stream_names()

    def partitions(self, stream: str) -> list[str]:
        with self._lock, sqlite_errors("describe a stream"):
            return self._store.stream(stream).partitions

    def end_offsets(self, stream: str) -> dict[str, int]:
        with self._lock, sqlite_errors("read end offsets"):
            return self._store.end_offsets(stream)

    def committed(self, stream: str, group: str) -> dict[str, int]:
        with self._lock, sqlite_errors("read committed positions"):
            return self._store.committed(group, stream)

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        with self._lock, sqlite_errors("read a partition"):
            self._store.partition_no(stream, partition)  # fail now, not on first next()
        return self._pages(stream, partition, start_offset)

    def _pages(self, stream: str, partition: str, position: int) -> Iterator[Record]:
        """Reads a page at a time so a long replay neither loads everything nor holds the lock."""
        while True:
            with self._lock, sqlite_errors("read a partition"):
                page = self._store.read(stream, partition, position, READ_PAGE_SIZE)
            yield from page
            if len(page) < READ_PAGE_SIZE:
                return
            position = page[-1].offset + 1

    def close(self) -> None:
        """Close every producer and consumer still open, then the admin connection."""
        for client in list(self._clients):
            client.close()
        with self._lock:
            self._store.close()

    # -- factories -------------------------------------------------------------------------

    def producer(self) -> LocalProducer:
        producer = LocalProducer(self._open_store())
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
    ) -> LocalConsumer:
        store = self._open_store()
        try:
            consumer = LocalConsumer(
                store,
                streams,
                group,
                start or StartFrom.earliest(),
                on_assign=on_assign,
                on_revoke=on_revoke,
                lease_ttl_s=self._lease_ttl_s,
                poll_interval_s=self._poll_interval_s,
            )
        except BaseException:
            store.close()
            raise
        self._clients.add(consumer)
        return consumer

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> LocalAtomicWriter:
        if not isinstance(consumer, LocalConsumer):
            raise StreamError("an atomic writer needs a consumer of the local backend")
        return LocalAtomicWriter(consumer, writer_id)

    def _open_store(self) -> LogStore:
        return LogStore(self.directory, self._synchronous)


class LocalProducer:
    """Buffers sends in memory; ``flush`` writes them in one transaction: the durability point."""

    def __init__(self, store: LogStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._buffer: list[tuple[str, list[OutRecord]]] = []
        self._closed = False

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        with self._lock, sqlite_errors("look up a stream"):
            if self._closed:
                raise StreamError("this producer is closed")
            self._store.stream(stream)  # UnknownStream now, not at flush
            self._buffer.append((stream, list(records)))

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything buffered, or nothing: on DeliveryError the buffered records are
        dropped and the caller must not commit the inputs behind them. SQLite's busy timeout,
        not ``timeout``, bounds the wait for other writers."""
        with self._lock:
            batches, self._buffer = self._buffer, []
            if not batches:
                return
            with sqlite_errors("write records", DeliveryError), self._store.write_transaction():
                written = self._store.append_in_transaction(batches)
        log.debug("flushed %d records", written)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                self._store.close()
