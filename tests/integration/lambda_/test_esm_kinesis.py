"""The local event source mapping driving the real handler over real streams on kinesis-local.

Verdicts, dead letters and on-failure documents are read back from their streams, so what is
checked is what a downstream consumer would see.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from consumers.lambda_handler import LambdaAdapter, Outputs, build_adapter
from consumers.lambda_settings import LambdaSettings
from consumers.lambda_sinks import open_sink
from streamjury.cli.main import cli
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.esm.checkpoints import StoreCheckpoints
from streamjury.esm.config import MappingSettings
from streamjury.esm.destinations import WriterDestination
from streamjury.esm.runner import EventSourceMappingRunner, RunnerOptions
from streamjury.schemas import DeadLetter, Verdict
from streamjury.settings import KinesisSettings
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
from tests.unit.lambda_.support import FailFromKey

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

pytestmark = [pytest.mark.kinesis, pytest.mark.usefixtures("aws_credentials")]

WHEN = "2026-01-15T08:30:00Z"
FAST = RunnerOptions(function_name="streamjury-test", poll_interval_s=0.05, retry_backoff_s=0.0)


def ride(event_id: str, **changes: Any) -> bytes:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": event_id,
        "event_type": "ride",
        "occurred_at": WHEN,
        "VendorID": 2,
        "pickup_datetime": WHEN,
        "PULocationID": 132,
        "DOLocationID": 236,
        "trip_distance": 3.5,
        "passenger_count": 1,
        "payment_type": 1,
        "fare_amount": 18.0,
        **changes,
    }
    return json.dumps(event).encode()


def create_stream(client: KinesisClient, shards: int = 1) -> str:
    name = f"lambda-{uuid.uuid4().hex[:10]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if status["StreamStatus"] == "ACTIVE":
            return name
        time.sleep(0.02)
    raise AssertionError(f"stream {name} never became ACTIVE")


def put(client: KinesisClient, stream: str, records: list[tuple[str, bytes]]) -> dict[str, str]:
    """Write (key, data) records in order; returns key -> sequence number."""
    response = client.put_records(
        StreamName=stream, Records=[{"PartitionKey": k, "Data": d} for k, d in records]
    )
    assert response["FailedRecordCount"] == 0
    return {k: r["SequenceNumber"] for (k, _), r in zip(records, response["Records"], strict=True)}


def read_all(client: KinesisClient, stream: str) -> list[bytes]:
    """Every record's data, shard by shard, from the start to the tip."""
    data: list[bytes] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            data.extend(bytes(r["Data"]) for r in page["Records"])
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page["NextShardIterator"]
    return data


@pytest.fixture
def kinesis(kinesis_local: LocalKinesis) -> KinesisClient:
    return kinesis_local.client(retries={"max_attempts": 3})


@pytest.fixture
def kinesis_settings(kinesis_local: LocalKinesis) -> KinesisSettings:
    return KinesisSettings(
        STREAMJURY_KINESIS_ENDPOINT_URL=kinesis_local.endpoint_url,
        STREAMJURY_KINESIS_REGION=kinesis_local.region,
    )


@pytest.fixture
def streams(kinesis: KinesisClient) -> dict[str, str]:
    return {
        "verdicts": create_stream(kinesis),
        "deadletter": create_stream(kinesis),
        "on_failure": create_stream(kinesis),
    }


@pytest.fixture
def make_adapter(
    models_dir: Path, kinesis_settings: KinesisSettings, streams: dict[str, str]
) -> Callable[[], LambdaAdapter]:
    """The real adapter of the duration check, publishing to this test's streams."""

    def make() -> LambdaAdapter:
        settings = LambdaSettings(
            check="duration",
            models=str(models_dir),
            output_stream=streams["verdicts"],
            deadletter_target=f"kinesis:{streams['deadletter']}",
            kinesis=kinesis_settings,
        )
        return build_adapter(settings)

    return make


def handler_of(adapter: LambdaAdapter) -> Callable[[dict[str, Any], Any], Any]:
    def handler(event: dict[str, Any], context: Any) -> Any:
        return adapter.handle(event)

    return handler


def data_of(record: Mapping[str, Any]) -> bytes:
    """The decoded payload of one record of a Lambda Kinesis event."""
    return base64.b64decode(record["kinesis"]["data"])


def verdict_ids(kinesis: KinesisClient, stream: str) -> list[str]:
    return [Verdict.model_validate_json(raw).event_id for raw in read_all(kinesis, stream)]


