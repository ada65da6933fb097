"""The Kinesis consumer for long-running containers: polls shards with GetRecords, in micro-batches.

Reads parents before children across resharding; group members lease shards and checkpoint them.

* Polling: round robin over the shards this consumer reads, at most one GetRecords per shard per
  ``fetch_interval_s`` (AWS allows five per second per shard, shared by every reader of it),
  backing a shard off when throttled; when every shard is idle the poll sleeps until the next
  shard is due. Records fetched and not yet returned wait in a per-shard buffer.
* Resharding: a shard is readable once each of its parents (``ParentShardId``,
  ``AdjacentParentShardId``) is finished. A shard ends when GetRecords returns no
  ``NextShardIterator``; for a group it is finished once every record of it is committed, and
  its lease row then says so (``finished``), so every member sees the children become readable.
* Groups: see ``kinesis_leases``. Records go out only from shards this member leases; a commit
  checkpoints the last sequence number per shard, conditionally on the lease (FencedError).
* Group-less readers lease and checkpoint nothing.

Callbacks (``on_assign``/``on_revoke``) run only inside ``poll`` and ``close``, like Kafka's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import ConfigError, FencedError, StreamError, UnknownStream
from streamjury.retry import RetryPolicy
from streamjury.streams.base import (
    PartitionsCallback,
    Record,
    StartFrom,
    StartKind,
    last_per_partition,
)
from streamjury.streams.kinesis.catalog import StreamCatalog
from streamjury.streams.kinesis.checkpoints.base import (
    Checkpoint,
    CheckpointStore,
    ShardLease,
    TableWrite,
)
from streamjury.streams.kinesis.clients import error_code
from streamjury.streams.kinesis.leases import LeaseCoordinator, LeaseOptions, fair_share
from streamjury.streams.kinesis.shards import (
    THROTTLE_ERRORS,
    Position,
    ShardInfo,
    get_records,
    last_sequence,
    list_shards,
    shard_iterator,
    to_record,
)

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

ShardKey = tuple[str, str]
"""(stream, shard id)."""
RESET_ITERATOR_ERRORS = frozenset({"ExpiredIteratorException", "InternalFailure"})


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """Polling and leasing knobs; the defaults suit AWS, tests shorten the lease TTL."""

    fetch_interval_s: float = 0.2
    """Least time between two GetRecords calls on one shard (AWS: 5 calls/s/shard)."""
    fetch_limit: int = 1000
    """Records per GetRecords call (at most 10,000)."""
    max_backoff_s: float = 5.0
    """Longest a throttled or failing shard waits before its next call."""
    max_consecutive_errors: int = 10
    """A shard failing this many times in a row fails the poll."""
    shard_refresh_s: float = 60.0
    """How often the shard list is re-read anyway (it is re-read at once when a shard ends)."""
    idle_sleep_s: float = 0.2
    """Longest nap of a poll with nothing to read."""
    leases: LeaseOptions = field(default_factory=LeaseOptions)

    def __post_init__(self) -> None:
        if not 1 <= self.fetch_limit <= 10_000:
            raise ConfigError(f"fetch_limit must be 1 to 10000, got {self.fetch_limit}")
        if min(self.fetch_interval_s, self.max_backoff_s, self.idle_sleep_s) < 0:
            raise ConfigError("consumer intervals must not be negative")

    def error_backoff(self) -> RetryPolicy:
        """A failing shard: waits doubling from ``fetch_interval_s`` up to ``max_backoff_s``."""
        return RetryPolicy(
            attempts=max(1, self.max_consecutive_errors),
            base_delay_s=self.fetch_interval_s,
            max_delay_s=self.max_backoff_s,
            jitter="none",
        )


@dataclass(slots=True)
class _ShardReader:
    """How far this consumer got in one shard, and what it fetched but has not returned."""

    stream: str
    info: ShardInfo
    start: Position
    committed: int | None = None
    """Sequence number of the last committed record (groups)."""
    handed: int | None = None
    """Sequence number of the last record returned by poll."""
    last_fetched: int | None = None
    iterator: str | None = None
    buffer: deque[Record] = field(default_factory=deque)
    ended: bool = False
    next_fetch: float = 0.0
    errors: int = 0
    """Failed fetches in a row."""
    releasing_since: float | None = None

    @property
    def key(self) -> ShardKey:
        return (self.stream, self.info.shard_id)

    @property
    def drained(self) -> bool:
        """Ended and every fetched record returned."""
        return self.ended and not self.buffer

    @property
    def all_committed(self) -> bool:
        return self.handed == self.committed

    def resume_position(self) -> Position:
        if self.last_fetched is not None:
            return Position.from_offset(self.last_fetched + 1)
        return self.start


@dataclass(frozen=True, slots=True)
class _Gone:
    """A shard this member no longer reads: why, and how far it had committed."""

    reason: Literal["lost", "released", "finished"]
    committed: int | None


class KinesisConsumer:
    """A group member (leasing its share of the shards) or, with ``group=None``, a reader."""

    def __init__(
        self,
        client: KinesisClient,
        store: CheckpointStore,
        catalog: StreamCatalog,
        streams: Sequence[str],
        group: str | None,
        start: StartFrom,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
        options: ConsumerOptions | None = None,
    ) -> None:
        self._client = client
        self.store = store
        self.group = group
        self._start = start
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self.options = options or ConsumerOptions()
        self._error_backoff = self.options.error_backoff()
        self._streams = list(dict.fromkeys(streams))
        for stream in self._streams:
            catalog.require_kinesis(stream)
        self._leases = (
            None if group is None else LeaseCoordinator(store, group, self.options.leases)
        )
        self._shards: dict[str, dict[str, ShardInfo]] = {
            stream: self._list(stream) for stream in self._streams
        }
        self._finished: dict[str, set[str]] = defaultdict(set)
        self._skipped: dict[str, set[str]] = defaultdict(set)
        self._latest: dict[ShardKey, Position] = {}
        self._readers: dict[ShardKey, _ShardReader] = {}
        self._gone: dict[ShardKey, _Gone] = {}
        self._assigned: dict[str, list[str]] = defaultdict(list)
        self._revoked: dict[str, list[str]] = defaultdict(list)
        self._round_robin = 0
        self._next_maintenance = 0.0
        self._next_renewal = 0.0
        self._next_refresh = time.monotonic() + self.options.shard_refresh_s
        self._refresh_requested = False
        self._closed = False
        self._behind_lock = threading.Lock()
        self._behind: dict[ShardKey, int] = {}
        if start.kind is StartKind.LATEST:
            self._resolve_latest()

    @property
    def member(self) -> str | None:
        """This member's id in the lease store (None for a group-less reader)."""
        return None if self._leases is None else self._leases.member

    # -- the StreamConsumer Protocol ---------------------------------------------------------

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self._check_open()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            self._maintain()
            batch = self._take(max_records)
            if batch:
                return batch
            if self._fetch_round() or self._settle_ended():
                continue
            now = time.monotonic()
            if now >= deadline:
                return []
            time.sleep(max(0.0, min(deadline, self._next_wake(now)) - now))

    def commit(self, records: Sequence[Record]) -> None:
        self.commit_with_state(records, ())

    def assignment(self) -> dict[str, list[str]]:
        owned: dict[str, list[str]] = defaultdict(list)
        for stream, shard in sorted(self._readers):
            owned[stream].append(shard)
        return dict(owned)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for reader in list(self._readers.values()):
            self._drop(reader, "released")
        if self._leases is not None:
            try:
                self._leases.leave()
            except StreamError as exc:
                log.warning("group %s: could not leave cleanly: %s", self.group, exc)
        self._assigned.clear()
        self._notify()

    def millis_behind_latest(self) -> dict[str, dict[str, int]]:
        """Stream -> shard -> how far the last GetRecords said it is behind the newest record,
        for the shards read now. Safe to call from another thread (the lag monitor's)."""
        with self._behind_lock:
            behind = dict(self._behind)
        result: dict[str, dict[str, int]] = defaultdict(dict)
        for (stream, shard), millis in behind.items():
            result[stream][shard] = millis
        return dict(result)

    # -- used by the atomic writer -----------------------------------------------------------

    def check_may_commit(self, records: Sequence[Record]) -> None:
        """Raise unless committing ``records`` could succeed now; asks the store for groups."""
        self._check_open()
        self._checkpoints(records)
        if self._leases is None or not self._readers:
            return
        lost = self._forget_lost_leases({stream for stream, _ in self._readers})
        if lost:
            raise FencedError(f"group {self.group!r}: the leases of {lost} were taken over")

    def commit_with_state(self, records: Sequence[Record], state: Sequence[TableWrite]) -> None:
        """Checkpoint ``records`` and write ``state`` in one store commit, fenced by every
        lease this member holds. A group-less reader may only write state, with no records."""
        self._check_open()
        checkpoints = self._checkpoints(records)
        if self._leases is None:
            if state:
                self.store.write_table(state)
            return
        if not checkpoints and not state:
            return
        if state and not self._readers:
            raise FencedError(f"group {self.group!r}: this member holds no lease to write under")
        fence = list(self._readers) if state else []
        try:
            self.store.commit(
                self._leases.group, self._leases.member, checkpoints, state=state, fenced_by=fence
            )
        except FencedError:
            self._forget_lost_leases({cp.stream for cp in checkpoints} | {s for s, _ in fence})
            raise
        for cp in checkpoints:
            reader = self._readers[(cp.stream, cp.shard)]
            reader.committed = int(cp.sequence) if cp.sequence is not None else reader.committed
            if cp.finished:
                self._finish(reader)

    # -- positions and checkpoints -----------------------------------------------------------

    def _checkpoints(self, records: Sequence[Record]) -> list[Checkpoint]:
        """What committing ``records`` stores; raises if this member may not commit them."""
        if not records:
            return []
        if self.group is None:
            raise StreamError("a group-less reader cannot commit")
        checkpoints: list[Checkpoint] = []
        for (stream, shard), offset in sorted(last_per_partition(records).items()):
            reader = self._readers.get((stream, shard))
            if reader is None:
                gone = self._gone.get((stream, shard))
                if gone is None:
                    raise StreamError(f"{stream}/{shard} is not read by this consumer")
                if gone.committed is not None and offset <= gone.committed:
                    continue  # committed before the shard was handed over or finished
                raise FencedError(
                    f"group {self.group!r}: {stream}/{shard} was {gone.reason} by this member"
                )
            if reader.committed is not None and offset <= reader.committed:
                continue
            finished = reader.drained and reader.handed is not None and offset >= reader.handed
            checkpoints.append(Checkpoint(stream, shard, str(offset), finished))
        return checkpoints

    def _initial_position(
        self, stream: str, shard: ShardInfo, lease: ShardLease | None
    ) -> Position:
        """Where reading starts: the checkpoint, else after a parent, else the start position."""
        if lease is not None and lease.sequence is not None:
            return Position.from_offset(int(lease.sequence) + 1)
        known = self._shards[stream]
        if any(p in known and p not in self._skipped[stream] for p in shard.parents):
            return Position.trim_horizon()  # the child continues where its parents ended
        kind = self._start.kind
        if kind is StartKind.LATEST:
            return self._latest.get((stream, shard.shard_id), Position.trim_horizon())
        if kind is StartKind.OFFSET:
            offset = self._start.offsets.get(shard.shard_id)
            return Position.trim_horizon() if offset is None else Position.from_offset(offset)
        if kind is StartKind.TIMESTAMP:
            return Position.at_time(self._start.timestamp_ms or 0)
        return Position.trim_horizon()

    def _resolve_latest(self) -> None:
        """Pin "latest" to the records present now, so it means "written after creation".

        Open shards start after their current last record; closed shards with nothing to
        resume are skipped. Shards of a group that has checkpoints resume from those.
        """
        for stream, shards in self._shards.items():
            leases = {} if self._leases is None else self._leases.leases(stream)
            for shard_id, shard in shards.items():
                lease = leases.get(shard_id)
                if lease is not None and (lease.sequence is not None or lease.finished):
                    continue
                if any(p in shards and p not in self._skipped[stream] for p in shard.parents):
                    continue
                if shard.closed:
                    self._skipped[stream].add(shard_id)
                    continue
                last = last_sequence(self._client, stream, shard)
                self._latest[(stream, shard_id)] = (
                    Position.trim_horizon() if last is None else Position.from_offset(last + 1)
                )

    def _readable(self, stream: str) -> list[str]:
        """Shards not finished whose parents are all finished (or skipped, or expired)."""
        shards = self._shards[stream]
        done = self._finished[stream] | self._skipped[stream]
        return [
            shard_id
            for shard_id, shard in shards.items()
            if shard_id not in done and all(p not in shards or p in done for p in shard.parents)
        ]

    # -- maintenance: shard lists, leases, callbacks ----------------------------------------

    def _maintain(self) -> None:
        now = time.monotonic()
        if now < self._next_maintenance:
            return
        if self._refresh_requested or now >= self._next_refresh:
            self._refresh_requested = False
            self._next_refresh = now + self.options.shard_refresh_s
            for stream in self._streams:
                self._shards[stream] = self._list(stream)
        if self._leases is None:
            self._maintain_reader()
        else:
            self._maintain_member(self._leases, now)
        self._notify()

    def _maintain_reader(self) -> None:
        for stream in self._streams:
            for shard_id in self._readable(stream):
                if (stream, shard_id) not in self._readers:
                    self._add_reader(stream, shard_id, None)
        self._next_maintenance = self._next_refresh

    def _maintain_member(self, leases: LeaseCoordinator, now: float) -> None:
        renew = now >= self._next_renewal
        if renew:
            self._next_renewal = now + leases.options.renew_interval_s
        members = leases.join()
        below_share = False
        for stream in self._streams:
            rows = leases.leases(stream)
            self._finished[stream] = {shard for shard, row in rows.items() if row.finished}
            for key, reader in list(self._readers.items()):
                if key[0] != stream:
                    continue
                row = rows.get(key[1])
                still_ours = row is not None and row.owner == leases.member
                if not still_ours or (renew and not leases.renew(*key)):
                    self._drop(reader, "lost")
            readable = self._readable(stream)
            share = fair_share(leases.member, members, stream, len(readable))
            self._hand_back_excess(stream, share, now)
            held = sum(1 for key in self._readers if key[0] == stream)
            for shard_id in readable:
                if held >= share:
                    break
                row = rows.get(shard_id)
                if (stream, shard_id) in self._readers or (
                    row is not None and not row.is_takeable(leases.member, leases.now_ms())
                ):
                    continue
                lease = leases.try_acquire(stream, shard_id)
                if lease is not None and not lease.finished:
                    self._add_reader(stream, shard_id, lease)
                    held += 1
            below_share = below_share or held < share
        releasing = any(r.releasing_since is not None for r in self._readers.values())
        wait = leases.options.renew_interval_s
        if below_share or releasing:
            wait = min(wait, leases.options.acquire_interval_s)
        self._next_maintenance = min(now + wait, self._next_renewal)

    def _hand_back_excess(self, stream: str, share: int, now: float) -> None:
        """Stop reading shards above ``share``; release each once its records are committed
        (or after a lease TTL, if the caller never commits them: they are then redelivered)."""
        assert self._leases is not None
        mine = sorted(
            (reader for key, reader in self._readers.items() if key[0] == stream),
            key=lambda r: (r.releasing_since is None, not r.all_committed, r.info.shard_id),
        )
        for reader in mine[: max(0, len(mine) - share)]:
            if reader.releasing_since is None:
                reader.releasing_since = now
                reader.buffer.clear()  # not returned: the next owner reads them
        for reader in mine:
            if reader.releasing_since is None:
                continue
            overdue = now - reader.releasing_since > self._leases.options.ttl_s
            if reader.all_committed or overdue:
                self._drop(reader, "released")

    def _add_reader(self, stream: str, shard_id: str, lease: ShardLease | None) -> None:
        info = self._shards[stream][shard_id]
        reader = _ShardReader(stream, info, self._initial_position(stream, info, lease))
        if lease is not None and lease.sequence is not None:
            reader.committed = reader.handed = int(lease.sequence)
        self._readers[reader.key] = reader
        self._gone.pop(reader.key, None)
        self._assigned[stream].append(shard_id)

    def _drop(self, reader: _ShardReader, reason: Literal["lost", "released", "finished"]) -> None:
        """Stop reading a shard; releasing gives its lease back, keeping the checkpoint."""
        if reason == "released" and self._leases is not None:
            try:
                self._leases.release(*reader.key)
            except StreamError as exc:
                log.warning("could not release %s/%s: %s", *reader.key, exc)
        if reason == "lost":
            log.warning("group %s: lost the lease of %s/%s", self.group, *reader.key)
        self._readers.pop(reader.key, None)
        with self._behind_lock:
            self._behind.pop(reader.key, None)
        self._gone[reader.key] = _Gone(reason, reader.committed)
        self._revoked[reader.stream].append(reader.info.shard_id)
        self._next_maintenance = 0.0

    def _finish(self, reader: _ShardReader) -> None:
        """The shard is fully read (and, for a group, committed): its children may start."""
        log.info("%s/%s finished: reading its children next", *reader.key)
        self._finished[reader.stream].add(reader.info.shard_id)
        self._refresh_requested = True
        self._drop(reader, "finished")

    def _forget_lost_leases(self, streams: set[str]) -> list[ShardKey]:
        """Stop reading the shards of ``streams`` whose lease is no longer ours; which they were."""
        assert self._leases is not None
        lost: list[ShardKey] = []
        for stream in sorted(streams):
            rows = self._leases.leases(stream)
            for key, reader in list(self._readers.items()):
                row = rows.get(key[1])
                if key[0] == stream and (row is None or row.owner != self._leases.member):
                    self._drop(reader, "lost")
                    lost.append(key)
        return lost

    def _notify(self) -> None:
        """Run the callbacks for what was revoked, then what was assigned, since last time."""
        revoked, self._revoked = self._revoked, defaultdict(list)
        assigned, self._assigned = self._assigned, defaultdict(list)
        if self._on_revoke is not None:
            for stream, shards in revoked.items():
                self._on_revoke(stream, sorted(shards))
        if self._on_assign is not None:
            for stream, shards in assigned.items():
                if shards:
                    self._on_assign(stream, sorted(shards))

    # -- reading ------------------------------------------------------------------------------

    def _take(self, max_records: int) -> list[Record]:
        """Up to ``max_records`` buffered records, shard by shard, starting one further on."""
        readers = [r for r in self._readers.values() if r.releasing_since is None]
        if not readers:
            return []
        self._round_robin = (self._round_robin + 1) % len(readers)
        batch: list[Record] = []
        for index in range(len(readers)):
            reader = readers[(self._round_robin + index) % len(readers)]
            while reader.buffer and len(batch) < max_records:
                record = reader.buffer.popleft()
                reader.handed = record.offset
                batch.append(record)
            if len(batch) == max_records:
                break
        return batch

    def _fetch_round(self) -> bool:
        """One GetRecords on each due shard with an empty buffer; True if any record came."""
        got = False
        for reader in list(self._readers.values()):
            if reader.buffer or reader.ended or reader.releasing_since is not None:
                continue
            if time.monotonic() >= reader.next_fetch:
                got = self._fetch(reader) or got
        return got

    def _fetch(self, reader: _ShardReader) -> bool:
        stream, shard_id = reader.key
        try:
            if reader.iterator is None:
                reader.iterator = shard_iterator(
                    self._client, stream, reader.info, reader.resume_position()
                )
            page = get_records(self._client, reader.iterator, self.options.fetch_limit)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise UnknownStream(
                    f"Kinesis stream {stream!r} or shard {shard_id} is gone"
                ) from exc
            if code not in THROTTLE_ERRORS | RESET_ITERATOR_ERRORS:
                raise StreamError(f"reading {stream}/{shard_id} failed: {exc}") from exc
            self._back_off(reader, exc, reset=code in RESET_ITERATOR_ERRORS)
            return False
        except BotoCoreError as exc:
            self._back_off(reader, exc, reset=True)
            return False
        reader.errors = 0
        reader.next_fetch = time.monotonic() + self.options.fetch_interval_s
        floor = max(reader.start.min_offset, (reader.last_fetched or -1) + 1)
        for raw in page["Records"]:
            record = to_record(stream, shard_id, raw)
            if record.offset >= floor:
                reader.buffer.append(record)
                reader.last_fetched = record.offset
        with self._behind_lock:
            self._behind[reader.key] = int(page.get("MillisBehindLatest", 0))
        reader.iterator = page.get("NextShardIterator")
        if reader.iterator is None:
            reader.ended = True
            self._refresh_requested = True
        return bool(reader.buffer)

    def _back_off(self, reader: _ShardReader, exc: Exception, *, reset: bool) -> None:
        reader.errors += 1
        if self._error_backoff.gives_up(reader.errors):
            raise StreamError(
                f"reading {reader.stream}/{reader.info.shard_id} failed "
                f"{reader.errors} times in a row: {exc}"
            ) from exc
        delay = self._error_backoff.delay(reader.errors)
        reader.next_fetch = time.monotonic() + delay
        if reset:
            reader.iterator = None
        log.warning(
            "%s/%s: %s; next try in %.1f s",
            reader.stream,
            reader.info.shard_id,
            exc,
            delay,
        )

    def _settle_ended(self) -> bool:
        """Finish drained shards whose records are all committed (or, readers: returned)."""
        settled = False
        for reader in list(self._readers.values()):
            if not reader.drained or reader.releasing_since is not None:
                continue
            if self._leases is None:
                self._finish(reader)
                settled = True
            elif reader.all_committed:
                committed = None if reader.committed is None else str(reader.committed)
                try:
                    self.store.commit(
                        self._leases.group,
                        self._leases.member,
                        [Checkpoint(reader.stream, reader.info.shard_id, committed, True)],
                    )
                except FencedError:
                    self._drop(reader, "lost")
                    continue
                self._finish(reader)
                settled = True
        return settled

    def _next_wake(self, now: float) -> float:
        """When the next shard is due, or maintenance is; at most an idle nap away."""
        wake = min(now + self.options.idle_sleep_s, max(self._next_maintenance, now))
        for reader in self._readers.values():
            if not (reader.buffer or reader.ended or reader.releasing_since is not None):
                wake = min(wake, reader.next_fetch)
        return max(wake, now + 0.001)

    def _list(self, stream: str) -> dict[str, ShardInfo]:
        return {shard.shard_id: shard for shard in list_shards(self._client, stream)}

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError("this consumer is closed")
