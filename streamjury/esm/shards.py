"""The runner's turn-by-turn view of one shard, read with the Kinesis transport's own primitives.

Positioning, GetRecords and error codes are ``streams.kinesis``'s; here only what the runner asks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import StreamError
from streamjury.esm.event import ShardRecord
from streamjury.streams.kinesis.clients import error_code
from streamjury.streams.kinesis.consumer import RESET_ITERATOR_ERRORS
from streamjury.streams.kinesis.shards import (
    THROTTLE_ERRORS,
    Position,
    ShardInfo,
    get_records,
    last_sequence,
    shard_iterator,
)

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

THROTTLE_BACKOFF_S = 1.0
"""How long a shard rests after ProvisionedThroughputExceeded (AWS allows 5 reads/s/shard)."""


def start_position(
    client: KinesisClient, stream_name: str, shard: ShardInfo, kind: str, checkpoint: str | None
) -> Position:
    """After the checkpoint if there is one, else ``kind``: TRIM_HORIZON, or LATEST pinned to
    the shard's last record now (so an expired iterator cannot skip what arrives meanwhile)."""
    if checkpoint is not None:
        return Position.from_offset(int(checkpoint) + 1)
    if kind == "LATEST":
        last = last_sequence(client, stream_name, shard)
        return Position.trim_horizon() if last is None else Position.from_offset(last + 1)
    return Position.trim_horizon()


class ShardPoller:
    """One shard's iterator. ``poll`` is one GetRecords call; state says whether there is more."""

    def __init__(
        self,
        client: KinesisClient,
        stream_name: str,
        shard: ShardInfo,
        start: Position,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream_name = stream_name
        self.shard = shard
        self._position = start
        self._monotonic = monotonic
        self._iterator: str | None = None
        self._resting_until = 0.0
        self.closed = False
        """The shard is closed (resharded) and every record in it has been read."""
        self.at_tip = False
        """The last GetRecords reached the newest record (MillisBehindLatest was 0)."""
        self.behind = False
        """The last GetRecords was behind the tip: read again at once, even after an empty page."""
        self.millis_behind_latest: int | None = None
        """MillisBehindLatest of the last GetRecords page, for the lag metric; None before one."""

    @property
    def shard_id(self) -> str:
        return self.shard.shard_id

    def poll(self, limit: int) -> list[ShardRecord]:
        """Up to ``limit`` records after the last ones returned; [] at the tip or while resting."""
        if self.closed or self._monotonic() < self._resting_until:
            self.behind = False
            return []
        try:
            if self._iterator is None:
                self._iterator = shard_iterator(
                    self.client, self.stream_name, self.shard, self._position
                )
            page = get_records(self.client, self._iterator, min(limit, 10_000))
        except ClientError as exc:
            return self._on_client_error(exc)
        except BotoCoreError as exc:
            raise StreamError(f"cannot read {self.stream_name}/{self.shard_id}: {exc}") from exc
        floor = self._position.min_offset
        records = [
            ShardRecord.from_get_records(self.shard_id, item)
            for item in page["Records"]
            if int(item["SequenceNumber"]) >= floor
        ]
        if records:
            self._position = Position.from_offset(records[-1].position + 1)
        self._iterator = page.get("NextShardIterator")
        self.closed = self._iterator is None
        self.millis_behind_latest = page.get("MillisBehindLatest")
        self.behind = (self.millis_behind_latest or 0) > 0
        self.at_tip = not page["Records"] and not self.behind
        return records

    def _on_client_error(self, exc: ClientError) -> list[ShardRecord]:
        code = error_code(exc)
        if code in RESET_ITERATOR_ERRORS:
            log.info("shard iterator of %s expired; getting a new one", self.shard_id)
            self._iterator = None
            self.behind = True  # nothing learnt about the tip: read again at once
            return []
        if code in THROTTLE_ERRORS:
            log.debug("reads of %s throttled; resting %.1f s", self.shard_id, THROTTLE_BACKOFF_S)
            self._resting_until = self._monotonic() + THROTTLE_BACKOFF_S
            self.behind = False
            return []
        raise StreamError(f"cannot read {self.stream_name}/{self.shard_id}: {exc}") from exc
