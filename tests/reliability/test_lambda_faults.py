"""Lambda under faults, on kinesis-local through the local event source mapping: exact accounting.

Every record put on the input stream ends as exactly one verdict, or a dead letter with a reason,
or inside the sequence range of an on-failure document (AWS's record of a discarded batch);
checkpoints end on the last record; nothing is skipped silently, nothing is written twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from consumers.lambda_handler import LambdaAdapter, Outputs, build_adapter
from consumers.lambda_metrics import InvocationMetrics
from consumers.lambda_settings import LambdaSettings
from consumers.lambda_sinks import open_sink
from models.train import train_all
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.esm.checkpoints import MemoryCheckpoints
from streamjury.esm.config import MappingSettings
from streamjury.esm.destinations import WriterDestination
from streamjury.esm.invoker import MAX_SYNC_PAYLOAD_BYTES, PAYLOAD_TOO_LARGE, TIMED_OUT
from streamjury.esm.runner import EventSourceMappingRunner, RunnerOptions, RunStats
from streamjury.schemas import DeadLetter, Verdict
from streamjury.settings import KinesisSettings
from streamjury.streams.base import OutRecord
from tests.aws_env import forget_developer_aws
from tests.integration.lambda_.test_esm_kinesis import create_stream, put, ride
from tests.unit.lambda_.support import FailFromKey, MemorySink

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

pytestmark = pytest.mark.kinesis

FAST = RunnerOptions(function_name="streamjury-faults", poll_interval_s=0.05, retry_backoff_s=0.0)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    train_all(folder, rows=300, seed=0)
    return folder


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # EMF is checked elsewhere
    forget_developer_aws(monkeypatch)


@pytest.fixture
def kinesis(kinesis_local: LocalKinesis) -> KinesisClient:
    return kinesis_local.client(retries={"max_attempts": 3})


@dataclass
class World:
    """One test's streams, the real adapter writing to them, and what each invocation reported."""

    kinesis: KinesisClient
    settings: KinesisSettings
    source: str
    verdicts: str
    deadletter: str
    on_failure: str
    adapter: LambdaAdapter
    metrics: list[InvocationMetrics] = field(default_factory=list)
    payloads: list[int] = field(default_factory=list)

    def observe(self, metrics: InvocationMetrics) -> None:
        self.metrics.append(metrics)

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        self.payloads.append(len(json.dumps(event)))
        return self.adapter.handle(event, context)

    def runner(
        self,
        mapping: MappingSettings,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
        **options: Any,
    ) -> tuple[EventSourceMappingRunner, MemoryCheckpoints]:
        checkpoints = MemoryCheckpoints()
        clock = options.pop("clock", None)
        destination = WriterDestination(
            open_sink(f"kinesis:{self.on_failure}", self.settings), "on-failure"
        )
        runner = EventSourceMappingRunner(
            handler or self.handler,
            self.kinesis,
            self.source,
            mapping,
            destination=destination,
            checkpoints=checkpoints,
            options=replace(FAST, **options),
            **({"clock": clock} if clock is not None else {}),
        )
        return runner, checkpoints


@pytest.fixture
def world(kinesis: KinesisClient, kinesis_local: LocalKinesis, models_dir: Path) -> Iterator[World]:
    settings = KinesisSettings(
        STREAMJURY_KINESIS_ENDPOINT_URL=kinesis_local.endpoint_url,
        STREAMJURY_KINESIS_REGION=kinesis_local.region,
    )
    names = {role: create_stream(kinesis) for role in ("source", "verdicts", "dl", "of")}
    adapter = build_adapter(
        LambdaSettings(
            check="duration",
            models=str(models_dir),
            output_stream=names["verdicts"],
            deadletter_target=f"kinesis:{names['dl']}",
            kinesis=settings,
        ),
        observers=[],
    )
    built = World(
        kinesis, settings, names["source"], names["verdicts"], names["dl"], names["of"], adapter
    )
    adapter.observers.append(built)
    yield built
    for name in names.values():
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def records(client: KinesisClient, stream: str) -> list[dict[str, Any]]:
    """Every record of a one-shard stream, oldest first, with its arrival time."""
    [shard] = client.list_shards(StreamName=stream)["Shards"]
    iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    found: list[dict[str, Any]] = []
    while True:
        page = client.get_records(ShardIterator=iterator, Limit=1000)
        found.extend(page["Records"])
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            return found
        iterator = page["NextShardIterator"]