def test_a_poison_record_is_dead_lettered_and_the_stream_keeps_flowing(
    kinesis: KinesisClient, streams: dict[str, str], make_adapter: Callable[[], LambdaAdapter]
) -> None:
    source = create_stream(kinesis, shards=2)
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(12)]
    poison = [("poison-a", b"{not json"), ("poison-b", ride("poison-b", trip_distance=-1.0))]
    put(kinesis, source, rides[:5] + poison[:1] + rides[5:9] + poison[1:] + rides[9:])
    runner = EventSourceMappingRunner(
        handler_of(make_adapter()),
        kinesis,
        source,
        MappingSettings(batch_size=4, batching_window_s=0),
        options=FAST,
    )

    stats = runner.run(lambda: False, until_idle=True)

    assert sorted(verdict_ids(kinesis, streams["verdicts"])) == sorted(k for k, _ in rides)
    letters = [
        DeadLetter.model_validate_json(raw) for raw in read_all(kinesis, streams["deadletter"])
    ]
    assert sorted(letter.original for letter in letters) == sorted(d for _, d in poison)
    assert all(letter.reason and letter.stage == "lambda:duration" for letter in letters)
    assert {i.result for i in runner.invoker.invocations} == {"ok"}
    assert {i.shard_id for i in runner.invoker.invocations} == {
        s["ShardId"] for s in kinesis.list_shards(StreamName=source)["Shards"]
    }
    assert stats.records == len(rides) + len(poison)
    assert stats.discarded == 0


def test_a_write_failure_mid_batch_resumes_from_the_first_unwritten_record(
    kinesis: KinesisClient,
    streams: dict[str, str],
    make_adapter: Callable[[], LambdaAdapter],
    kinesis_settings: KinesisSettings,
) -> None:
    source = create_stream(kinesis)
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(8)]
    sequences = put(kinesis, source, rides)
    adapter = make_adapter()
    assert adapter.outputs is not None
    adapter.outputs = Outputs(
        verdicts=FailFromKey(adapter.outputs.verdicts, key="ride-5", times=1),
        dead_letters=adapter.outputs.dead_letters,
    )
    runner = EventSourceMappingRunner(
        handler_of(adapter),
        kinesis,
        source,
        MappingSettings(batch_size=10, batching_window_s=0),
        options=FAST,
    )

    runner.run(lambda: False, until_idle=True)

    first, second = runner.invoker.invocations
    assert (first.result, first.size, first.failed_from) == ("partial", 8, sequences["ride-5"])
    assert (second.result, second.first_sequence_number, second.size) == (
        "ok",
        sequences["ride-5"],
        3,
    )
    written = verdict_ids(kinesis, streams["verdicts"])
    assert sorted(written) == sorted(k for k, _ in rides)  # every event, each exactly once


