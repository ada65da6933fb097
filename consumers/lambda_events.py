"""What AWS Lambda sends a Kinesis-triggered function and what the function answers, as types.

The record models are Powertools' own (``aws_lambda_powertools.utilities.parser.models``),
narrowed where streamjury needs more than they check; each record is parsed on its own, so one
record AWS could never have sent us (say, ``data`` that is not base64) costs only that record.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from aws_lambda_powertools.utilities.parser.models import (
    KinesisDataStreamRecord,
    KinesisDataStreamRecordPayload,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streamjury.errors import InvalidEvent
from streamjury.schemas import describe_validation_error
from streamjury.streams.base import Record

EVENT_SOURCE = "aws:kinesis"
EVENT_NAME = "aws:kinesis:record"
SCHEMA_VERSION = "1.0"
SEQUENCE_NUMBER = r"^[0-9]{1,128}$"
EVENT_ID = r"^[^:]+:[0-9]+$"
STREAM_ARN = r"^arn:[^:]+:kinesis:[^:]*:[0-9]*:stream/.+$"
MAX_RECORDS = 10_000

# What Powertools' Kinesis models lack, and so what the subclasses below add:
# - strict base64: Powertools calls ``b64decode(value)`` without ``validate=True``, which
#   silently drops characters outside the alphabet ("not base64!" decodes to junk bytes);
# - shape checks on the fields streamjury reads back (sequence number, eventID, stream ARN),
#   so a record that cannot be reported in a partial batch response is caught here;
# - tolerance of fields AWS adds one day (Powertools models use pydantic's default, which
#   also ignores them, but says nothing about it) and frozen instances;
# - ``invokeIdentityArn`` optional (Powertools requires it; AWS omits it in some test events);
# - the shard id and stream name, and the conversion to streamjury's own ``Record``.
# Powertools parses a whole event at once, so one bad record would fail every record of the
# batch: ``parse_event`` below parses record by record instead (see ``UnreadableRecord``).


class KinesisPayload(KinesisDataStreamRecordPayload):
    """The ``kinesis`` object of one record; ``data`` arrives base64-encoded and is decoded here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kinesisSchemaVersion: str = SCHEMA_VERSION
    partitionKey: str = Field(min_length=1, max_length=256)
    sequenceNumber: str = Field(pattern=SEQUENCE_NUMBER)
    data: bytes
    approximateArrivalTimestamp: float = Field(ge=0)
    """Seconds since the epoch, with millisecond precision."""

    @field_validator("data", mode="before")
    @classmethod
    def data_base64_decode(cls, value: Any) -> Any:
        """Replaces Powertools' validator of the same name: strict base64, or a clear error."""
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"data is not valid base64: {exc}") from exc
        return value


class KinesisEventRecord(KinesisDataStreamRecord):
    """One element of ``Records``: the payload plus where it came from."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kinesis: KinesisPayload
    eventVersion: str = "1.0"
    eventID: str = Field(pattern=EVENT_ID)
    """``shardId:sequenceNumber``, the only place the event names the shard."""
    invokeIdentityArn: str | None = None  # type: ignore[assignment]
    eventSourceARN: str = Field(pattern=STREAM_ARN)

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

    @property
    def arrival_s(self) -> float:
        return self.kinesis.approximateArrivalTimestamp

    def to_record(self) -> Record:
        """The record as every other streamjury consumer sees one (Kinesis offset = sequence)."""
        assert isinstance(self.kinesis.data, bytes)
        return Record(
            stream=self.stream_name,
            partition=self.shard_id,
            offset=int(self.kinesis.sequenceNumber),
            key=self.kinesis.partitionKey,
            value=self.kinesis.data,
            timestamp_ms=round(self.kinesis.approximateArrivalTimestamp * 1000),
        )


class KinesisEvent(BaseModel):
    """The whole invocation event, all at once: every record must be valid (tests, tools)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    Records: list[KinesisEventRecord] = Field(max_length=MAX_RECORDS)


