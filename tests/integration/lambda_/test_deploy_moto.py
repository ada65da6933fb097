"""``deploy lambda`` against moto's Lambda API: what it creates, and that re-running changes nothing.

API calls are observed with botocore's event hooks on the very clients the deploy uses.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from consumers.lambda_metrics import DEAD_LETTERS
from consumers.lambda_settings import (
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_SERVICE,
    ENV_CANARY,
    ENV_CANARY_PERCENT,
    ENV_CHECK,
    ENV_DEADLETTER_TARGET,
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_MODEL_CACHE,
    ENV_MODELS,
    ENV_OUTPUT_STREAM,
    ENV_SERVICE,
    ENV_SHADOW,
    ENV_SHADOW_STREAM,
    ENV_TRACING,
    LAMBDA_MODEL_CACHE,
    LambdaSettings,
)
from streamjury.cli.main import cli
from streamjury.deploy.alarms import AlarmThresholds
from streamjury.deploy.artifact import BAKED_MODELS_PATH, HANDLER
from streamjury.deploy.changes import Change
from streamjury.deploy.lambda_deploy import DeployClients, DeployRequest, Rollout, deploy_lambda
from streamjury.deploy.role import POLICY_NAME
from streamjury.devservers.moto_server import MotoServer
from streamjury.esm.config import MappingSettings

ROLLOUT_VARS = (ENV_SHADOW, ENV_SHADOW_STREAM, ENV_CANARY, ENV_CANARY_PERCENT)
ON_FAILURE = "arn:aws:sqs:us-east-1:123456789012:streamjury-on-failure"
CUSTOM = MappingSettings(
    batch_size=250,
    batching_window_s=3,
    starting_position="LATEST",
    bisect_on_error=False,
    max_retries=7,
    max_record_age_s=120,
    report_batch_item_failures=True,
)


class Calls:
    """Every Lambda API operation a client makes, with its parameters."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, model: Any, params: Any, **kwargs: Any) -> None:
        self.made.append((model.name, dict(params)))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.made]

    def writes(self) -> list[str]:
        return [name for name in self.names if name.startswith(("Create", "Update", "Delete"))]

    def params_of(self, operation: str) -> dict[str, Any]:
        [params] = [params for name, params in self.made if name == operation]
        return params


