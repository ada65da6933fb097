"""What an operator sees of each invocation: EMF metrics, JSON logs with Lambda context, traces.

The EMF documents are the ones the real entry point prints, checked against AWS's specification
(``emf_spec``); traces go through a real X-Ray recorder whose emitter keeps segments in memory.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from consumers.lambda_handler import LambdaAdapter, Outputs, handler
from consumers.lambda_logging import LambdaContextFilter
from consumers.lambda_metrics import UNITS, EmfMetrics, InvocationMetrics
from consumers.lambda_settings import (
    ENV_CHECK,
    ENV_DRY_RUN,
    ENV_METRICS_NAMESPACE,
    ENV_MODELS,
    ENV_SERVICE,
)
from consumers.lambda_tracing import build_tracing
from consumers.registry import get_check
from models.store import ModelStore
from streamjury.errors import DeliveryError
from streamjury.esm.context import LocalContext
from streamjury.logs import JsonFormatter
from streamjury.redaction import SECRETS
from tests.unit.lambda_.emf_spec import emf_problems
from tests.unit.lambda_.support import MemorySink, load_event

pytestmark = pytest.mark.usefixtures("fresh_cold_start")


@pytest.fixture(autouse=True)
def metrics_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED", "AWS_LAMBDA_RUNTIME_API"):
        monkeypatch.delenv(name, raising=False)


def context(name: str = "streamjury-nsfw", timeout_s: float = 60.0) -> LocalContext:
    return LocalContext(
        function_name=name,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        timeout_s=timeout_s,
    )


def emf_lines(text: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return documents


def test_the_entry_point_prints_one_valid_emf_document_per_invocation(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_CHECK, "nsfw")
    monkeypatch.setenv(ENV_MODELS, str(models_dir))
    monkeypatch.setenv(ENV_DRY_RUN, "1")
    monkeypatch.setenv(ENV_METRICS_NAMESPACE, "Team/Checks")
    monkeypatch.setenv(ENV_SERVICE, "moderation")
    event = load_event("kinesis-uploads-with-poison")
    arrivals = [r["kinesis"]["approximateArrivalTimestamp"] for r in event["Records"]]

    before = time.time()
    handler(event, context())
    handler(event, context())
    after = time.time()

    first, second = emf_lines(capsys.readouterr().out)
    for document in (first, second):
        assert emf_problems(document) == []
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Team/Checks"
        assert directive["Dimensions"] == [
            ["service", "check"],
            ["service", "check", "model_version"],
        ]
        assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
            name: unit.value for name, unit in UNITS.items()
        }
        assert (document["service"], document["check"]) == ("moderation", "nsfw")
        assert (
            document["model_version"]
            == get_check("nsfw").load_model(ModelStore(models_dir)).version
        )
        assert document["RecordsIn"] == [8.0]
        assert document["Verdicts"] == [4.0]
        assert document["DeadLetters"] == [4.0]
        assert document["ReportedFailures"] == [0.0]
        assert document["DeadlineStops"] == [0.0]
        [age] = document["IteratorAge"]
        assert (before - min(arrivals)) * 1000 <= age <= (after - min(arrivals)) * 1000
        assert document["HandlerTime"][0] >= document["PredictTime"][0] > 0
        assert document["shard_id"] == event["Records"][0]["eventID"].split(":")[0]
    assert (first["ColdStart"], second["ColdStart"]) == ([1.0], [0.0])


def test_the_emf_checker_refuses_what_cloudwatch_would() -> None:
    good = EmfMetrics("ns", "svc").document(
        InvocationMetrics("f", "r", "tip", "v1", 1, 1, 0, 0, 1.0, 0.5, None, False)
    )
    assert emf_problems(good) == []
    assert "IteratorAge" not in good  # no record, no age: absent rather than a made-up 0
    bad_unit = json.loads(json.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Records"
    missing_dimension = {k: v for k, v in good.items() if k != "check"}
    assert emf_problems(bad_unit) == [
        "directive 0: metric 'RecordsIn' has unit 'Records', not a CloudWatch unit"
    ]
    assert emf_problems(missing_dimension) == [
        "directive 0: dimension 'check' has no string member at the root",
        "directive 0: dimension 'check' has no string member at the root",
    ]
    assert emf_problems({"RecordsIn": 1}) == ["no _aws metadata object"]


def test_powertools_metrics_disabled_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    EmfMetrics("ns", "svc").observe(
        InvocationMetrics("f", "r", "tip", "v1", 1, 1, 0, 0, 1.0, 0.5, 10.0, False)
    )

    assert capsys.readouterr().out == ""


def test_in_lambda_every_log_line_is_json_with_todays_fields_and_the_invocation(
    monkeypatch: pytest.MonkeyPatch,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    restore_root_logging: None,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv(ENV_CHECK, "nsfw")
    monkeypatch.setenv(ENV_MODELS, str(models_dir))
    monkeypatch.setenv(ENV_DRY_RUN, "1")
    event = load_event("kinesis-uploads-with-poison")
    invocation = context("streamjury-nsfw-prod")

    handler(event, invocation)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    summary = [line for line in lines if "records," in line["message"]]
    assert summary, lines
    for line in summary:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["function_name"] == "streamjury-nsfw-prod"
        assert line["function_request_id"] == invocation.aws_request_id
        assert line["cold_start"] is True
        assert line["check"] == "nsfw"
        assert line["service"] == "lambda"
        assert line["shard_id"] == event["Records"][0]["eventID"].split(":")[0]
        assert line["sequence_first"] == event["Records"][0]["kinesis"]["sequenceNumber"]
        assert line["sequence_last"] == event["Records"][-1]["kinesis"]["sequenceNumber"]


def test_lines_logged_outside_an_invocation_carry_no_lambda_fields() -> None:
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(JsonFormatter())
    log_handler.addFilter(LambdaContextFilter())
    logger = logging.getLogger("tests.lambda.outside")
    logger.addHandler(log_handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("between invocations")
    finally:
        logger.removeHandler(log_handler)

    line = json.loads(stream.getvalue())
    assert "function_request_id" not in line
    assert line["message"] == "between invocations"


class KeptSegments:
    """An X-Ray emitter that keeps what it would have sent to the daemon."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.entities.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str) -> None:
        """No daemon."""


