"""One active member per consumer group in the local log: a lease row with an owner and expiry.

Standbys take over when the lease expires, or at once when its holder is a dead pid on this host.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass

from streamjury.errors import FencedError
from streamjury.streams.local.store import LogStore
from streamjury.streams.partitioning import now_ms

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    owner: str
    host: str
    pid: int
    expires_ms: int


def pid_is_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


class GroupLease:
    """This member's claim on a group. The store is the consumer's; calls are serialised by it."""

    def __init__(self, store: LogStore, group: str, ttl_s: float) -> None:
        self._store = store
        self.group = group
        self._ttl_ms = int(ttl_s * 1000)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"

    def holder(self) -> LeaseHolder | None:
        row = self._store.lease_row(self.group)
        return None if row is None else LeaseHolder(*row)

    def is_takeable(self, holder: LeaseHolder | None) -> bool:
        """Free, ours, expired, or held by a process on this host that no longer exists."""
        if holder is None or holder.owner == self.owner or holder.expires_ms <= now_ms():
            return True
        return holder.host == self.host and holder.pid != self.pid and not pid_is_alive(holder.pid)

    def try_acquire(self) -> bool:
        """Take the lease if it is takeable; decided and written in one write transaction."""
        if not self.is_takeable(self.holder()):
            return False  # cheap read first: standbys poll this often
        with self._store.write_transaction():
            previous = self.holder()
            if not self.is_takeable(previous):
                return False
            self._store.put_lease_in_transaction(
                self.group, self.owner, self.host, self.pid, self._expiry()
            )
        if previous is not None and previous.owner != self.owner:
            log.info("group %s: took over the lease from %s", self.group, previous.owner)
        return True

    def renew(self) -> bool:
        """Extend our lease; False if another member has taken it (we are fenced)."""
        return self._store.extend_lease(self.group, self.owner, self._expiry())

    def check_held_in_transaction(self) -> None:
        """Inside a write transaction: raise FencedError unless we hold the lease, and extend it.

        Holding the write lock means nobody can take the lease between this check and COMMIT.
        """
        if not self._store.extend_lease(self.group, self.owner, self._expiry()):
            raise FencedError(f"this member lost the lease of group {self.group!r}")

    def release(self) -> None:
        self._store.drop_lease(self.group, self.owner)

    def _expiry(self) -> int:
        return now_ms() + self._ttl_ms
