"""Shards of a Kinesis stream: listing them, positioning iterators, reading to the tip.

Sequence numbers are decimal strings that compare exactly as Python ints; offsets are those ints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import StreamError, UnknownStream
from streamjury.retry import RetryPolicy
from streamjury.streams.base import Record
from streamjury.streams.kinesis.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import GetRecordsOutputTypeDef

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_LIMIT = 1000
"""Records per GetRecords call when reading a partition or looking for its last record."""
MAX_EMPTY_PAGES = 1000
"""Give up reading towards a tip that keeps answering empty pages while behind (AWS may)."""
LAST_RECORD_WINDOWS_S = (10.0, 300.0, 3600.0, 6 * 3600.0)
"""Look-back windows, widened in turn, for finding a shard's last record cheaply."""
MISSING_SEQUENCE_ERRORS = frozenset({"ResourceNotFoundException", "InvalidArgumentException"})
THROTTLE_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException"}
)
THROTTLED_READ_RETRY = RetryPolicy(attempts=12, base_delay_s=0.2, max_delay_s=5.0)
"""A throttled read (a restore, a search for a shard's last record) waits and tries again, on top
of botocore's own retries (~7 s): a throttling spell of tens of seconds delays a service's start
instead of ending it. Jittered, so members that were throttled together spread out."""

IteratorKind = Literal[
    "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"
]


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """A shard as ListShards describes it."""

    shard_id: str
    parents: tuple[str, ...]
    starting_sequence: int
    closed: bool
    """Closed by a split or merge: it gets no new records (its EndingSequenceNumber is set)."""

    @classmethod
    def from_api(cls, shard: Any) -> ShardInfo:
        parents = tuple(
            parent
            for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
            if parent
        )
        numbers = shard["SequenceNumberRange"]
        return cls(
            shard_id=shard["ShardId"],
            parents=parents,
            starting_sequence=int(numbers["StartingSequenceNumber"]),
            closed="EndingSequenceNumber" in numbers,
        )


@dataclass(frozen=True, slots=True)
class Position:
    """Where to start reading a shard.

    ``from_offset`` is "the first record whose sequence number is at least this": Kinesis only
    positions at sequence numbers of real records, so it is resolved as AFTER_SEQUENCE_NUMBER of
    offset - 1 (a committed or end offset), else AT_SEQUENCE_NUMBER of the offset (a record's
    own), else TRIM_HORIZON with the earlier records skipped by the reader.
    """

    kind: Literal["TRIM_HORIZON", "OFFSET", "AT_TIMESTAMP"]
    offset: int = 0
    timestamp_ms: int = 0

    @classmethod
    def trim_horizon(cls) -> Position:
        return cls("TRIM_HORIZON")

    @classmethod
    def from_offset(cls, offset: int) -> Position:
        return cls("OFFSET", offset=offset)

    @classmethod
    def at_time(cls, timestamp_ms: int) -> Position:
        return cls("AT_TIMESTAMP", timestamp_ms=timestamp_ms)

    @property
    def min_offset(self) -> int:
        """Records below this offset are skipped, whatever iterator was obtained."""
        return self.offset if self.kind == "OFFSET" else 0


