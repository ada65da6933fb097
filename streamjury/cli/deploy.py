"""``streamjury deploy lambda``: deploy one check as a Lambda function with a Kinesis trigger.

Safe to re-run: it changes only what differs from what is asked, and says what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from consumers.lambda_settings import (
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_SERVICE,
    DEFAULT_SHADOW_STREAM,
)
from streamjury.cli.lambda_cli import (
    aws_options,
    build_kinesis_settings,
    build_mapping_settings,
    mapping_options,
)
from streamjury.errors import ConfigError


@click.group()
def deploy() -> None:
    """Deploy streamjury to AWS."""


@deploy.command("lambda")
@click.argument("check")
@click.option("--stream", required=True, help="The input Kinesis stream: its name or ARN.")
@click.option("--output-stream", required=True, help="The Kinesis stream verdicts go to.")
@click.option(
    "--role",
    "role_arn",
    default=None,
    metavar="ARN",
    help="The execution role.  [default: create FUNCTION-role with least-privilege permissions]",
)
@click.option("--function-name", default=None, help="[default: streamjury-CHECK]")
@mapping_options
@click.option(
    "--on-failure",
    default=None,
    metavar="ARN",
    help="SQS queue, SNS topic or S3 bucket ARN for metadata about discarded batches.",
)
@click.option(
    "--deadletter-target",
    default="kinesis:deadletter",
    show_default=True,
    metavar="kinesis:NAME|sqs:URL",
    help="Where the function sends invalid records, with their payload.",
)
@click.option(
    "--models",
    default=None,
    help="Model folder (baked into the zip) or s3:// URL (read at cold start).  "
    "[env var: STREAMJURY_MODELS; default: .streamjury/models]",
)
@click.option(
    "--image-uri",
    default=None,
    metavar="URI",
    help="Deploy this container image (built from lambda/Dockerfile).",
)
@click.option(
    "--zip",
    "use_zip",
    is_flag=True,
    help="Deploy a zip of the code and models; dependencies must come from --layer.",
)
@click.option(
    "--layer", "layers", multiple=True, metavar="ARN", help="A layer for the zip (repeatable)."
)
@click.option(
    "--service",
    default=DEFAULT_SERVICE,
    show_default=True,
    help="POWERTOOLS_SERVICE_NAME: the service dimension of metrics and traces.",
)
@click.option(
    "--metrics-namespace",
    default=DEFAULT_METRICS_NAMESPACE,
    show_default=True,
    help="POWERTOOLS_METRICS_NAMESPACE: the CloudWatch namespace of the function's metrics.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="POWERTOOLS_LOG_LEVEL of the function.",
)
@click.option(
    "--tracing/--no-tracing",
    default=True,
    show_default=True,
    help="X-Ray active tracing, with decode/predict/write subsegments.",
)
@click.option(
    "--iterator-age-alarm",
    type=click.IntRange(1, 604_800),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Alarm when the function is this far behind its stream for 5 minutes.",
)
@click.option(
    "--dead-letter-alarm",
    type=click.IntRange(0, 1_000_000),
    default=10,
    show_default=True,
    metavar="COUNT",
    help="Alarm when more records than this are dead-lettered in 5 minutes.",
)
@click.option(
    "--alarm-action",
    "alarm_actions",
    multiple=True,
    metavar="ARN",
    help="SNS topic (or other action) notified when an alarm fires or clears (repeatable).",
)
@click.option(
    "--shadow",
    default=None,
    metavar="ALIAS|VERSION",
    help="Also score every record with this model; its verdicts go to --shadow-stream.",
)
@click.option(
    "--shadow-stream",
    default=DEFAULT_SHADOW_STREAM,
    show_default=True,
    help="The Kinesis stream of the shadow model's verdicts.",
)
@click.option(
    "--canary",
    default=None,
    metavar="ALIAS|VERSION",
    help="Give this model the live verdict of a share of events (by event id hash).",
)
@click.option(
    "--canary-percent",
    type=click.FloatRange(min=0, max=100),
    default=None,
    help="The canary's share of events.  [default: 5]",
)
@click.option("--timeout", type=click.IntRange(1, 900), default=60, show_default=True)
@click.option("--memory", type=click.IntRange(128, 10_240), default=1024, show_default=True)
@click.option(
    "--build-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the built zip here.  [default: a temporary folder]",
)
@aws_options(
    "--endpoint-url",
    "An endpoint for every AWS API used (LocalStack, moto).  [env var: AWS_ENDPOINT_URL]",
)
def deploy_lambda_command(
    check: str,
    stream: str,
    output_stream: str,
    role_arn: str | None,
    function_name: str | None,
    mapping_flags: dict[str, Any],
    on_failure: str | None,
    deadletter_target: str,
    models: str | None,
    image_uri: str | None,
    use_zip: bool,
    layers: tuple[str, ...],
    service: str,
    metrics_namespace: str,
    log_level: str,
    tracing: bool,
    iterator_age_alarm: int,
    dead_letter_alarm: int,
    alarm_actions: tuple[str, ...],
    shadow: str | None,
    shadow_stream: str,
    canary: str | None,
    canary_percent: float | None,
    timeout: int,
    memory: int,
    build_dir: Path | None,
    aws_flags: dict[str, Any],
) -> None:
    """Create or update CHECK's function and its Kinesis event source mapping."""
    from models.store import ModelSettings
    from streamjury.deploy.alarms import AlarmThresholds
    from streamjury.deploy.lambda_deploy import (
        DeployClients,
        DeployRequest,
        Rollout,
        deploy_lambda,
    )
    from streamjury.settings import with_overrides
    from streamjury.streams.kinesis import clients as aws_clients

    if (image_uri is not None) == use_zip:
        raise click.UsageError("choose one of --image-uri URI (recommended) or --zip")
    try:
        rollout = Rollout(shadow, shadow_stream, canary, canary_percent)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    request = DeployRequest(
        check=check,
        stream=stream,
        role_arn=role_arn,
        output_stream=output_stream,
        function_name=function_name,
        mapping=build_mapping_settings(mapping_flags),
        on_failure_arn=on_failure,
        deadletter_target=deadletter_target,
        models=with_overrides(ModelSettings, models=models).models,
        image_uri=image_uri,
        layers=layers,
        timeout_s=timeout,
        memory_mb=memory,
        service=service,
        metrics_namespace=metrics_namespace,
        log_level=log_level.upper(),
        tracing=tracing,
        alarms=AlarmThresholds(
            iterator_age_ms=iterator_age_alarm * 1000,
            dead_letters=dead_letter_alarm,
            actions=alarm_actions,
        ),
        rollout=rollout,
    )
    settings = build_kinesis_settings(aws_flags)
    endpoint = aws_flags.get("endpoint_url")
    clients = DeployClients(
        lambda_=aws_clients.client("lambda", settings, endpoint_url=endpoint),
        kinesis=aws_clients.client("kinesis", settings, endpoint_url=endpoint),
        cloudwatch=aws_clients.client("cloudwatch", settings, endpoint_url=endpoint),
        iam=aws_clients.client("iam", settings, endpoint_url=endpoint),
    )
    report = deploy_lambda(request, clients, build_dir=build_dir)
    for change in report.changes:
        click.echo(str(change))
    click.echo(f"{report.function_name} <- {report.stream_arn}")