@dataclass
class Accounting:
    """Where each input sequence number ended up."""

    verdicts: Counter[str]
    dead_letters: dict[str, DeadLetter]
    discarded: dict[str, str]
    """Sequence number -> the on-failure condition that covers it."""

    def of(self, sequence: str) -> list[str]:
        places = ["verdict"] * self.verdicts[sequence]
        places += ["dead letter"] if sequence in self.dead_letters else []
        places += [f"discarded: {self.discarded[sequence]}"] if sequence in self.discarded else []
        return places


def account(
    world: World, inputs: list[str] | None = None, dead_letters: list[OutRecord] | None = None
) -> tuple[list[str], Accounting]:
    """Where every input went; ``inputs`` (in order) saves re-reading a large source stream,
    ``dead_letters`` are those of an in-memory sink instead of the dead-letter stream."""
    if inputs is None:
        inputs = [r["SequenceNumber"] for r in records(world.kinesis, world.source)]
    verdicts = Counter(
        str(Verdict.model_validate_json(r["Data"]).source.offset)  # type: ignore[union-attr]
        for r in records(world.kinesis, world.verdicts)
    )
    raw_letters = (
        [r["Data"] for r in records(world.kinesis, world.deadletter)]
        if dead_letters is None
        else [record.value for record in dead_letters]
    )
    letters = [DeadLetter.model_validate_json(raw) for raw in raw_letters]
    dead = {str(letter.source.offset): letter for letter in letters if letter.source is not None}
    assert len(dead) == len(letters), "a dead letter was written twice, or without its source"
    discarded: dict[str, str] = {}
    for raw in records(world.kinesis, world.on_failure):
        document = json.loads(raw["Data"])
        info = document["KinesisBatchInfo"]
        low, high = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        covered = [s for s in inputs if low <= int(s) <= high]
        assert len(covered) == info["batchSize"], document
        for sequence in covered:
            discarded[sequence] = document["requestContext"]["condition"]
    return inputs, Accounting(verdicts, dead, discarded)


def assert_exactly_one_place_each(inputs: list[str], accounting: Accounting) -> None:
    places = {sequence: accounting.of(sequence) for sequence in inputs}
    wrong = {sequence: where for sequence, where in places.items() if len(where) != 1}
    assert wrong == {}, f"records lost or duplicated: {wrong}"


def assert_checkpointed_to_the_end(
    checkpoints: MemoryCheckpoints, world: World, inputs: list[str]
) -> None:
    [shard] = world.kinesis.list_shards(StreamName=world.source)["Shards"]
    assert checkpoints.get(shard["ShardId"]) == inputs[-1]


