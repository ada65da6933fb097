"""Builds the invocation event Lambda sends a Kinesis-triggered function, field for field.

Handlers tested against this shape locally see the very same JSON in AWS.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ShardRecord:
    """One record as GetRecords returned it, plus the shard it was read from."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime
    """ApproximateArrivalTimestamp, aware."""

    @property
    def position(self) -> int:
        """The sequence number as an int: Kinesis orders a shard's records by it."""
        return int(self.sequence_number)

    @classmethod
    def from_get_records(cls, shard_id: str, item: Any) -> ShardRecord:
        """From one element of a boto3 ``get_records()["Records"]``."""
        return cls(
            shard_id=shard_id,
            sequence_number=item["SequenceNumber"],
            partition_key=item["PartitionKey"],
            data=bytes(item["Data"]),
            arrival=item["ApproximateArrivalTimestamp"],
        )


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    """What every record of an event says about its origin."""

    stream_arn: str
    region: str
    invoke_identity_arn: str


def kinesis_event(records: Sequence[ShardRecord], origin: StreamIdentity) -> dict[str, Any]:
    """``{"Records": [...]}`` exactly as Lambda's Kinesis event source mapping sends it."""
    return {"Records": [event_record(record, origin) for record in records]}


def event_record(record: ShardRecord, origin: StreamIdentity) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": base64.b64encode(record.data).decode("ascii"),
            "approximateArrivalTimestamp": round(record.arrival.timestamp(), 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{record.shard_id}:{record.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": origin.invoke_identity_arn,
        "awsRegion": origin.region,
        "eventSourceARN": origin.stream_arn,
    }
