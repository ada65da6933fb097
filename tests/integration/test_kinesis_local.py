"""Integration tests for the dev servers: a real kinesis-local process and an in-process moto.
They check data really round-trips through the Kinesis API, not just that calls succeed.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient


@pytest.fixture
def kinesis(kinesis_local: LocalKinesis) -> KinesisClient:
    return kinesis_local.client(retries={"max_attempts": 2})


def _wait_active(client: KinesisClient, stream: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    pytest.fail(f"stream {stream} not ACTIVE after {timeout}s")


def _read_shard(client: KinesisClient, stream: str, shard_id: str) -> list[tuple[str, bytes, str]]:
    """All records of a shard from TRIM_HORIZON, until an empty page at the tip."""
    iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[tuple[str, bytes, str]] = []
    for _ in range(100):
        page = client.get_records(ShardIterator=iterator, Limit=7)  # small pages: paginate
        out.extend((r["PartitionKey"], r["Data"], r["SequenceNumber"]) for r in page["Records"])
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            return out
        iterator = page["NextShardIterator"]
    pytest.fail(f"shard {shard_id} never reached the tip")


@pytest.mark.kinesis
def test_server_answers_and_reports_endpoint(kinesis_local: LocalKinesis) -> None:
    assert kinesis_local.is_running
    assert kinesis_local.endpoint_url == f"http://127.0.0.1:{kinesis_local.port}"
    assert kinesis_local.port != kinesis_local.tls_port
    assert "StreamNames" in kinesis_local.client().list_streams()


@pytest.mark.kinesis
def test_put_records_round_trip_across_two_shards(kinesis: KinesisClient) -> None:
    stream = f"roundtrip-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    _wait_active(kinesis, stream)

    # Binary payloads of varied sizes including every byte value, so any text/base64
    # mangling shows up as a mismatch.
    sent = {
        f"pk-{i:03d}": bytes([i]) + bytes(range(256))[i:] + f"|record {i}|".encode() + b"\x00" * i
        for i in range(50)
    }
    response = kinesis.put_records(
        StreamName=stream,
        Records=[{"Data": data, "PartitionKey": key} for key, data in sent.items()],
    )
    assert response["FailedRecordCount"] == 0
    assert len(response["Records"]) == 50
    used_shards = {r["ShardId"] for r in response["Records"]}

    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    assert len(shards) == 2
    assert used_shards == {s["ShardId"] for s in shards}, "50 keys should hash to both shards"

    received: dict[str, bytes] = {}
    for shard in shards:
        records = _read_shard(kinesis, stream, shard["ShardId"])
        assert records, f"no records in {shard['ShardId']}"
        sequence_numbers = [int(seq) for _, _, seq in records]
        assert sequence_numbers == sorted(sequence_numbers), "per-shard order must hold"
        for key, data, _ in records:
            assert key not in received, f"duplicate record for {key}"
            received[key] = data

    assert received == sent
    kinesis.delete_stream(StreamName=stream)


@pytest.mark.kinesis
def test_stop_leaves_no_node_process() -> None:
    server = LocalKinesis().start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, 0)  # alive
    server.stop()
    assert not server.is_running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_moto_server_s3_put_get(moto_server: MotoServer) -> None:
    import boto3

    assert moto_server.endpoint_url.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3", **moto_server.client_kwargs())
    bucket = f"streamjury-test-{uuid.uuid4().hex[:8]}"
    payload = bytes(range(256)) * 4
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/a.bin", Body=payload)
    assert s3.get_object(Bucket=bucket, Key="models/a.bin")["Body"].read() == payload
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["models/a.bin"]
