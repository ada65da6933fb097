"""The Kinesis event wire models: AWS's field names in, streamjury Records out.

The local runner's event builder must produce exactly what these models accept.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from consumers.lambda_events import KinesisEvent
from streamjury.esm.event import ShardRecord, StreamIdentity, kinesis_event
from tests.unit.lambda_.support import load_event


def test_a_saved_event_parses_with_its_data_base64_decoded() -> None:
    raw = load_event("kinesis-rides")

    event = KinesisEvent.model_validate(raw)

    assert len(event.Records) == len(raw["Records"])
    for parsed, original in zip(event.Records, raw["Records"], strict=True):
        assert parsed.kinesis.data == base64.b64decode(original["kinesis"]["data"])
        assert parsed.kinesis.data.startswith(b"{")


def test_a_record_maps_onto_a_streamjury_record() -> None:
    raw = load_event("kinesis-rides")["Records"][0]

    record = KinesisEvent.model_validate({"Records": [raw]}).Records[0].to_record()

    assert record.stream == "rides"
    assert record.partition == raw["eventID"].split(":")[0] == "shardId-000000000001"
    assert record.offset == int(raw["kinesis"]["sequenceNumber"])
    assert str(record.offset) == raw["kinesis"]["sequenceNumber"]  # 56 digits survive exactly
    assert record.key == raw["kinesis"]["partitionKey"]
    assert record.timestamp_ms == round(raw["kinesis"]["approximateArrivalTimestamp"] * 1000)


def test_data_that_is_not_base64_is_refused() -> None:
    raw = load_event("kinesis-rides")
    raw["Records"][0]["kinesis"]["data"] = "not base64!"

    with pytest.raises(ValidationError, match="base64"):
        KinesisEvent.model_validate(raw)


def test_a_field_aws_adds_one_day_is_ignored() -> None:
    raw = load_event("kinesis-rides")
    raw["Records"][0]["kinesis"]["encryptionType"] = "KMS"

    assert len(KinesisEvent.model_validate(raw).Records) == len(raw["Records"])


def test_the_local_runner_builds_events_the_handler_reads_back_unchanged() -> None:
    arrival = datetime(2026, 1, 15, 8, 30, 0, 250_000, tzinfo=UTC)
    sent = [
        ShardRecord(
            "shardId-000000000003", str(49_000_000_000 + i), f"key-{i}", bytes([i, 255]), arrival
        )
        for i in range(3)
    ]
    origin = StreamIdentity(
        stream_arn="arn:aws:kinesis:eu-west-1:123456789012:stream/prefix-rides",
        region="eu-west-1",
        invoke_identity_arn="arn:aws:iam::123456789012:role/streamjury-local",
    )

    event = KinesisEvent.model_validate(kinesis_event(sent, origin))

    assert [r.kinesis.data for r in event.Records] == [r.data for r in sent]
    assert [r.sequence_number for r in event.Records] == [r.sequence_number for r in sent]
    assert {r.shard_id for r in event.Records} == {"shardId-000000000003"}
    assert {r.stream_name for r in event.Records} == {"prefix-rides"}
    assert {r.awsRegion for r in event.Records} == {"eu-west-1"}
    assert event.Records[0].kinesis.approximateArrivalTimestamp == arrival.timestamp()
