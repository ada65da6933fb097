"""Shadow and canary inside Lambda: the real handler, configured by env vars, on kinesis-local.

The local event source mapping invokes ``consumers.lambda_handler.handler`` as Lambda would;
verdicts and shadow pairs are read back from their streams.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from consumers.canary import in_canary
from consumers.lambda_handler import COLD_START, Outputs, build_adapter, handler
from consumers.lambda_settings import LambdaSettings
from models.shadow import ShadowVerdict
from models.store import ModelStore
from models.train import ride_data, train_duration
from producers.synthetic import generate_rides
from streamjury.cli.main import cli
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.esm.config import MappingSettings
from streamjury.esm.runner import EventSourceMappingRunner, RunnerOptions
from streamjury.schemas import Verdict
from tests.integration.lambda_.test_esm_kinesis import create_stream, put, read_all
from tests.unit.lambda_.support import FailFromKey

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

pytestmark = [pytest.mark.kinesis, pytest.mark.usefixtures("aws_credentials")]

FAST = RunnerOptions(
    function_name="streamjury-lifecycle", poll_interval_s=0.05, retry_backoff_s=0.0
)
COUNT = 60
PERCENT = 30.0


@pytest.fixture
def models(models_dir: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """The models plus a differently trained duration candidate: (folder, live, candidate)."""
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    train_duration(ride_data(300, 9, None), copy, 9)
    live = ModelStore(copy).version("duration")
    candidate = next(m.version for m in ModelStore(copy).versions("duration") if m.version != live)
    return copy, live, candidate


@pytest.fixture
def kinesis(kinesis_local: LocalKinesis) -> KinesisClient:
    return kinesis_local.client(retries={"max_attempts": 3})


@pytest.fixture
def streams(kinesis: KinesisClient) -> dict[str, str]:
    return {name: create_stream(kinesis) for name in ("rides", "verdicts", "shadow", "deadletter")}


@pytest.fixture
def function_env(
    monkeypatch: pytest.MonkeyPatch,
    kinesis_local: LocalKinesis,
    models: tuple[Path, str, str],
    streams: dict[str, str],
) -> Iterator[None]:
    """The function's environment, as an operator would set it, with a canary and a shadow."""
    folder, _, candidate = models
    env = {
        "STREAMJURY_CHECK": "duration",
        "STREAMJURY_MODELS": str(folder),
        "STREAMJURY_OUTPUT_STREAM": streams["verdicts"],
        "STREAMJURY_DEADLETTER_TARGET": f"kinesis:{streams['deadletter']}",
        "STREAMJURY_CONSUMER_SHADOW": candidate,
        "STREAMJURY_SHADOW_STREAM": streams["shadow"],
        "STREAMJURY_CONSUMER_CANARY": candidate,
        "STREAMJURY_CONSUMER_CANARY_PERCENT": str(PERCENT),
        "STREAMJURY_KINESIS_ENDPOINT_URL": kinesis_local.endpoint_url,
        "STREAMJURY_KINESIS_REGION": kinesis_local.region,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    COLD_START.clear()
    yield
    COLD_START.clear()


def publish_rides(kinesis: KinesisClient, stream: str) -> list[str]:
    rides = [labelled.event for labelled in generate_rides(5, COUNT)]
    put(kinesis, stream, [(r.event_id, r.to_bytes()) for r in rides])
    return [r.event_id for r in rides]


def run(kinesis: KinesisClient, source: str, function: Any, batch_size: int) -> None:
    mapping = MappingSettings(batch_size=batch_size, batching_window_s=0)
    EventSourceMappingRunner(function, kinesis, source, mapping, options=FAST).run(
        lambda: False, until_idle=True
    )


@pytest.mark.usefixtures("function_env")
def test_the_handler_splits_events_between_arms_and_writes_shadow_pairs(
    kinesis: KinesisClient, streams: dict[str, str], models: tuple[Path, str, str]
) -> None:
    _, live, candidate = models
    ids = publish_rides(kinesis, streams["rides"])

    run(kinesis, streams["rides"], handler, batch_size=25)

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(kinesis, streams["verdicts"])]
    pairs = [ShadowVerdict.model_validate_json(r) for r in read_all(kinesis, streams["shadow"])]
    by_id = {v.event_id: v for v in verdicts}
    assert sorted(by_id) == sorted(ids)
    assert len(verdicts) == COUNT
    canary = {event_id for event_id in ids if in_canary(event_id, PERCENT)}
    assert 0 < len(canary) < COUNT
    assert {v.event_id for v in verdicts if v.arm == "canary"} == canary
    assert {v.model_version for v in verdicts if v.arm == "canary"} == {candidate}
    assert {v.model_version for v in verdicts if v.arm == "live"} == {live}
    assert sorted(p.live.event_id for p in pairs) == sorted(ids)
    assert {p.shadow.model_version for p in pairs} == {candidate}
    assert all(p.live == by_id[p.live.event_id] for p in pairs)  # the verdict that was written
    assert read_all(kinesis, streams["deadletter"]) == []


@pytest.mark.usefixtures("function_env")
def test_a_shadow_write_failure_hands_the_rest_back_and_no_pair_is_lost(
    kinesis: KinesisClient, streams: dict[str, str]
) -> None:
    ids = publish_rides(kinesis, streams["rides"])
    adapter = build_adapter(LambdaSettings())
    assert adapter.outputs is not None
    assert adapter.outputs.shadow is not None
    failing = FailFromKey(adapter.outputs.shadow, key=ids[COUNT // 2], times=1)
    adapter.outputs = Outputs(adapter.outputs.verdicts, adapter.outputs.dead_letters, failing)

    run(kinesis, streams["rides"], lambda event, context: adapter.handle(event), batch_size=COUNT)

    pairs = [ShadowVerdict.model_validate_json(r) for r in read_all(kinesis, streams["shadow"])]
    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(kinesis, streams["verdicts"])]
    assert sorted(p.live.event_id for p in pairs) == sorted(ids)  # each exactly once
    assert failing.remaining == 0
    # the handed-back records were scored again: their verdicts twice (at least once), no loss
    assert {v.event_id for v in verdicts} == set(ids)
    assert len(verdicts) == COUNT + (COUNT - COUNT // 2)


def test_lambda_run_takes_the_same_shadow_and_canary_flags_as_consume(
    kinesis: KinesisClient,
    kinesis_local: LocalKinesis,
    streams: dict[str, str],
    models: tuple[Path, str, str],
    monkeypatch: pytest.MonkeyPatch,
    restore_root_logging: None,
) -> None:
    folder, _, candidate = models
    monkeypatch.setenv("STREAMJURY_SHADOW_STREAM", streams["shadow"])
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    ids = publish_rides(kinesis, streams["rides"])
    args = [
        "lambda", "run", "duration",
        "--stream", streams["rides"],
        "--output-stream", streams["verdicts"],
        "--deadletter-target", f"kinesis:{streams['deadletter']}",
        "--kinesis-endpoint", kinesis_local.endpoint_url,
        "--models", str(folder),
        "--shadow", candidate, "--canary", candidate, "--canary-percent", str(PERCENT),
        "--batching-window", "0", "--until-idle",
    ]  # fmt: skip

    result = CliRunner().invoke(cli, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(kinesis, streams["verdicts"])]
    pairs = [ShadowVerdict.model_validate_json(r) for r in read_all(kinesis, streams["shadow"])]
    canary = {event_id for event_id in ids if in_canary(event_id, PERCENT)}
    assert {v.event_id for v in verdicts if v.arm == "canary"} == canary
    assert sorted(p.live.event_id for p in pairs) == sorted(ids)