def list_shards(client: KinesisClient, stream: str) -> list[ShardInfo]:
    """Every shard of ``stream`` still within retention, open or closed, sorted by id."""
    shards: list[ShardInfo] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        try:
            page = client.list_shards(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise UnknownStream(f"Kinesis stream {stream!r} does not exist") from exc
            raise StreamError(f"cannot list the shards of {stream!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StreamError(f"cannot list the shards of {stream!r}: {exc}") from exc
        shards.extend(ShardInfo.from_api(shard) for shard in page["Shards"])
        token = page.get("NextToken")
        if not token:
            return sorted(shards, key=lambda shard: shard.shard_id)
        kwargs = {"NextToken": token}


def shard_iterator(client: KinesisClient, stream: str, shard: ShardInfo, position: Position) -> str:
    """A shard iterator for ``position`` (see ``Position`` for how offsets are resolved)."""
    if position.kind == "AT_TIMESTAMP":
        when = datetime.fromtimestamp(position.timestamp_ms / 1000, UTC)
        return _iterator(client, stream, shard.shard_id, "AT_TIMESTAMP", timestamp=when)
    if position.kind == "OFFSET" and position.offset > shard.starting_sequence:
        attempts: tuple[tuple[IteratorKind, int], ...] = (
            ("AFTER_SEQUENCE_NUMBER", position.offset - 1),
            ("AT_SEQUENCE_NUMBER", position.offset),
        )
        for kind, number in attempts:
            try:
                return _iterator(client, stream, shard.shard_id, kind, sequence=str(number))
            except _MissingSequence:
                continue
        log.debug(
            "%s/%s: no record at %d; reading from the trim horizon",
            stream,
            shard.shard_id,
            position.offset,
        )
    return _iterator(client, stream, shard.shard_id, "TRIM_HORIZON")


def get_records(client: KinesisClient, iterator: str, limit: int) -> GetRecordsOutputTypeDef:
    """One GetRecords call; botocore errors are left to the caller, which knows what to retry."""
    return client.get_records(ShardIterator=iterator, Limit=limit)


def to_record(stream: str, shard_id: str, raw: Any) -> Record:
    arrived: datetime = raw["ApproximateArrivalTimestamp"]
    return Record(
        stream=stream,
        partition=shard_id,
        offset=int(raw["SequenceNumber"]),
        key=raw["PartitionKey"],
        value=bytes(raw["Data"]),
        timestamp_ms=round(arrived.timestamp() * 1000),
    )


def read_to_tip(
    client: KinesisClient, stream: str, shard: ShardInfo, position: Position
) -> Iterator[Record]:
    """The shard's records from ``position`` up to where it was when the reading caught up.

    Stops at the shard's end, or at a page that is not full and not behind (MillisBehindLatest
    0): a full page may be followed by records that arrived in the same millisecond.
    """
    iterator: str | None = _guarded(stream, shard_iterator, client, stream, shard, position)
    empty_pages = 0
    while iterator is not None:
        page = _guarded(stream, get_records, client, iterator, READ_LIMIT)
        for raw in page["Records"]:
            record = to_record(stream, shard.shard_id, raw)
            if record.offset >= position.min_offset:
                yield record
        iterator = page.get("NextShardIterator")
        if len(page["Records"]) < READ_LIMIT and page.get("MillisBehindLatest", 0) == 0:
            return
        empty_pages = 0 if page["Records"] else empty_pages + 1
        if empty_pages > MAX_EMPTY_PAGES:
            raise StreamError(f"{stream}/{shard.shard_id}: the tip never came in sight")


def last_sequence(client: KinesisClient, stream: str, shard: ShardInfo) -> int | None:
    """The sequence number of the shard's last record, None if it has none.

    Kinesis does not say, so: read the first page from TRIM_HORIZON, which is the whole shard
    when it is small or empty; else read from ``now - w`` to the tip for widening look-back
    windows w (10 s, 5 min, 1 h, 6 h: a record found there is later than every record before
    it), and at last everything. A few calls for a small, empty or busy shard; a full scan only
    for a big shard idle for six hours.
    """
    head = _first_page(client, stream, shard)
    if head is not None:
        return head[0]
    now_ms = time.time_ns() // 1_000_000
    windows = [Position.at_time(now_ms - int(w * 1000)) for w in LAST_RECORD_WINDOWS_S]
    for position in [*windows, Position.trim_horizon()]:
        last = _last_in(read_to_tip(client, stream, shard, position))
        if last is not None:
            return last
    return None


def _last_in(records: Iterator[Record]) -> int | None:
    last: int | None = None
    for record in records:
        last = record.offset
    return last


def _first_page(client: KinesisClient, stream: str, shard: ShardInfo) -> tuple[int | None] | None:
    """(last sequence number or None) if the first TRIM_HORIZON page holds the whole shard."""
    iterator = _guarded(stream, shard_iterator, client, stream, shard, Position.trim_horizon())
    page = _guarded(stream, get_records, client, iterator, READ_LIMIT)
    complete = page.get("NextShardIterator") is None or (
        len(page["Records"]) < READ_LIMIT and page.get("MillisBehindLatest", 0) == 0
    )
    if not complete:
        return None
    numbers = [int(raw["SequenceNumber"]) for raw in page["Records"]]
    return (max(numbers) if numbers else None,)


class _MissingSequence(Exception):
    """GetShardIterator found no record with that sequence number."""


def _iterator(
    client: KinesisClient,
    stream: str,
    shard_id: str,
    kind: IteratorKind,
    *,
    sequence: str | None = None,
    timestamp: datetime | None = None,
) -> str:
    kwargs: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": kind}
    if sequence is not None:
        kwargs["StartingSequenceNumber"] = sequence
    if timestamp is not None:
        kwargs["Timestamp"] = timestamp
    try:
        return str(client.get_shard_iterator(**kwargs)["ShardIterator"])
    except ClientError as exc:
        if sequence is not None and error_code(exc) in MISSING_SEQUENCE_ERRORS:
            raise _MissingSequence from exc
        raise


class _Throttled(StreamError):
    """A read refused for throttling, once botocore's own retries ran out."""


def _guarded(stream: str, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, retried while throttled (``THROTTLED_READ_RETRY``), with botocore errors
    translated into streamjury's."""

    def attempt() -> T:
        try:
            return call(*args)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise UnknownStream(
                    f"Kinesis stream {stream!r} or its shard is gone: {exc}"
                ) from exc
            failed = _Throttled if code in THROTTLE_ERRORS else StreamError
            raise failed(f"reading Kinesis stream {stream!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StreamError(f"reading Kinesis stream {stream!r} failed: {exc}") from exc

    def note(tried: int, wait: float, exc: Exception) -> None:
        log.warning("%s (try %d); next try in %.1f s", exc, tried, wait)

    return THROTTLED_READ_RETRY.call(attempt, retry_on=_Throttled, on_retry=note)
