"""What AWS Lambda sends a Kinesis-triggered function and what the function answers, as types.

Field names are AWS's own (as in Powertools), so the models read like the AWS documentation.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streamjury.streams.base import Record

EVENT_SOURCE = "aws:kinesis"
EVENT_NAME = "aws:kinesis:record"
SCHEMA_VERSION = "1.0"
SEQUENCE_NUMBER = r"^[0-9]{1,128}$"


class _AwsModel(BaseModel):
    """Lenient about fields AWS may add one day, strict about the ones we read."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class KinesisPayload(_AwsModel):
    """The ``kinesis`` object of one record; ``data`` arrives base64-encoded and is decoded here."""

    kinesisSchemaVersion: str = SCHEMA_VERSION
    partitionKey: str = Field(min_length=1, max_length=256)
    sequenceNumber: str = Field(pattern=SEQUENCE_NUMBER)
    data: bytes
    approximateArrivalTimestamp: float = Field(ge=0)
    """Seconds since the epoch, with millisecond precision."""

    @field_validator("data", mode="before")
    @classmethod
    def _decode_base64(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"data is not valid base64: {exc}") from exc
        return value


class KinesisEventRecord(_AwsModel):
    """One element of ``Records``: the payload plus where it came from."""

    kinesis: KinesisPayload
    eventSource: str = EVENT_SOURCE
    eventVersion: str = "1.0"
    eventID: str = Field(pattern=r"^[^:]+:[0-9]+$")
    """``shardId:sequenceNumber``, the only place the event names the shard."""
    eventName: str = EVENT_NAME
    invokeIdentityArn: str | None = None
    awsRegion: str
    eventSourceARN: str = Field(pattern=r"^arn:[^:]+:kinesis:[^:]*:[0-9]*:stream/.+$")

    @property
    def shard_id(self) -> str:
        return self.eventID.rsplit(":", 1)[0]

    @property
    def stream_name(self) -> str:
        """The stream's name, from ``arn:aws:kinesis:region:account:stream/NAME``."""
        return self.eventSourceARN.split(":stream/", 1)[1].split("/", 1)[0]

    @property
    def sequence_number(self) -> str:
        return self.kinesis.sequenceNumber

    def to_record(self) -> Record:
        """The record as every other streamjury consumer sees one (Kinesis offset = sequence)."""
        return Record(
            stream=self.stream_name,
            partition=self.shard_id,
            offset=int(self.kinesis.sequenceNumber),
            key=self.kinesis.partitionKey,
            value=self.kinesis.data,
            timestamp_ms=round(self.kinesis.approximateArrivalTimestamp * 1000),
        )


class KinesisEvent(_AwsModel):
    """The whole invocation event: a batch of records, all from one shard when AWS sends it."""

    Records: list[KinesisEventRecord] = Field(max_length=10_000)


class BatchItemFailure(TypedDict):
    itemIdentifier: str
    """The sequence number of the first record whose outputs could not be written."""


class PartialBatchResponse(TypedDict):
    """The answer Lambda reads when ``FunctionResponseTypes`` has ``ReportBatchItemFailures``.

    An empty list means the whole batch succeeded; otherwise Lambda checkpoints just before the
    lowest reported sequence number and retries from there. ``verdicts`` and ``deadLetters``
    are only present in dry-run mode, which publishes nothing and returns its outputs instead.
    """

    batchItemFailures: list[BatchItemFailure]
    verdicts: NotRequired[list[dict[str, Any]]]
    deadLetters: NotRequired[list[dict[str, Any]]]
