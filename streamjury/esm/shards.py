"""Reads one shard with GetShardIterator / GetRecords, as Lambda's standard-iterator poller does.

Handles expired iterators and throttling; knows when the shard is closed and read to its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamjury.errors import StreamError
from streamjury.esm.event import ShardRecord

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

THROTTLE_BACKOFF_S = 1.0
"""How long a shard rests after ProvisionedThroughputExceeded (AWS allows 5 reads/s/shard)."""


@dataclass(frozen=True, slots=True)
class StartAt:
    """Where a shard iterator begins: a ShardIteratorType, with a sequence number for AFTER_."""

    kind: str
    sequence_number: str | None = None

    @classmethod
    def after(cls, sequence_number: str) -> StartAt:
        return cls("AFTER_SEQUENCE_NUMBER", sequence_number)

    def __str__(self) -> str:
        return f"{self.kind} {self.sequence_number}" if self.sequence_number else self.kind


class ShardPoller:
    """One shard's iterator. ``poll`` is one GetRecords call; state says whether there is more."""

    def __init__(
        self,
        client: KinesisClient,
        stream_name: str,
        shard_id: str,
        start: StartAt,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream_name = stream_name
        self.shard_id = shard_id
        self._start = start
        self._monotonic = monotonic
        self._iterator: str | None = None
        self._last_read: str | None = None
        self._resting_until = 0.0
        self.closed = False
        """The shard is closed (resharded) and every record in it has been read."""
        self.at_tip = False
        """The last GetRecords reached the newest record (MillisBehindLatest was 0)."""
        self.behind = False
        """The last GetRecords was behind the tip: read again at once, even after an empty page."""
        self.millis_behind_latest: int | None = None
        """MillisBehindLatest of the last GetRecords page, for the lag metric; None before one."""

    def poll(self, limit: int) -> list[ShardRecord]:
        """Up to ``limit`` records after the last ones returned; [] at the tip or while resting."""
        if self.closed or self._monotonic() < self._resting_until:
            self.behind = False
            return []
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._iterator is None:
                self._iterator = self._new_iterator()
            page = self.client.get_records(ShardIterator=self._iterator, Limit=min(limit, 10_000))
        except ClientError as exc:
            return self._on_client_error(exc)
        except BotoCoreError as exc:
            raise StreamError(f"cannot read {self.stream_name}/{self.shard_id}: {exc}") from exc
        records = [ShardRecord.from_get_records(self.shard_id, item) for item in page["Records"]]
        if records:
            self._last_read = records[-1].sequence_number
        self._iterator = page.get("NextShardIterator")
        self.closed = self._iterator is None
        self.millis_behind_latest = page.get("MillisBehindLatest")
        self.behind = (self.millis_behind_latest or 0) > 0
        self.at_tip = not records and not self.behind
        return records

    def _new_iterator(self) -> str:
        start = StartAt.after(self._last_read) if self._last_read is not None else self._start
        params: dict[str, Any] = {
            "StreamName": self.stream_name,
            "ShardId": self.shard_id,
            "ShardIteratorType": start.kind,
        }
        if start.sequence_number is not None:
            params["StartingSequenceNumber"] = start.sequence_number
        iterator: str = self.client.get_shard_iterator(**params)["ShardIterator"]
        return iterator

    def _on_client_error(self, exc: Any) -> list[ShardRecord]:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ExpiredIteratorException":
            log.info("shard iterator of %s expired; getting a new one", self.shard_id)
            self._iterator = None
            self.behind = True  # nothing learnt about the tip: read again at once
            return []
        if code in ("ProvisionedThroughputExceededException", "LimitExceededException"):
            log.debug("reads of %s throttled; resting %.1f s", self.shard_id, THROTTLE_BACKOFF_S)
            self._resting_until = self._monotonic() + THROTTLE_BACKOFF_S
            self.behind = False
            return []
        raise StreamError(f"cannot read {self.stream_name}/{self.shard_id}: {exc}") from exc
