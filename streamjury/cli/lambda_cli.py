"""``streamjury lambda run``: a check's Lambda handler fed by a local Kinesis event source mapping.

Replays a Kinesis stream (kinesis-local, LocalStack or AWS) through the handler in-process, with
the batching, bisection, retry and partial-batch rules of the deployed mapping.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from consumers.lambda_settings import LambdaSettings
from streamjury.cli.options import canary_options
from streamjury.errors import ConfigError
from streamjury.ops.options import metrics_port_option
from streamjury.ops.settings import OpsSettings
from streamjury.schemas import describe_validation_error
from streamjury.settings import ENV_PREFIX, KinesisSettings

F = TypeVar("F", bound=Callable[..., Any])
MAPPING_FLAGS = (
    "batch_size",
    "batching_window",
    "starting_position",
    "bisect_on_error",
    "max_retries",
    "max_record_age",
    "report_batch_item_failures",
)
_SETTING_OF_FLAG = {"batching_window": "batching_window_s", "max_record_age": "max_record_age_s"}
_KINESIS_INIT_NAMES = {
    "region": "STREAMJURY_KINESIS_REGION",
    "endpoint_url": "STREAMJURY_KINESIS_ENDPOINT_URL",
}
"""KinesisSettings fields with env-var aliases only take init values under the alias."""


def mapping_options(command: F) -> F:
    """The event source mapping flags ``lambda run`` and ``deploy lambda`` share.

    The decorated function receives them gathered in one ``mapping_flags: dict`` argument;
    unset flags are None, leaving ``MappingSettings``' defaults in force.
    """

    @click.option(
        "--batch-size",
        type=click.IntRange(1, 10_000),
        default=None,
        help="Most records per invocation (BatchSize).  [default: 100]",
    )
    @click.option(
        "--batching-window",
        type=click.IntRange(0, 300),
        default=None,
        metavar="SECONDS",
        help="Longest wait to fill a batch (MaximumBatchingWindowInSeconds).  [default: 1]",
    )
    @click.option(
        "--starting-position",
        type=click.Choice(["TRIM_HORIZON", "LATEST"]),
        default=None,
        help="Where a shard with no checkpoint begins.  [default: TRIM_HORIZON]",
    )
    @click.option(
        "--bisect-on-error/--no-bisect-on-error",
        default=None,
        help="Split a batch in two when the function fails (BisectBatchOnFunctionError).  "
        "[default: on]",
    )
    @click.option(
        "--max-retries",
        type=click.IntRange(-1, 10_000),
        default=None,
        help="Retries of a failing batch, -1 for unlimited (MaximumRetryAttempts).  [default: 5]",
    )
    @click.option(
        "--max-record-age",
        type=click.IntRange(-1, 604_800),
        default=None,
        metavar="SECONDS",
        help="Discard older records, -1 never; else 60 or more (MaximumRecordAgeInSeconds).  "
        "[default: 3600]",
    )
    @click.option(
        "--report-batch-item-failures/--no-report-batch-item-failures",
        default=None,
        help="Honour the function's partial batch response (FunctionResponseTypes).  [default: on]",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["mapping_flags"] = {name: kwargs.pop(name) for name in MAPPING_FLAGS}
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def aws_options(endpoint_flag: str, endpoint_help: str) -> Callable[[F], F]:
    """``--region``, an endpoint flag and ``--localstack``, gathered into ``aws_flags``."""

    def decorate(command: F) -> F:
        @click.option(
            "--region",
            default=None,
            help="AWS region.  [env var: AWS_REGION or STREAMJURY_KINESIS_REGION]",
        )
        @click.option(
            endpoint_flag, "endpoint_url", default=None, metavar="URL", help=endpoint_help
        )
        @click.option(
            "--localstack/--no-localstack",
            default=None,
            help="Build AWS clients with localstack-client.  "
            "[env var: STREAMJURY_KINESIS_LOCALSTACK]",
        )
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs["aws_flags"] = {
                name: kwargs.pop(name) for name in ("region", "endpoint_url", "localstack")
            }
            return command(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def build_mapping_settings(mapping_flags: Mapping[str, Any]) -> Any:
    """``MappingSettings`` from the flags that were given, or a ConfigError saying what is wrong."""
    from streamjury.esm.config import MappingSettings

    values = {
        _SETTING_OF_FLAG.get(name, name): value
        for name, value in mapping_flags.items()
        if value is not None
    }
    try:
        return MappingSettings(**values)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid event source mapping: {describe_validation_error(exc)}"
        ) from exc


def build_kinesis_settings(aws_flags: Mapping[str, Any]) -> KinesisSettings:
    """KinesisSettings from env vars, overridden by the flags that were given."""
    given = {
        _KINESIS_INIT_NAMES.get(name, name): value
        for name, value in aws_flags.items()
        if value is not None
    }
    try:
        return KinesisSettings(**given)
    except ValidationError as exc:
        raise ConfigError(f"invalid AWS settings: {describe_validation_error(exc)}") from exc


class RunnerSettings(LambdaSettings, OpsSettings):
    """What ``lambda run`` reads from its environment: the handler's settings, and where it
    serves ``/healthz``, ``/readyz`` and ``/metrics`` (``STREAMJURY_HTTP_*``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=(), frozen=True
    )