def test_poison_records_are_dead_lettered_alone_and_a_crashing_one_is_bisected_out(
    world: World,
) -> None:
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(30)]
    poison = [
        ("not-json", b"{not json"),
        ("scalar", b"42"),
        ("negative", ride("negative", trip_distance=-3.0)),
        ("crash", ride("crash", DOLocationID=265)),  # the handler below raises on this one
    ]
    put(world.kinesis, world.source, rides[:7] + poison[:2] + rides[7:20] + poison[2:] + rides[20:])

    def crashes_on_zone_265(event: dict[str, Any], context: Any) -> Any:
        if any(b'"DOLocationID": 265' in _data(r) for r in event["Records"]):
            raise RuntimeError("cannot route to zone 265")
        return world.handler(event, context)

    runner, checkpoints = world.runner(
        MappingSettings(batch_size=10, batching_window_s=0, max_retries=2), crashes_on_zone_265
    )
    stats = runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)
    assert sum(accounting.verdicts.values()) == len(rides)
    assert sorted(letter.original for letter in accounting.dead_letters.values()) == sorted(
        data for key, data in poison if key != "crash"
    )
    assert all(letter.reason for letter in accounting.dead_letters.values())
    assert list(accounting.discarded.values()) == ["RetryAttemptsExhausted"]
    assert stats.discarded == 1
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_an_oversized_record_is_dead_lettered_cut_to_fit_and_the_shard_moves_on(
    world: World,
) -> None:
    padding = "x" * 1_000_000  # 1 MB: the Kinesis record limit, and not a valid ride
    oversized = ride("big", notes=padding)
    put(world.kinesis, world.source, [("ride-0", ride("ride-0"))])
    put(world.kinesis, world.source, [("big", oversized)])
    put(world.kinesis, world.source, [("ride-1", ride("ride-1"))])

    runner, checkpoints = world.runner(MappingSettings(batch_size=10, batching_window_s=0))
    stats = runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)
    [letter] = accounting.dead_letters.values()
    assert letter.original_truncated is True
    assert oversized.startswith(letter.original)
    assert f"original {len(oversized)} bytes" in letter.reason
    assert stats.discarded == 0
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_output_failing_half_way_resumes_at_the_first_unwritten_record_without_duplicates(
    world: World,
) -> None:
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(40)]
    put(world.kinesis, world.source, rides)
    outputs = world.adapter.outputs
    assert outputs is not None
    world.adapter.outputs = Outputs(
        verdicts=FailFromKey(outputs.verdicts, key="ride-23", times=2),
        dead_letters=outputs.dead_letters,
    )

    runner, checkpoints = world.runner(MappingSettings(batch_size=40, batching_window_s=0))
    runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)  # retries re-sent only what was not written
    results = [(i.result, i.size) for i in runner.invoker.invocations]
    assert results == [("partial", 40), ("partial", 17), ("ok", 17)]
    assert [m.reported_failures for m in world.metrics] == [17, 17, 0]
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_output_that_never_heals_ends_in_an_on_failure_document_for_exactly_the_unwritten(
    world: World,
) -> None:
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(12)]
    put(world.kinesis, world.source, rides)
    outputs = world.adapter.outputs
    assert outputs is not None
    world.adapter.outputs = Outputs(
        verdicts=FailFromKey(outputs.verdicts, key="ride-8", times=1_000),
        dead_letters=outputs.dead_letters,
    )

    runner, checkpoints = world.runner(
        MappingSettings(batch_size=12, batching_window_s=0, max_retries=2)
    )
    runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)
    assert sorted(accounting.discarded) == sorted(inputs[8:])
    assert set(accounting.discarded.values()) == {"RetryAttemptsExhausted"}
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_records_past_the_maximum_age_are_discarded_unread_and_newer_ones_processed(
    world: World,
) -> None:
    put(world.kinesis, world.source, [(f"old-{i}", ride(f"old-{i}")) for i in range(5)])
    time.sleep(1.2)
    put(world.kinesis, world.source, [(f"new-{i}", ride(f"new-{i}")) for i in range(5)])
    arrivals = [r["ApproximateArrivalTimestamp"] for r in records(world.kinesis, world.source)]
    newest_old, oldest_new = arrivals[4], arrivals[5]
    assert oldest_new - newest_old >= timedelta(seconds=1)
    max_age = 3_600
    now = oldest_new + timedelta(seconds=max_age) - timedelta(milliseconds=400)

    runner, checkpoints = world.runner(
        MappingSettings(batch_size=100, batching_window_s=0, max_record_age_s=max_age),
        clock=lambda: now,
    )
    runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)
    assert sorted(accounting.discarded) == sorted(inputs[:5])
    assert set(accounting.discarded.values()) == {"RecordAgeExceeded"}
    assert sum(accounting.verdicts.values()) == 5
    assert [m.records_in for m in world.metrics] == [5]  # the old ones were never sent
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