@pytest.fixture
def world(moto_server: MotoServer) -> dict[str, str]:
    """A fresh role and input stream in moto, under unique names."""
    suffix = uuid.uuid4().hex[:8]
    role = moto_server.client("iam").create_role(
        RoleName=f"streamjury-{suffix}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    stream = f"rides-{suffix}"
    moto_server.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
    return {"role": role, "stream": stream, "function": f"streamjury-duration-{suffix}"}


@pytest.fixture
def calls(moto_server: MotoServer) -> tuple[DeployClients, Calls]:
    observed = Calls()
    lambda_client = moto_server.client("lambda")
    lambda_client.meta.events.register("before-parameter-build.lambda", observed)
    clients = DeployClients(
        lambda_client,
        moto_server.client("kinesis"),
        moto_server.client("cloudwatch"),
        moto_server.client("iam"),
    )
    return clients, observed


def request(world: dict[str, str], models: Path, **changes: Any) -> DeployRequest:
    values: dict[str, Any] = {
        "check": "duration",
        "stream": world["stream"],
        "role_arn": world["role"],
        "output_stream": "verdicts-x",
        "function_name": world["function"],
        "mapping": CUSTOM,
        "on_failure_arn": ON_FAILURE,
        "deadletter_target": "kinesis:deadletter-x",
        "models": str(models),
        **changes,
    }
    return DeployRequest(**values)


def cli_args(world: dict[str, str], moto_server: MotoServer, models: Path) -> list[str]:
    """``streamjury deploy lambda duration`` as a zip, against moto, in ``world``."""
    return [
        "deploy", "lambda", "duration",
        "--stream", world["stream"],
        "--output-stream", "verdicts",
        "--function-name", world["function"],
        "--zip", "--models", str(models),
        "--endpoint-url", moto_server.endpoint_url,
    ]  # fmt: skip


def test_deploy_creates_the_function_and_a_mapping_with_exactly_the_settings_asked(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, _ = calls

    report = deploy_lambda(request(world, models_dir), clients)

    assert [change.action for change in report.changes] == ["created"] * 4
    config = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    assert config["PackageType"] == "Zip"
    assert config["Handler"] == HANDLER
    assert config["Role"] == world["role"]
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["Environment"]["Variables"] == {
        ENV_CHECK: "duration",
        ENV_OUTPUT_STREAM: "verdicts-x",
        ENV_DEADLETTER_TARGET: "kinesis:deadletter-x",
        ENV_MODELS: BAKED_MODELS_PATH,
        ENV_MODEL_CACHE: str(LAMBDA_MODEL_CACHE),
        ENV_TRACING: "true",
        ENV_SERVICE: DEFAULT_SERVICE,
        ENV_METRICS_NAMESPACE: DEFAULT_METRICS_NAMESPACE,
        ENV_LOG_LEVEL: "INFO",
    }
    assert config["CodeSha256"] == report.package.code_sha256 if report.package else False
    [mapping] = clients.lambda_.list_event_source_mappings(FunctionName=world["function"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == report.stream_arn
    assert report.stream_arn.endswith(f":stream/{world['stream']}")
    assert mapping["BatchSize"] == 250
    assert mapping["MaximumBatchingWindowInSeconds"] == 3
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["BisectBatchOnFunctionError"] is False
    assert mapping["MaximumRetryAttempts"] == 7
    assert mapping["MaximumRecordAgeInSeconds"] == 120
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": ON_FAILURE}}


def test_a_second_run_with_the_same_arguments_makes_no_update_call(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, observed = calls
    deploy_lambda(request(world, models_dir), clients)
    before = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    observed.made.clear()

    report = deploy_lambda(request(world, models_dir), clients)

    assert [change.action for change in report.changes] == ["unchanged"] * 4
    assert observed.writes() == []
    assert set(observed.names) <= {"GetFunction", "ListEventSourceMappings"}
    after = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    assert after["LastModified"] == before["LastModified"]
    assert after["CodeSha256"] == before["CodeSha256"]


def test_changed_arguments_update_only_what_changed(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, observed = calls
    deploy_lambda(request(world, models_dir), clients)
    observed.made.clear()

    changed = request(
        world, models_dir, mapping=CUSTOM.model_copy(update={"batch_size": 40}), memory_mb=2048
    )
    report = deploy_lambda(changed, clients)

    assert [(c.action, c.fields) for c in report.changes] == [
        ("updated", ("MemorySize",)),
        ("updated", ("BatchSize",)),
        ("unchanged", ()),
        ("unchanged", ()),
    ]
    assert observed.writes() == ["UpdateFunctionConfiguration", "UpdateEventSourceMapping"]
    assert set(observed.params_of("UpdateFunctionConfiguration")) == {"FunctionName", "MemorySize"}
    assert set(observed.params_of("UpdateEventSourceMapping")) == {"UUID", "BatchSize"}
    [mapping] = clients.lambda_.list_event_source_mappings(FunctionName=world["function"])[
        "EventSourceMappings"
    ]
    assert mapping["BatchSize"] == 40
    assert mapping["MaximumRetryAttempts"] == 7


def test_an_image_function_is_updated_when_only_its_image_changes(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, observed = calls
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/streamjury-lambda"
    deploy_lambda(request(world, models_dir, image_uri=f"{image}:1"), clients)
    observed.made.clear()

    report = deploy_lambda(request(world, models_dir, image_uri=f"{image}:2"), clients)

    assert report.changes[0].fields == ("Code",)
    assert observed.writes() == ["UpdateFunctionCode"]
    function = clients.lambda_.get_function(FunctionName=world["function"])
    assert function["Configuration"]["PackageType"] == "Image"
    assert function["Code"]["ImageUri"] == f"{image}:2"


def test_the_cli_deploys_and_reports_unchanged_when_run_again(
    world: dict[str, str],
    moto_server: MotoServer,
    models_dir: Path,
    aws_credentials: None,
    restore_root_logging: None,
) -> None:
    args = [*cli_args(world, moto_server, models_dir), "--batch-size", "10", "--max-retries", "2"]
    runner = CliRunner()

    first = runner.invoke(cli, args, catch_exceptions=False)
    second = runner.invoke(cli, args, catch_exceptions=False)

    assert first.exit_code == 0, first.output
    assert f"function {world['function']}: created" in first.stdout
    assert second.exit_code == 0, second.output
    assert "created" not in second.stdout
    assert second.stdout.count("unchanged") == 5  # role, function, mapping, two alarms
    [mapping] = moto_server.client("lambda").list_event_source_mappings(
        FunctionName=world["function"]
    )["EventSourceMappings"]
    assert (mapping["BatchSize"], mapping["MaximumRetryAttempts"]) == (10, 2)


def test_deploy_creates_both_alarms_on_the_metrics_the_function_emits(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, _ = calls
    thresholds = AlarmThresholds(
        iterator_age_ms=120_000, dead_letters=3, actions=("arn:aws:sns:us-east-1:123456789012:ops",)
    )

    deploy_lambda(request(world, models_dir, service="fraud", alarms=thresholds), clients)

    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in clients.cloudwatch.describe_alarms(AlarmNamePrefix=world["function"])[
            "MetricAlarms"
        ]
    }
    age = alarms[f"{world['function']}-iterator-age"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/Lambda",
        "IteratorAge",
        "Maximum",
    )
    assert age["Dimensions"] == [{"Name": "FunctionName", "Value": world["function"]}]
    assert age["Threshold"] == 120_000
    assert age["ComparisonOperator"] == "GreaterThanThreshold"
    assert age["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:ops"]
    letters = alarms[f"{world['function']}-dead-letters"]
    assert (letters["Namespace"], letters["MetricName"], letters["Statistic"]) == (
        DEFAULT_METRICS_NAMESPACE,
        DEAD_LETTERS,
        "Sum",
    )
    assert letters["Dimensions"] == [
        {"Name": "service", "Value": "fraud"},
        {"Name": "check", "Value": "duration"},
    ]
    assert letters["Threshold"] == 3
    assert len(alarms) == 2


def test_without_a_role_deploy_creates_one_with_only_what_the_function_uses(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, _ = calls
    asked = request(world, models_dir, role_arn=None)

    report = deploy_lambda(asked, clients)
    again = deploy_lambda(asked, clients)

    role = clients.iam.get_role(RoleName=asked.role_name)["Role"]
    config = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    assert config["Role"] == role["Arn"]
    assert report.changes[0] == Change(f"role {asked.role_name}", "created")
    assert again.changes[0] == Change(f"role {asked.role_name}", "unchanged")
    document = clients.iam.get_role_policy(RoleName=asked.role_name, PolicyName=POLICY_NAME)[
        "PolicyDocument"
    ]
    policy = json.loads(unquote(document)) if isinstance(document, str) else document
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert set(statements) == {
        "ReadInputStream",
        "WriteVerdictsAndDeadLetters",
        "OnFailureDestination",
        "Logs",
        "Tracing",
    }
    assert statements["ReadInputStream"]["Resource"] == report.stream_arn
    assert statements["WriteVerdictsAndDeadLetters"]["Resource"] == [
        report.stream_arn.replace(world["stream"], "verdicts-x"),
        report.stream_arn.replace(world["stream"], "deadletter-x"),
    ]
    assert statements["OnFailureDestination"] == {
        "Sid": "OnFailureDestination",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": ON_FAILURE,
    }
    assert statements["Logs"]["Resource"].endswith(f":log-group:/aws/lambda/{world['function']}:*")
    wildcards = [sid for sid, s in statements.items() if "*" in json.dumps(s["Resource"])]
    assert wildcards == ["Logs", "Tracing"]  # the log streams of its own group; X-Ray has no ARNs


def test_switching_tracing_off_updates_only_the_tracing_mode_and_its_variable(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, observed = calls
    deploy_lambda(request(world, models_dir), clients)
    observed.made.clear()

    report = deploy_lambda(request(world, models_dir, tracing=False), clients)

    assert report.changes[0].fields == ("Environment", "TracingConfig")
    sent = observed.params_of("UpdateFunctionConfiguration")
    assert sent["TracingConfig"] == {"Mode": "PassThrough"}  # moto 5.2 stores only a create's
    config = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    assert config["Environment"]["Variables"][ENV_TRACING] == "false"


def test_a_shadow_and_a_canary_become_the_variables_the_handler_reads_and_go_when_dropped(
    world: dict[str, str],
    calls: tuple[DeployClients, Calls],
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients, _ = calls
    rollout = Rollout(shadow="challenger", shadow_stream="verdicts-shadow-x", canary="7")
    asked = request(world, models_dir, role_arn=None, rollout=rollout)

    deploy_lambda(asked, clients)
    with_both = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]
    report = deploy_lambda(request(world, models_dir, role_arn=None), clients)
    without = clients.lambda_.get_function(FunctionName=world["function"])["Configuration"]

    variables = with_both["Environment"]["Variables"]
    assert {name: variables.get(name) for name in ROLLOUT_VARS} == {
        ENV_SHADOW: "challenger",
        ENV_SHADOW_STREAM: "verdicts-shadow-x",
        ENV_CANARY: "7",
        ENV_CANARY_PERCENT: None,  # the handler's own default share
    }
    for name, value in variables.items():  # the function's environment at cold start
        monkeypatch.setenv(name, value)
    settings = LambdaSettings()
    assert (settings.shadow, settings.shadow_stream, settings.canary) == (
        "challenger",
        "verdicts-shadow-x",
        "7",
    )
    assert not set(ROLLOUT_VARS) & set(without["Environment"]["Variables"])
    function_change = next(c for c in report.changes if c.resource.startswith("function"))
    assert function_change.fields == ("Environment",)


def test_the_role_may_write_the_shadow_stream_only_when_there_is_a_shadow(
    world: dict[str, str], calls: tuple[DeployClients, Calls], models_dir: Path
) -> None:
    clients, _ = calls
    rollout = Rollout(shadow="challenger", shadow_stream="verdicts-shadow-x")
    asked = request(world, models_dir, role_arn=None, rollout=rollout)

    report = deploy_lambda(asked, clients)

    document = clients.iam.get_role_policy(RoleName=asked.role_name, PolicyName=POLICY_NAME)[
        "PolicyDocument"
    ]
    policy = json.loads(unquote(document)) if isinstance(document, str) else document
    [writes] = [s for s in policy["Statement"] if s["Sid"] == "WriteVerdictsAndDeadLetters"]
    assert writes["Resource"] == [
        report.stream_arn.replace(world["stream"], name)
        for name in ("verdicts-x", "verdicts-shadow-x", "deadletter-x")
    ]


def test_the_cli_sets_the_canary_share_and_refuses_a_share_without_a_canary(
    world: dict[str, str],
    moto_server: MotoServer,
    models_dir: Path,
    aws_credentials: None,
    restore_root_logging: None,
) -> None:
    args = cli_args(world, moto_server, models_dir)
    runner = CliRunner()

    refused = runner.invoke(cli, [*args, "--canary-percent", "20"])
    deployed = runner.invoke(cli, [*args, "--canary", "candidate", "--canary-percent", "12.5"])

    assert refused.exit_code == 2
    assert "--canary-percent needs --canary" in refused.output
    assert "Traceback" not in refused.output
    assert deployed.exit_code == 0, deployed.output
    variables = moto_server.client("lambda").get_function(FunctionName=world["function"])[
        "Configuration"
    ]["Environment"]["Variables"]
    assert (variables[ENV_CANARY], variables[ENV_CANARY_PERCENT]) == ("candidate", "12.5")
    assert ENV_SHADOW not in variables
