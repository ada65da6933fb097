"""The on-failure destination: metadata about batches the runner gave up on, shaped like AWS's.

AWS sends only metadata (shard, sequence range, why), never the records: they stay in the stream.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from streamjury.errors import DeliveryError
from streamjury.esm.event import ShardRecord
from streamjury.streams.base import OutRecord

log = logging.getLogger(__name__)

Condition = Literal["RetryAttemptsExhausted", "RecordAgeExceeded"]
"""Why records were discarded (the ``requestContext.condition`` values LocalStack uses too)."""


@dataclass(frozen=True, slots=True)
class DiscardedBatch:
    """Consecutive records of one shard that will not be processed, and why."""

    records: Sequence[ShardRecord]
    condition: Condition
    invoke_count: int
    """How many times these records were sent to the function (0: expired before any)."""
    function_error: str | None = None
    """``Unhandled`` when the function raised; None for partial failures and expiry."""


def failure_document(
    batch: DiscardedBatch, *, function_arn: str, stream_arn: str, now: datetime | None = None
) -> dict[str, Any]:
    """The JSON document AWS writes to an on-failure destination for a Kinesis batch."""
    first, last = batch.records[0], batch.records[-1]
    document: dict[str, Any] = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": batch.condition,
            "approximateInvokeCount": batch.invoke_count,
        },
        "version": "1.0",
        "timestamp": _iso(now or datetime.now(UTC)),
        "KinesisBatchInfo": {
            "shardId": first.shard_id,
            "startSequenceNumber": first.sequence_number,
            "endSequenceNumber": last.sequence_number,
            "approximateArrivalOfFirstRecord": _iso(first.arrival),
            "approximateArrivalOfLastRecord": _iso(last.arrival),
            "batchSize": len(batch.records),
            "streamArn": stream_arn,
        },
    }
    if batch.invoke_count:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if batch.function_error is not None:
            response["functionError"] = batch.function_error
        document["responseContext"] = response
    return document


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FailureDestination(Protocol):
    """Receives one document per discarded batch; raises if it could not keep it."""

    def send(self, document: dict[str, Any]) -> None: ...


class _Writer(Protocol):
    """Any sink that says which records it could not write (``consumers.lambda_sinks``)."""

    def put(self, records: Sequence[OutRecord]) -> set[int]: ...


class WriterDestination:
    """Sends each document as one JSON record, keyed by shard, through a Kinesis or SQS sink."""

    def __init__(self, writer: _Writer, description: str) -> None:
        self._writer = writer
        self.description = description

    def send(self, document: dict[str, Any]) -> None:
        key = str(document["KinesisBatchInfo"]["shardId"])
        record = OutRecord(key, json.dumps(document, separators=(",", ":")).encode())
        if self._writer.put([record]):
            raise DeliveryError(f"could not write to the on-failure destination {self}")

    def __str__(self) -> str:
        return self.description


class LogOnlyDestination:
    """No destination configured: as on AWS, the records are skipped; here they are logged."""

    def send(self, document: dict[str, Any]) -> None:
        info = document["KinesisBatchInfo"]
        log.warning(
            "discarding %d records of %s (%s..%s): %s, and no on-failure destination is set",
            info["batchSize"],
            info["shardId"],
            info["startSequenceNumber"],
            info["endSequenceNumber"],
            document["requestContext"]["condition"],
        )
