"""One group member's side of shard leasing: heartbeats, its fair share, taking and keeping leases.

Balancing is deliberately simple: no lease stealing. Every member heartbeats into the store;
members sorted by id split a stream's readable shards evenly (``fair_share``, the remainder going
to a rotating few), each member takes free or expired shards up to its share and hands back
what is above it, after committing what it read. Views of the membership may differ for a
moment; conditional writes keep ownership exclusive meanwhile, and the shares then converge.
Expiry uses wall-clock time, so hosts' clocks must agree to well within the lease TTL (NTP).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamjury.errors import ConfigError
from streamjury.streams.kinesis.checkpoints.base import CheckpointStore, ShardLease

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseOptions:
    """How long leases last and how often a member looks after them."""

    ttl_s: float = 10.0
    """A lease (and a heartbeat) not renewed for this long may be taken over by another member."""
    acquire_interval_s: float = 1.0
    """How often a member below its share looks for free shards."""

    def __post_init__(self) -> None:
        if self.ttl_s <= 0 or self.acquire_interval_s <= 0:
            raise ConfigError("lease ttl and acquire interval must be positive")

    @property
    def renew_interval_s(self) -> float:
        """Leases and the heartbeat are renewed three times per TTL."""
        return self.ttl_s / 3


def fair_share(member: str, members: Sequence[str], stream: str, shards: int) -> int:
    """How many of ``stream``'s ``shards`` readable shards ``member`` should hold.

    Shares differ by at most one and add up to ``shards``; which members get the larger share
    rotates with the stream name, so several single-shard streams spread over the members.
    """
    everyone = sorted({*members, member})
    rank = (everyone.index(member) + zlib.crc32(stream.encode())) % len(everyone)
    base, extra = divmod(shards, len(everyone))
    return base + (1 if rank < extra else 0)


def new_member_id() -> str:
    """Unique per consumer object, readable in the store: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseCoordinator:
    """Talks to the store for one member of one group; computes expiries from ``clock``."""

    def __init__(
        self,
        store: CheckpointStore,
        group: str,
        options: LeaseOptions,
        *,
        member: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.group = group
        self.options = options
        self.member = member or new_member_id()
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def expiry_ms(self) -> int:
        return self.now_ms() + int(self.options.ttl_s * 1000)

    def join(self) -> list[str]:
        """Heartbeat, then the live members (this one included), sorted."""
        self.store.heartbeat(self.group, self.member, self.expiry_ms())
        return sorted({*self.store.members(self.group, self.now_ms()), self.member})

    def leases(self, stream: str) -> dict[str, ShardLease]:
        return self.store.leases(self.group, stream)

    def try_acquire(self, stream: str, shard: str) -> ShardLease | None:
        lease = self.store.acquire(
            self.group, stream, shard, self.member, self.expiry_ms(), self.now_ms()
        )
        if lease is not None:
            log.info("group %s: %s took the lease of %s/%s", self.group, self.member, stream, shard)
        return lease

    def renew(self, stream: str, shard: str) -> bool:
        return self.store.renew(self.group, stream, shard, self.member, self.expiry_ms())

    def release(self, stream: str, shard: str) -> None:
        self.store.release(self.group, stream, shard, self.member)
        log.info("group %s: %s released the lease of %s/%s", self.group, self.member, stream, shard)

    def leave(self) -> None:
        self.store.leave(self.group, self.member)
