"""``deploy lambda``: one check as a function (zip or image) behind a Kinesis event source mapping.

Everything it sends is computed first (``function_environment``, ``mapping_request``), so the SAM
template can be checked against it; then the function and the mapping are created or updated.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.lambda_settings import (
    DEFAULT_DEADLETTER_TARGET,
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_OUTPUT_STREAM,
    DEFAULT_SERVICE,
    DEFAULT_SHADOW_STREAM,
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
    MODEL_REF,
)
from consumers.lambda_sinks import parse_target
from consumers.registry import get_check
from models.store import DEFAULT_MODELS, S3_SCHEME
from streamjury.deploy.alarms import AlarmThresholds, alarm_requests, ensure_alarms
from streamjury.deploy.artifact import (
    BAKED_MODELS_PATH,
    HANDLER,
    MAX_DIRECT_UPLOAD_BYTES,
    ZipPackage,
    build_zip,
)
from streamjury.deploy.aws import aws_call
from streamjury.deploy.changes import Change
from streamjury.deploy.function import FunctionSpec, ImageCode, ZipCode, ensure_function
from streamjury.deploy.mapping import ensure_mapping
from streamjury.deploy.role import RoleNeeds, ensure_role, policy_document
from streamjury.errors import ConfigError
from streamjury.esm.config import MappingSettings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_lambda import LambdaClient

log = logging.getLogger(__name__)

ON_FAILURE_SERVICES = ("sqs", "sns", "s3")
"""What AWS accepts as a Kinesis mapping's on-failure destination."""


@dataclass(frozen=True)
class Rollout:
    """A second model beside the live one: a shadow scoring every record (its verdicts to
    ``shadow_stream``) and/or a canary giving ``canary_percent`` of events their live verdict.
    Set as the function's variables, exactly as the streaming consumer reads them."""

    shadow: str | None = None
    shadow_stream: str = DEFAULT_SHADOW_STREAM
    canary: str | None = None
    canary_percent: float | None = None

    def __post_init__(self) -> None:
        for what, ref in (("shadow", self.shadow), ("canary", self.canary)):
            if ref is not None and not re.fullmatch(MODEL_REF, ref):
                raise ConfigError(
                    f"--{what} {ref!r} is not a model alias or version "
                    "(letters, digits, '.', '_' or '-', up to 128)"
                )
        if self.canary_percent is not None and self.canary is None:
            raise ConfigError("--canary-percent needs --canary ALIAS|VERSION")
        if self.canary_percent is not None and not 0 <= self.canary_percent <= 100:
            raise ConfigError(f"--canary-percent must be 0-100, got {self.canary_percent:g}")

    def environment(self) -> dict[str, str]:
        """The variables for this rollout; none at all when there is no second model."""
        variables: dict[str, str] = {}
        if self.shadow is not None:
            variables[ENV_SHADOW] = self.shadow
            variables[ENV_SHADOW_STREAM] = self.shadow_stream
        if self.canary is not None:
            variables[ENV_CANARY] = self.canary
            if self.canary_percent is not None:
                variables[ENV_CANARY_PERCENT] = f"{self.canary_percent:g}"
        return variables


@dataclass(frozen=True)
class DeployRequest:
    """Everything ``streamjury deploy lambda`` was asked to do."""

    check: str
    stream: str
    """The input stream's name or ARN."""
    role_arn: str | None = None
    """None: create (or update) ``<function>-role`` with exactly the permissions it needs."""
    output_stream: str = DEFAULT_OUTPUT_STREAM
    function_name: str | None = None
    mapping: MappingSettings = field(default_factory=MappingSettings)
    on_failure_arn: str | None = None
    deadletter_target: str = DEFAULT_DEADLETTER_TARGET
    models: str = DEFAULT_MODELS
    """A local folder (baked into a zip; for an image, the Dockerfile bakes it) or s3:// URL."""
    image_uri: str | None = None
    """A container image; None deploys a zip (whose dependencies come from ``layers``)."""
    layers: tuple[str, ...] = ()
    timeout_s: int = 60
    memory_mb: int = 1024
    service: str = DEFAULT_SERVICE
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    log_level: str = "INFO"
    tracing: bool = True
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)
    rollout: Rollout = field(default_factory=Rollout)

    @property
    def name(self) -> str:
        return self.function_name or f"streamjury-{self.check}"

    @property
    def role_name(self) -> str:
        return f"{self.name}-role"[:64]


@dataclass(frozen=True)
class DeployClients:
    lambda_: LambdaClient
    kinesis: KinesisClient
    cloudwatch: CloudWatchClient
    iam: IAMClient


@dataclass(frozen=True)
class DeployReport:
    function_name: str
    stream_arn: str
    changes: tuple[Change, ...]
    package: ZipPackage | None = None

    @property
    def changed(self) -> bool:
        return any(change.action != "unchanged" for change in self.changes)