@pytest.fixture
def recorder() -> Iterator[tuple[AWSXRayRecorder, KeptSegments]]:
    kept = KeptSegments()
    recorder = AWSXRayRecorder()
    recorder.configure(
        emitter=kept, sampling=False, context_missing="LOG_ERROR", streaming_threshold=1000
    )
    yield recorder, kept
    Tracer._reset_config()


def test_tracing_opens_annotated_decode_predict_and_write_subsegments(
    models_dir: Path, recorder: tuple[AWSXRayRecorder, KeptSegments]
) -> None:
    xray, kept = recorder
    spec = get_check("nsfw")
    model = spec.load_model(ModelStore(models_dir))
    adapter = LambdaAdapter(
        spec,
        model,
        Outputs(MemorySink(), MemorySink()),
        stage="lambda:nsfw",
        tracing=build_tracing(True, "moderation", provider=xray),
    )

    xray.begin_segment("streamjury-nsfw")
    adapter.handle(load_event("kinesis-uploads-with-poison"), context())
    xray.end_segment()

    [segment] = kept.entities
    subsegments = {s["name"]: s for s in segment["subsegments"]}
    assert set(subsegments) == {"## decode", "## predict", "## write"}
    for subsegment in subsegments.values():
        assert subsegment["annotations"]["check"] == "nsfw"
        assert subsegment["annotations"]["model_version"] == model.version
    assert subsegments["## decode"]["annotations"]["records"] == 8
    assert subsegments["## predict"]["annotations"]["records"] == 4  # the four valid uploads
    assert subsegments["## write"]["annotations"]["records"] == 8


def test_tracing_is_off_unless_enabled(models_dir: Path) -> None:
    tracing = build_tracing(False, "moderation")

    with tracing.subsegment("decode", {"check": "nsfw"}) as subsegment:
        assert subsegment is None
    assert not tracing.enabled


def test_a_traced_exception_quoting_a_secret_reaches_x_ray_redacted(
    recorder: tuple[AWSXRayRecorder, KeptSegments],
) -> None:
    xray, kept = recorder
    secret = "xray-Pa55word-0001"
    SECRETS.remember([secret])
    tracing = build_tracing(True, "moderation", provider=xray)

    xray.begin_segment("streamjury-nsfw")
    with pytest.raises(DeliveryError), tracing.subsegment("write", {"check": "nsfw"}):
        raise DeliveryError(f"cannot reach SQS queue http://u:{secret}@sqs.local/q")
    xray.end_segment()

    [segment] = kept.entities
    sent = json.dumps(segment)
    assert secret not in sent
    [exception] = segment["subsegments"][0]["cause"]["exceptions"]
    assert exception["message"] == "cannot reach SQS queue http://u:**********@sqs.local/q"
