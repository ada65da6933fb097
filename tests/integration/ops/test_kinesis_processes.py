"""On kinesis-local: the Lambda runner reports the consumer's metrics, and lag is time, not offsets.

Kinesis sequence numbers are not dense, so lag there is MillisBehindLatest, in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models.store import ModelStore
from producers.synthetic import generate_rides
from streamjury.devservers.kinesis import LocalKinesis
from tests.integration.ops.support import STREAMJURY, Service, free_port, wait_for

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

pytestmark = [pytest.mark.kinesis, pytest.mark.slow]

LAMBDA = {"service": "lambda", "check": "duration"}
CONSUMER = {"service": "consumer", "check": "duration"}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def create_stream(client: KinesisClient) -> str:
    name = f"ops-{uuid.uuid4().hex[:10]}"
    client.create_stream(StreamName=name, ShardCount=1)
    deadline = time.monotonic() + 10
    while (
        client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        != "ACTIVE"
    ):
        assert time.monotonic() < deadline, f"{name} never became ACTIVE"
        time.sleep(0.02)
    return name


def test_the_local_lambda_runner_counts_its_records_outputs_and_shard_lag(
    kinesis_local: LocalKinesis, models: Path, tmp_path: Path
) -> None:
    client = kinesis_local.client()
    source, verdicts, deadletter = (create_stream(client) for _ in range(3))
    rides = [labelled.event for labelled in generate_rides(6, 5)]
    payloads = [(r.event_id, r.to_bytes()) for r in rides] + [("bad", b"not json"), ("x", b"[]")]
    entries: list[PutRecordsRequestEntryTypeDef] = [
        {"PartitionKey": key, "Data": data} for key, data in payloads
    ]
    assert client.put_records(StreamName=source, Records=entries)["FailedRecordCount"] == 0
    port = free_port()
    stderr = tmp_path / "stderr.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **CREDENTIALS,
        "AWS_REGION": kinesis_local.region,
        "STREAMJURY_HTTP_PORT": "0",  # the flag wins
    }
    command = [
        STREAMJURY, "lambda", "run", "duration",
        "--stream", source,
        "--output-stream", verdicts,
        "--deadletter-target", f"kinesis:{deadletter}",
        "--kinesis-endpoint", kinesis_local.endpoint_url,
        "--models", str(models),
        "--batching-window", "0",
        "--metrics-port", str(port),
    ]  # fmt: skip
    with stderr.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    runner = Service(process, port, stderr)
    try:
        wait_for(lambda: runner.get("/readyz")[0] == 200, "readiness", runner)
        wait_for(
            lambda: runner.metric("streamjury_records_in_total", LAMBDA) == 7, "7 records", runner
        )

        assert runner.metric("streamjury_verdicts_out_total", LAMBDA) == 5
        dead = "streamjury_dead_letters_total"
        assert runner.metric(dead, LAMBDA, reason="invalid_json") == 1
        assert runner.metric(dead, LAMBDA, reason="validation") == 1
        assert runner.metric("streamjury_end_to_end_seconds_count", LAMBDA) == 5
        assert (runner.metric("streamjury_predict_seconds_count", LAMBDA) or 0) >= 1
        assert (
            runner.metric(
                "streamjury_model_info", LAMBDA, model="duration", version=model_version(models)
            )
            == 1
        )
        wait_for(
            lambda: (
                runner.metric(
                    "streamjury_consumer_lag_seconds",
                    LAMBDA,
                    stream=source,
                    partition="shardId-000000000000",
                )
                == 0
            ),
            "the shard lag at the tip",
            runner,
        )
    finally:
        if process.poll() is None:
            assert runner.stop() == 0
    logged = [line for line in runner.log_lines() if line.startswith("{")]
    summary = [line for line in runner.log_lines() if not line.startswith("{")]
    # for people: the metrics table (printed once off a terminal), then the closing line; the
    # rest is JSON logs
    assert "7 records settled, 0 discarded" in summary[-1]
    assert any("RecordsIn" in line for line in summary[:-1])
    lines = [json.loads(line) for line in logged]
    assert any(
        line.get("service") == "lambda" and line.get("partition") == "shardId-000000000000"
        for line in lines
    )


def model_version(models: Path) -> str:
    return ModelStore(models).version("duration")


def test_a_consumer_on_kinesis_reports_seconds_behind_latest_per_shard_not_record_lag(
    kinesis_local: LocalKinesis, models: Path, tmp_path: Path
) -> None:
    client = kinesis_local.client()
    prefix = f"ops{uuid.uuid4().hex[:8]}."
    port = free_port()
    stderr = tmp_path / "stderr.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **CREDENTIALS,
        "AWS_REGION": kinesis_local.region,
        "STREAMJURY_MODELS": str(models),
        "STREAMJURY_HTTP_PORT": str(port),
        "STREAMJURY_LAG_INTERVAL_S": "0.2",
        "STREAMJURY_KINESIS_SHARDS": "2",
    }
    command = [
        STREAMJURY, "consume", "duration",
        "--backend", "kinesis",
        "--kinesis-endpoint", kinesis_local.endpoint_url,
        "--stream-prefix", prefix,
        "--local-dir", str(tmp_path / "checkpoints"),
    ]  # fmt: skip
    with stderr.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    consumer = Service(process, port, stderr)
    try:
        wait_for(lambda: consumer.get("/readyz")[0] == 200, "readiness", consumer)
        rides = [labelled.event for labelled in generate_rides(7, 20)]
        entries: list[PutRecordsRequestEntryTypeDef] = [
            {"PartitionKey": r.event_id, "Data": r.to_bytes()} for r in rides
        ]
        client.put_records(StreamName=f"{prefix}rides", Records=entries)
        wait_for(
            lambda: consumer.metric("streamjury_verdicts_out_total", CONSUMER) == 20,
            "20 verdicts",
            consumer,
        )

        def lag(name: str) -> dict[str, float]:
            return {
                shard: value
                for shard in ("shardId-000000000000", "shardId-000000000001")
                if (
                    value := consumer.metric(
                        name, CONSUMER, stream=f"{prefix}rides", partition=shard
                    )
                )
                is not None
            }

        wait_for(
            lambda: len(lag("streamjury_consumer_lag_seconds")) == 2, "both shards' lag", consumer
        )
        assert all(value >= 0 for value in lag("streamjury_consumer_lag_seconds").values())
        assert lag("streamjury_consumer_lag_records") == {}
    finally:
        if process.poll() is None:
            assert consumer.stop() == 0
