"""Group consumers of the local backend.

A member reads from in-memory positions, commits them (with its outputs) under its group lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence

from streamjury.errors import DeliveryError, FencedError, StreamError
from streamjury.streams.base import (
    OutRecord,
    PartitionsCallback,
    Record,
    StartFrom,
    last_per_partition,
)
from streamjury.streams.local.lease import GroupLease
from streamjury.streams.local.store import LogStore, sqlite_errors
from streamjury.streams.partitioning import StreamPartition, read_round_robin

log = logging.getLogger(__name__)

RENEWALS_PER_TTL = 5
"""An active member renews its lease this many times per TTL (a write only every TTL/5)."""


class LocalConsumer:
    """A group member (owning every partition while it holds the group's lease) or a group-less
    reader that never commits. ``poll`` sleeps in short steps and re-reads only when another
    connection has committed something, so an idle consumer costs one cheap PRAGMA per step."""

    def __init__(
        self,
        store: LogStore,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom,
        *,
        on_assign: PartitionsCallback | None,
        on_revoke: PartitionsCallback | None,
        lease_ttl_s: float,
        poll_interval_s: float,
    ) -> None:
        self._store = store
        self.group = group
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._poll_interval_s = poll_interval_s
        self._renew_every_s = lease_ttl_s / RENEWALS_PER_TTL
        self._lease = None if group is None else GroupLease(store, group, lease_ttl_s)
        self._lock = threading.RLock()
        with sqlite_errors("open a consumer"):
            self._partitions = {stream: store.stream(stream).partitions for stream in streams}
            # Resolved now, so "latest" means records sent after this consumer was created.
            self._start_positions = {
                (stream, partition): store.start_offset(stream, partition, start)
                for stream, partitions in self._partitions.items()
                for partition in partitions
            }
        self._positions: dict[StreamPartition, int] = {}
        self._active = False
        self._closed = False
        self._renew_due = 0.0
        self._idle_version: int | None = None
        self._round_robin = 0

    @property
    def owner(self) -> str | None:
        """This member's lease owner id (host:pid:random), for logs and diagnostics."""
        return None if self._lease is None else self._lease.owner

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with self._lock, sqlite_errors("poll"):
                self._check_open()
                self._update_membership()
                batch = self._read_if_changed(max_records) if self._active else []
            if batch:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self._poll_interval_s, remaining))

    def commit(self, records: Sequence[Record]) -> None:
        if self._lease is None:
            raise StreamError("a group-less reader cannot commit")
        if not records:
            return
        self.write_and_commit({}, records)

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        """Append ``outputs`` and commit past ``consumed`` in one transaction, under the lease."""
        with self._lock:
            self._check_open()
            if self._lease is None and consumed:
                raise StreamError("a group-less reader cannot commit")
            positions = self._positions_after(consumed)
            with sqlite_errors("write outputs and commit positions", DeliveryError):
                for stream in outputs:
                    self._store.stream(stream)  # UnknownStream before anything is written
                try:
                    with self._store.write_transaction():
                        if self._lease is not None:
                            self._lease.check_held_in_transaction()
                            self._store.commit_in_transaction(self._lease.group, positions)
                        self._store.append_in_transaction(outputs.items())
                except FencedError:
                    self._renew_due = 0.0  # fenced: the next poll steps down at once
                    raise
            self._idle_version = None  # our own writes do not change our data_version

    def assignment(self) -> dict[str, list[str]]:
        with self._lock:
            return dict(self._partitions) if self._active else {}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            was_active = self._active
            self._active = False
            try:
                if self._lease is not None and was_active:
                    with sqlite_errors("release the group lease"):
                        self._lease.release()
            finally:
                self._store.close()
            if was_active:
                self._notify(self._on_revoke)

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError("this consumer is closed")

    def _update_membership(self) -> None:
        """Join (take the lease and resume from committed positions), renew, or step down."""
        if self._lease is None:
            if not self._active:
                self._become_active(dict(self._start_positions))
            return
        now = time.monotonic()
        if self._active:
            if now >= self._renew_due:
                if self._lease.renew():
                    self._renew_due = now + self._renew_every_s
                else:
                    log.info("group %s: lease lost, standing by", self._lease.group)
                    self._active = False
                    self._positions = {}
                    self._notify(self._on_revoke)
            return
        if self._lease.try_acquire():
            self._renew_due = now + self._renew_every_s
            self._become_active(self._committed_positions(self._lease.group))

    def _committed_positions(self, group: str) -> dict[StreamPartition, int]:
        positions = dict(self._start_positions)
        for stream in self._partitions:
            for partition, offset in self._store.committed(group, stream).items():
                positions[(stream, partition)] = offset
        return positions

    def _become_active(self, positions: dict[StreamPartition, int]) -> None:
        self._positions = positions
        self._active = True
        self._idle_version = None
        self._notify(self._on_assign)

    def _read_if_changed(self, max_records: int) -> list[Record]:
        version = self._store.data_version()
        if version == self._idle_version:
            return []
        batch = self._read(max_records)
        self._idle_version = None if batch else version
        return batch

    def _read(self, max_records: int) -> list[Record]:
        """Fill a batch partition by partition, starting one further along on every poll."""
        self._round_robin = (self._round_robin + 1) % max(len(self._positions), 1)
        return read_round_robin(self._positions, self._round_robin, max_records, self._store.read)

    def _positions_after(self, records: Sequence[Record]) -> dict[StreamPartition, int]:
        positions = {}
        for (stream, partition), offset in last_per_partition(records).items():
            if partition not in self._partitions.get(stream, ()):
                raise StreamError(f"{stream}/{partition} is not read by this consumer")
            positions[(stream, partition)] = offset + 1
        return positions

    def _notify(self, callback: PartitionsCallback | None) -> None:
        if callback is None:
            return
        for stream, partitions in self._partitions.items():
            callback(stream, list(partitions))