def function_environment(
    check: str,
    output_stream: str,
    deadletter_target: str,
    models: str,
    *,
    service: str = DEFAULT_SERVICE,
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
    log_level: str = "INFO",
    tracing: bool = True,
    rollout: Rollout | None = None,
) -> dict[str, str]:
    """The function's environment variables. A local models folder is baked into the package
    at a fixed path; an s3:// location is read (and sha256-checked) at cold start. Powertools'
    own names set the service, the metrics namespace and the log level; a ``rollout`` adds its
    shadow and canary (a redeploy without one removes them: the variables are replaced whole)."""
    return {
        ENV_CHECK: check,
        ENV_OUTPUT_STREAM: output_stream,
        ENV_DEADLETTER_TARGET: deadletter_target,
        ENV_MODELS: models if models.startswith(S3_SCHEME) else BAKED_MODELS_PATH,
        ENV_MODEL_CACHE: str(LAMBDA_MODEL_CACHE),
        ENV_TRACING: "true" if tracing else "false",
        ENV_SERVICE: service,
        ENV_METRICS_NAMESPACE: metrics_namespace,
        ENV_LOG_LEVEL: log_level,
        **(rollout.environment() if rollout is not None else {}),
    }


def deploy_lambda(
    request: DeployRequest, clients: DeployClients, build_dir: Path | None = None
) -> DeployReport:
    """Create or update the role (unless given), the function, its event source mapping and
    its alarms; idempotent."""
    spec = get_check(request.check)
    parse_target(request.deadletter_target)
    _check_on_failure(request.on_failure_arn)
    stream_arn = resolve_stream_arn(clients.kinesis, request.stream)
    changes: list[Change] = []
    role_arn = request.role_arn
    if role_arn is None:
        needs = RoleNeeds(
            function_name=request.name,
            stream_arn=stream_arn,
            output_stream=request.output_stream,
            deadletter_target=request.deadletter_target,
            on_failure_arn=request.on_failure_arn,
            models=request.models,
            tracing=request.tracing,
            shadow_stream=request.rollout.shadow_stream if request.rollout.shadow else None,
        )
        role_arn, role_change = ensure_role(clients.iam, request.role_name, policy_document(needs))
        changes.append(role_change)
    environment = function_environment(
        spec.name,
        request.output_stream,
        request.deadletter_target,
        request.models,
        service=request.service,
        metrics_namespace=request.metrics_namespace,
        log_level=request.log_level,
        tracing=request.tracing,
        rollout=request.rollout,
    )
    package: ZipPackage | None = None
    if request.image_uri is not None:
        code: ZipCode | ImageCode = ImageCode(request.image_uri)
    else:
        local_models = None if request.models.startswith(S3_SCHEME) else Path(request.models)
        with tempfile.TemporaryDirectory(prefix="streamjury-zip-") as temp:
            package = build_zip(spec, build_dir or Path(temp), models=local_models)
        if len(package.content) > MAX_DIRECT_UPLOAD_BYTES:
            raise ConfigError(
                f"the zip is {len(package.content) / 2**20:.0f} MiB, over the 50 MiB Lambda "
                "takes in an API call: deploy the container image instead (--image-uri)"
            )
        code = ZipCode(package.content, package.code_sha256)
    function = FunctionSpec(
        name=request.name,
        role_arn=role_arn,
        code=code,
        environment=environment,
        handler=HANDLER,
        timeout_s=request.timeout_s,
        memory_mb=request.memory_mb,
        layers=request.layers,
        description=f"streamjury {spec.name} check: {spec.description}"[:256],
        tags={"app": "streamjury", "check": spec.name},
        tracing=request.tracing,
    )
    changes.append(ensure_function(clients.lambda_, function))
    changes.append(
        ensure_mapping(
            clients.lambda_, request.name, stream_arn, request.mapping, request.on_failure_arn
        )
    )
    alarms = alarm_requests(
        request.name, spec.name, request.service, request.metrics_namespace, request.alarms
    )
    changes.extend(ensure_alarms(clients.cloudwatch, alarms))
    for change in changes:
        log.info("%s", change)
    return DeployReport(request.name, stream_arn, tuple(changes), package)


def resolve_stream_arn(client: KinesisClient, stream: str) -> str:
    """``stream`` if it is an ARN, else the ARN of the stream of that name."""
    if stream.startswith("arn:"):
        if ":kinesis:" not in stream or ":stream/" not in stream:
            raise ConfigError(f"{stream!r} is not a Kinesis stream ARN")
        return stream
    summary = aws_call(
        f"find the Kinesis stream {stream!r}",
        lambda: client.describe_stream_summary(StreamName=stream),
    )
    return summary["StreamDescriptionSummary"]["StreamARN"]


def _check_on_failure(arn: str | None) -> None:
    if arn is None:
        return
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in ON_FAILURE_SERVICES:
        raise ConfigError(
            f"on-failure destination {arn!r} must be the ARN of an SQS queue, SNS topic or "
            "S3 bucket (AWS does not accept a Kinesis stream there)"
        )