def test_a_handler_failing_on_a_poison_value_is_bisected_down_to_that_record(
    kinesis: KinesisClient,
    streams: dict[str, str],
    make_adapter: Callable[[], LambdaAdapter],
    kinesis_settings: KinesisSettings,
) -> None:
    source = create_stream(kinesis)
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(8)]
    rides[5] = ("ride-5", ride("ride-5", DOLocationID=265))  # the value this handler chokes on
    sequences = put(kinesis, source, rides)
    adapter = make_adapter()

    def choking_handler(event: Mapping[str, Any], context: Any) -> Any:
        if any(b'"DOLocationID": 265' in data_of(r) for r in event["Records"]):
            raise RuntimeError("cannot route to zone 265")
        return adapter.handle(event)

    on_failure = open_sink(f"kinesis:{streams['on_failure']}", kinesis_settings)
    runner = EventSourceMappingRunner(
        choking_handler,
        kinesis,
        source,
        MappingSettings(batch_size=8, batching_window_s=0, bisect_on_error=True, max_retries=1),
        destination=WriterDestination(on_failure, "on-failure"),
        options=FAST,
    )

    stats = runner.run(lambda: False, until_idle=True)

    sizes = [i.size for i in runner.invoker.invocations]
    assert sizes[:4] == [8, 4, 4, 2]
    assert [i.size for i in runner.invoker.invocations if i.result == "error"][-2:] == [1, 1]
    [document] = [json.loads(raw) for raw in read_all(kinesis, streams["on_failure"])]
    info = document["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequences["ride-5"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == runner.stream_arn
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert sorted(verdict_ids(kinesis, streams["verdicts"])) == sorted(
        k for k, _ in rides if k != "ride-5"
    )
    assert stats.discarded == 1


def test_a_checkpoint_file_lets_the_next_run_resume_after_what_was_processed(
    kinesis: KinesisClient,
    streams: dict[str, str],
    make_adapter: Callable[[], LambdaAdapter],
    tmp_path: Path,
) -> None:
    source = create_stream(kinesis)
    put(kinesis, source, [(f"ride-{i}", ride(f"ride-{i}")) for i in range(3)])
    adapter = make_adapter()

    def run_once() -> EventSourceMappingRunner:
        store = SqliteCheckpointStore(tmp_path / "checkpoints.db")
        checkpoints = StoreCheckpoints(store, mapping="test", stream=source)
        runner = EventSourceMappingRunner(
            handler_of(adapter),
            kinesis,
            source,
            MappingSettings(batch_size=10, batching_window_s=0),
            checkpoints=checkpoints,
            options=FAST,
        )
        runner.run(lambda: False, until_idle=True)
        checkpoints.close()
        return runner

    run_once()
    put(kinesis, source, [(f"ride-{i}", ride(f"ride-{i}")) for i in range(3, 5)])
    second = run_once()

    assert [i.size for i in second.invoker.invocations] == [2]
    assert sorted(verdict_ids(kinesis, streams["verdicts"])) == [f"ride-{i}" for i in range(5)]


def test_the_cli_replays_a_stream_through_a_check_in_dry_run(
    kinesis: KinesisClient,
    kinesis_local: LocalKinesis,
    models_dir: Path,
    restore_root_logging: None,
) -> None:
    source = create_stream(kinesis)
    put(kinesis, source, [("ride-1", ride("ride-1")), ("bad", b"[]"), ("ride-2", ride("ride-2"))])

    args = [
        "lambda", "run", "tip",
        "--stream", source,
        "--kinesis-endpoint", kinesis_local.endpoint_url,
        "--models", str(models_dir),
        "--batching-window", "0",
        "--dry-run", "--until-idle",
    ]  # fmt: skip

    result = CliRunner().invoke(cli, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["verdict"]["event_id"] for line in lines if "verdict" in line] == [
        "ride-1",
        "ride-2",
    ]
    assert [line["deadLetter"]["original_b64"] for line in lines if "deadLetter" in line] == [
        "W10="
    ]
    sums = summary_sums(result.stderr)  # the live table's final state, as CloudWatch sums it
    assert (sums["RecordsIn"], sums["Verdicts"], sums["DeadLetters"]) == ("3", "2", "1")
    assert (sums["ReportedFailures"], sums["ColdStart"]) == ("0", "1")


def summary_sums(text: str) -> dict[str, str]:
    """Metric -> its Sum column, from the table ``lambda run`` prints on stderr."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 6 and cells[1] in ("Count", "Milliseconds"):
            sums[cells[0]] = cells[3]
    return sums


def test_after_a_split_the_parent_shard_is_finished_before_its_children_start(
    kinesis: KinesisClient, streams: dict[str, str], make_adapter: Callable[[], LambdaAdapter]
) -> None:
    source = create_stream(kinesis)
    [parent] = kinesis.list_shards(StreamName=source)["Shards"]
    put(kinesis, source, [(f"ride-{i}", ride(f"ride-{i}")) for i in range(4)])
    kinesis.split_shard(
        StreamName=source, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(2**127)
    )
    deadline = time.monotonic() + 10
    while (
        kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"][
            "StreamStatus"
        ]
        != "ACTIVE"
    ):
        assert time.monotonic() < deadline, "the split never finished"
        time.sleep(0.02)
    put(kinesis, source, [(f"ride-{i}", ride(f"ride-{i}")) for i in range(4, 10)])
    runner = EventSourceMappingRunner(
        handler_of(make_adapter()),
        kinesis,
        source,
        MappingSettings(batch_size=3, batching_window_s=0),
        options=FAST,
    )

    runner.run(lambda: False, until_idle=True)

    shards = [i.shard_id for i in runner.invoker.invocations]
    last_parent = max(n for n, shard in enumerate(shards) if shard == parent["ShardId"])
    assert set(shards[: last_parent + 1]) == {parent["ShardId"]}
    assert len(set(shards[last_parent + 1 :])) == 2  # both children, only afterwards
    assert sorted(verdict_ids(kinesis, streams["verdicts"])) == sorted(
        f"ride-{i}" for i in range(10)
    )


def test_latest_reads_only_what_is_written_after_the_runner_starts(
    kinesis: KinesisClient, streams: dict[str, str], make_adapter: Callable[[], LambdaAdapter]
) -> None:
    source = create_stream(kinesis)
    put(kinesis, source, [(f"old-{i}", ride(f"old-{i}")) for i in range(3)])
    runner = EventSourceMappingRunner(
        handler_of(make_adapter()),
        kinesis,
        source,
        MappingSettings(batch_size=10, batching_window_s=0, starting_position="LATEST"),
        options=FAST,
    )
    runner.run(lambda: False, until_idle=True)
    put(kinesis, source, [(f"new-{i}", ride(f"new-{i}")) for i in range(2)])

    runner.run(lambda: False, until_idle=True)

    assert [i.size for i in runner.invoker.invocations] == [2]
    assert sorted(verdict_ids(kinesis, streams["verdicts"])) == ["new-0", "new-1"]