@click.group("lambda")
def lambda_group() -> None:
    """Run checks the way AWS Lambda runs them, on your machine."""


@lambda_group.command("run")
@click.argument("check")
@click.option("--stream", required=True, help="The Kinesis stream to read (its name).")
@click.option(
    "--output-stream",
    default=None,
    help="Kinesis stream for verdicts.  [env var: STREAMJURY_OUTPUT_STREAM; default: verdicts]",
)
@click.option(
    "--deadletter-target",
    default=None,
    metavar="kinesis:NAME|sqs:URL",
    help="Where invalid records go, with their payload.  [env var: "
    "STREAMJURY_DEADLETTER_TARGET; default: kinesis:deadletter]",
)
@click.option(
    "--on-failure",
    default=None,
    metavar="kinesis:NAME|sqs:URL",
    help="Where metadata about discarded batches goes.  [default: logged only]",
)
@mapping_options
@click.option(
    "--models",
    default=None,
    help="Model folder or s3:// URL.  [env var: STREAMJURY_MODELS; default: .streamjury/models]",
)
@click.option(
    "--shadow",
    default=None,
    metavar="ALIAS|VERSION",
    help="Also score every chunk with this model; its pairs go to STREAMJURY_SHADOW_STREAM "
    "(default verdicts-shadow) and decide nothing.  [env var: STREAMJURY_CONSUMER_SHADOW]",
)
@canary_options
@click.option(
    "--checkpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file of shard checkpoints, to resume where a previous run stopped.  "
    "[default: in memory, so every run starts at --starting-position]",
)
@click.option(
    "--function-name",
    default=None,
    help="The name the function goes by in events and logs.  [default: streamjury-CHECK]",
)
@click.option(
    "--timeout",
    "function_timeout",
    type=click.IntRange(1, 900),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="The function timeout: the handler's deadline, and an invocation that overruns it "
    "counts as a function error (retried, bisected).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Publish nothing: print each verdict and dead letter as a JSON line instead.",
)
@click.option(
    "--until-idle",
    is_flag=True,
    help="Stop once every shard is read to its end and every batch is settled.",
)
@aws_options(
    "--kinesis-endpoint",
    "Kinesis endpoint URL (kinesis-local, LocalStack); other services use boto3's "
    "AWS_ENDPOINT_URL_<SERVICE>.  [env var: AWS_ENDPOINT_URL_KINESIS]",
)
@metrics_port_option
def run(
    check: str,
    stream: str,
    output_stream: str | None,
    deadletter_target: str | None,
    on_failure: str | None,
    mapping_flags: dict[str, Any],
    models: str | None,
    shadow: str | None,
    canary: str | None,
    canary_percent: float | None,
    checkpoint_file: Path | None,
    function_name: str | None,
    function_timeout: int,
    dry_run: bool,
    until_idle: bool,
    aws_flags: dict[str, Any],
    http_port: int | None,
) -> None:
    """Invoke CHECK's Lambda handler on the records of a Kinesis stream, until Ctrl-C."""
    try:
        import aws_lambda_powertools  # noqa: F401 - the handler's metrics, tracing and models
    except ImportError as exc:
        raise ConfigError(
            "streamjury lambda run needs the lambda extra: pip install 'streamjury[lambda]'"
        ) from exc
    from rich.console import Console

    from consumers.check import CheckModel, CheckSpec
    from consumers.lambda_handler import Outputs, build_adapter
    from consumers.lambda_logging import install_context_filter
    from consumers.lambda_sinks import open_sink, parse_target
    from consumers.lambda_summary import LiveSummary
    from models.store import ModelStore
    from streamjury.esm.checkpoints import Checkpoints, MemoryCheckpoints, StoreCheckpoints
    from streamjury.esm.destinations import FailureDestination, WriterDestination
    from streamjury.esm.runner import EventSourceMappingRunner, RunnerOptions
    from streamjury.ops.service import service_ops
    from streamjury.ops.sinks import ObservedSink
    from streamjury.settings import with_overrides
    from streamjury.shutdown import GracefulShutdown
    from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
    from streamjury.streams.kinesis.clients import kinesis_client

    mapping = build_mapping_settings(mapping_flags)
    kinesis = build_kinesis_settings(aws_flags)
    try:
        settings = with_overrides(
            RunnerSettings,
            check=check,
            output_stream=output_stream,
            deadletter_target=deadletter_target,
            models=models,
            shadow=shadow,
            canary=canary,
            canary_percent=canary_percent,
            dry_run=dry_run or None,
            kinesis=kinesis,
            http_port=http_port,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid handler settings: {describe_validation_error(exc)}") from exc
    name = function_name or f"streamjury-{check}"
    with service_ops(settings, "lambda", check) as ops:

        def load_model(spec: CheckSpec) -> CheckModel:
            model = spec.load_model(ModelStore(settings.models, settings.model_cache))
            ops.model_loaded(model.name, model.version)
            return ops.metrics.timed(model)

        install_context_filter()  # log lines inside an invocation carry its request id, shard...
        summary = LiveSummary(title=f"{name} <- {stream}")
        adapter = build_adapter(settings, load_model, observers=[summary])
        if adapter.outputs is not None:  # count what is published, as the consumer does
            adapter.outputs = Outputs(
                verdicts=ObservedSink(adapter.outputs.verdicts, "verdicts", ops.metrics),
                dead_letters=ObservedSink(
                    adapter.outputs.dead_letters, "dead_letters", ops.metrics
                ),
                shadow=adapter.outputs.shadow,  # pairs decide nothing: not counted as verdicts
            )
        handler = _printing(adapter.handle) if dry_run else _handle(adapter.handle)
        destination: FailureDestination | None = None
        if on_failure is not None:
            target = parse_target(on_failure)
            destination = WriterDestination(open_sink(target, kinesis), str(target))
        checkpoints: Checkpoints = (
            StoreCheckpoints(SqliteCheckpointStore(checkpoint_file), mapping=name, stream=stream)
            if checkpoint_file is not None
            else MemoryCheckpoints()
        )
        console = Console(stderr=True)
        try:
            with GracefulShutdown() as shutdown, summary.live(console):
                runner = EventSourceMappingRunner(
                    handler,
                    kinesis_client(kinesis),
                    stream,
                    mapping,
                    destination=destination,
                    checkpoints=checkpoints,
                    options=RunnerOptions(function_name=name, function_timeout_s=function_timeout),
                    sleep=shutdown.wait,
                    metrics=ops.metrics,
                    on_assignment=lambda owned: _ready_and_redraw(
                        ops.readiness.set, summary.refresh, owned
                    ),
                )
                summary.footer = runner.stats.describe
                stats = runner.run(shutdown, until_idle=until_idle)
        finally:
            checkpoints.close()
    click.echo(stats.describe(), err=True)


def _ready_and_redraw(
    set_ready: Callable[[str, bool], None], redraw: Callable[[], None], owned: bool
) -> None:
    """Once a round: readiness (shards being read), and the live table redrawn."""
    from streamjury.ops.health import ASSIGNMENT

    set_ready(ASSIGNMENT, owned)
    redraw()


Handle = Callable[[Mapping[str, Any], Any], Any]


def _handle(handle: Handle) -> Callable[[dict[str, Any], Any], Any]:
    def handler(event: dict[str, Any], context: Any) -> Any:
        return handle(event, context)

    return handler


def _printing(handle: Handle) -> Callable[[dict[str, Any], Any], Any]:
    """A dry-run handler that prints the outputs it would have published, one JSON per line."""

    def handler(event: dict[str, Any], context: Any) -> Any:
        response = handle(event, context)
        for kind in ("verdicts", "deadLetters"):
            for item in response.get(kind, []):
                click.echo(json.dumps({kind[:-1]: item}, separators=(",", ":")))
        return response

    return handler