class _Envelope(BaseModel):
    """Only the outer shape: a list of objects, each read on its own by ``parse_event``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    Records: list[dict[str, Any]] = Field(max_length=MAX_RECORDS)


class _Position(BaseModel):
    """The least a record must carry to be named in a partial batch response."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    class _Inner(BaseModel):
        model_config = ConfigDict(frozen=True, extra="ignore")
        sequenceNumber: str = Field(pattern=SEQUENCE_NUMBER)
        partitionKey: str = ""
        approximateArrivalTimestamp: float = 0.0
        data: Any = None

    kinesis: _Inner
    eventID: str = Field(pattern=EVENT_ID)
    eventSourceARN: str = Field(pattern=STREAM_ARN)


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """A record whose position is known but whose content could not be read (bad base64...).

    It is dead-lettered alone, with what was sent as its original, instead of failing the
    invocation (which would make Lambda retry, or bisect, the whole batch for nothing).
    """

    shard_id: str
    sequence_number: str
    stream_name: str
    partition_key: str
    arrival_s: float
    sent: bytes
    """``data`` exactly as it arrived (the base64 text, or the JSON of whatever was there)."""
    reason: str

    def to_record(self) -> Record:
        return Record(
            stream=self.stream_name,
            partition=self.shard_id,
            offset=int(self.sequence_number),
            key=self.partition_key,
            value=self.sent,
            timestamp_ms=round(self.arrival_s * 1000),
        )


EventRecord = KinesisEventRecord | UnreadableRecord


def parse_event(event: Mapping[str, Any]) -> list[EventRecord]:
    """Every record of ``event``, parsed alone; an unreadable one becomes an UnreadableRecord.

    Raises InvalidEvent when the event itself is not a Kinesis event, or when a record lacks
    even a sequence number and shard: only AWS sends these, so that is a broken harness.
    """
    try:  # the usual case, every record readable: one validation pass over the whole event
        return list(KinesisEvent.model_validate(event).Records)
    except ValidationError:
        pass  # something is unreadable: find out record by record what, and keep the rest
    try:
        envelope = _Envelope.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"not a Kinesis event: {describe_validation_error(exc)}") from exc
    return [_parse_record(index, raw) for index, raw in enumerate(envelope.Records)]


def _parse_record(index: int, raw: dict[str, Any]) -> EventRecord:
    try:
        return KinesisEventRecord.model_validate(raw)
    except ValidationError as exc:
        reason = f"unreadable Kinesis record: {describe_validation_error(exc)}"
        try:
            position = _Position.model_validate(raw)
        except ValidationError:
            raise InvalidEvent(f"Records[{index}]: {describe_validation_error(exc)}") from exc
    data = position.kinesis.data
    sent = data.encode() if isinstance(data, str) else repr(data).encode()
    return UnreadableRecord(
        shard_id=position.eventID.rsplit(":", 1)[0],
        sequence_number=position.kinesis.sequenceNumber,
        stream_name=position.eventSourceARN.split(":stream/", 1)[1].split("/", 1)[0],
        partition_key=position.kinesis.partitionKey,
        arrival_s=position.kinesis.approximateArrivalTimestamp,
        sent=sent,
        reason=reason,
    )


class BatchItemFailure(TypedDict):
    itemIdentifier: str
    """The sequence number of the first record whose outputs could not be written."""


class PartialBatchResponse(TypedDict):
    """The answer Lambda reads when ``FunctionResponseTypes`` has ``ReportBatchItemFailures``.

    An empty list means the whole batch succeeded; otherwise Lambda checkpoints just before the
    lowest reported sequence number and retries from there. ``verdicts`` and ``deadLetters``
    (and ``shadowVerdicts``, with a shadow) are only present in dry-run mode, which publishes
    nothing and returns its outputs instead.

    Powertools' ``BatchProcessor`` reports *every* failed record; for a Kinesis source Lambda
    only uses the lowest one anyway and redelivers everything after it. streamjury reports
    exactly that one record, the first in stream order that can still succeed, so what the
    response says is what Lambda will do (see docs/lambda.md, "Partial batch responses").
    """

    batchItemFailures: list[BatchItemFailure]
    verdicts: NotRequired[list[dict[str, Any]]]
    deadLetters: NotRequired[list[dict[str, Any]]]
    shadowVerdicts: NotRequired[list[dict[str, Any]]]