@pytest.mark.timeout(900)  # kinesis-local moves large records at a few MB/s on a small machine
def test_a_batch_over_6_mb_is_split_so_no_invocation_exceeds_the_cap(world: World) -> None:
    big = [(f"big-{i}", ride(f"big-{i}", notes="y" * 1_000_000)) for i in range(5)]
    small = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(4)]  # 5 MB raw, 6.7 MB as an event
    sequences = put(world.kinesis, world.source, small[:2])
    sequences |= put(world.kinesis, world.source, big[:4])  # PutRecords takes 5 MB per call
    sequences |= put(world.kinesis, world.source, big[4:] + small[2:])
    inputs = sorted(sequences.values(), key=int)
    outputs = world.adapter.outputs
    assert outputs is not None
    letters = MemorySink("deadletter")  # 5 MB of dead letters through kinesis-local add minutes
    world.adapter.outputs = Outputs(verdicts=outputs.verdicts, dead_letters=letters)

    runner, checkpoints = world.runner(MappingSettings(batch_size=100, batching_window_s=0))
    stats = runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world, inputs, dead_letters=letters.records)
    assert_exactly_one_place_each(inputs, accounting)
    assert max(world.payloads) <= MAX_SYNC_PAYLOAD_BYTES
    assert sum(world.payloads) > MAX_SYNC_PAYLOAD_BYTES  # the whole 6.7 MB did go through
    assert len(accounting.dead_letters) == len(big)
    assert sum(accounting.verdicts.values()) == len(small)
    assert stats.payload_splits >= 1
    assert {i.result for i in runner.invoker.invocations} == {"ok"}
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_a_lone_record_over_the_payload_cap_is_refused_retried_and_reported(
    world: World,
) -> None:
    put(world.kinesis, world.source, [(f"ride-{i}", ride(f"ride-{i}")) for i in range(3)])

    runner, checkpoints = world.runner(
        MappingSettings(batch_size=10, batching_window_s=0, max_retries=1),
        max_payload_bytes=500,  # under one ride's event (~900 bytes): every record is too large
    )
    runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    assert_exactly_one_place_each(inputs, accounting)
    assert sorted(accounting.discarded) == sorted(inputs)
    assert world.payloads == []  # never invoked
    errors = {i.error.split(":")[0] for i in runner.invoker.invocations if i.error}
    assert errors == {PAYLOAD_TOO_LARGE}
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def test_an_invocation_that_overruns_the_function_timeout_is_retried(world: World) -> None:
    rides = [(f"ride-{i}", ride(f"ride-{i}")) for i in range(6)]
    put(world.kinesis, world.source, rides)
    slow = {"left": 1}

    def overruns_once(event: dict[str, Any], context: Any) -> Any:
        response = world.handler(event, context)
        if slow["left"]:
            slow["left"] -= 1
            time.sleep(1.2)  # past the 1 s timeout: AWS would have killed it, answer lost
        return response

    runner, checkpoints = world.runner(
        MappingSettings(batch_size=10, batching_window_s=0, bisect_on_error=False),
        overruns_once,
        function_timeout_s=1.0,
    )
    stats: RunStats = runner.run(lambda: False, until_idle=True)

    inputs, accounting = account(world)
    first, second = runner.invoker.invocations
    assert (first.result, second.result) == ("error", "ok")
    assert first.error is not None
    assert first.error.startswith(TIMED_OUT)
    assert stats.timeouts == 1
    # the timed-out run had written its verdicts before it was "killed": at least once, as on AWS
    assert {sequence: accounting.verdicts[sequence] for sequence in inputs} == dict.fromkeys(
        inputs, 2
    )
    assert accounting.discarded == {}
    assert_checkpointed_to_the_end(checkpoints, world, inputs)


def _data(record: Mapping[str, Any]) -> bytes:
    import base64

    return base64.b64decode(record["kinesis"]["data"])
