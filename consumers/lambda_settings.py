"""The Lambda handler's settings, read from the function's environment variables.

The variable names live here as constants: ``deploy`` and ``template.yaml`` set exactly these.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from consumers.lambda_sinks import Target, parse_target
from models.store import ModelSettings
from streamjury.settings import ENV_PREFIX, KinesisSettings

ENV_CHECK = "STREAMJURY_CHECK"
ENV_OUTPUT_STREAM = "STREAMJURY_OUTPUT_STREAM"
ENV_DEADLETTER_TARGET = "STREAMJURY_DEADLETTER_TARGET"
ENV_MODELS = "STREAMJURY_MODELS"
ENV_MODEL_CACHE = "STREAMJURY_MODEL_CACHE"
ENV_DRY_RUN = "STREAMJURY_DRY_RUN"
ENV_TRACING = "STREAMJURY_TRACING"
ENV_DEADLINE_MARGIN_MS = "STREAMJURY_DEADLINE_MARGIN_MS"
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
ENV_SHADOW = "STREAMJURY_CONSUMER_SHADOW"
ENV_SHADOW_STREAM = "STREAMJURY_SHADOW_STREAM"
ENV_CANARY = "STREAMJURY_CONSUMER_CANARY"
ENV_CANARY_PERCENT = "STREAMJURY_CONSUMER_CANARY_PERCENT"
"""The streaming consumer's own names for shadow and canary: one table in docs/models.md."""
POWERTOOLS_ENV_VARS = (ENV_SERVICE, ENV_METRICS_NAMESPACE, ENV_LOG_LEVEL)
"""Powertools' own variable names, so the function reads like any other Powertools function."""
FUNCTION_ENV_VARS = (
    ENV_CHECK,
    ENV_OUTPUT_STREAM,
    ENV_DEADLETTER_TARGET,
    ENV_MODELS,
    ENV_MODEL_CACHE,
    ENV_TRACING,
    *POWERTOOLS_ENV_VARS,
)
"""What a deployed function's environment sets (dry run is for local invocations only)."""

LAMBDA_MODEL_CACHE = Path("/tmp/streamjury/model-cache")  # noqa: S108 - Lambda's only writable dir
"""Where models fetched from S3 are cached: /tmp survives between invocations of a warm function."""
DEFAULT_OUTPUT_STREAM = "verdicts"
DEFAULT_SHADOW_STREAM = "verdicts-shadow"
MODEL_REF = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
DEFAULT_DEADLETTER_TARGET = "kinesis:deadletter"
DEFAULT_SERVICE = "streamjury"
DEFAULT_METRICS_NAMESPACE = "streamjury"
DEFAULT_DEADLINE_MARGIN_MS = 3_000


class LambdaSettings(ModelSettings):
    """One check's function: what it scores, where it reads models, where it writes.

    Env vars: STREAMJURY_CHECK, STREAMJURY_OUTPUT_STREAM, STREAMJURY_DEADLETTER_TARGET
    (``kinesis:NAME`` or ``sqs:URL``), STREAMJURY_MODELS, STREAMJURY_MODEL_CACHE and
    STREAMJURY_DRY_RUN, STREAMJURY_TRACING, STREAMJURY_DEADLINE_MARGIN_MS; shadow and canary as
    the streaming consumer names them (STREAMJURY_CONSUMER_SHADOW, STREAMJURY_CONSUMER_CANARY,
    STREAMJURY_CONSUMER_CANARY_PERCENT) plus STREAMJURY_SHADOW_STREAM; Powertools'
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_LOG_LEVEL; Kinesis is
    reached as ``KinesisSettings`` says (AWS_REGION...).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=(), frozen=True
    )

    check: str = Field(min_length=1, max_length=64)
    output_stream: str = Field(default=DEFAULT_OUTPUT_STREAM, min_length=1, max_length=128)
    deadletter_target: str = DEFAULT_DEADLETTER_TARGET
    model_cache: Path = LAMBDA_MODEL_CACHE
    dry_run: bool = False
    """Publish nothing; return the verdicts and dead letters in the response instead."""
    kinesis: KinesisSettings = Field(default_factory=KinesisSettings)
    shadow: str | None = Field(
        default=None, pattern=MODEL_REF, validation_alias=AliasChoices(ENV_SHADOW, "shadow")
    )
    """An alias or version also scoring every chunk; its verdicts go to ``shadow_stream``."""
    shadow_stream: str = Field(default=DEFAULT_SHADOW_STREAM, min_length=1, max_length=128)
    canary: str | None = Field(
        default=None, pattern=MODEL_REF, validation_alias=AliasChoices(ENV_CANARY, "canary")
    )
    """An alias or version giving the live verdict of ``canary_percent`` of events."""
    canary_percent: float = Field(
        default=5.0,
        ge=0,
        le=100,
        validation_alias=AliasChoices(ENV_CANARY_PERCENT, "canary_percent"),
    )
    tracing: bool = False
    """X-Ray subsegments for decode, predict and write; needs the function's active tracing."""
    deadline_margin_ms: int = Field(default=DEFAULT_DEADLINE_MARGIN_MS, ge=0, le=900_000)
    """Stop taking new records when less than this (plus one chunk's time) is left."""
    service: str = Field(
        default=DEFAULT_SERVICE,
        min_length=1,
        max_length=250,
        validation_alias=AliasChoices(ENV_SERVICE, "service"),
    )
    metrics_namespace: str = Field(
        default=DEFAULT_METRICS_NAMESPACE,
        min_length=1,
        max_length=255,
        validation_alias=AliasChoices(ENV_METRICS_NAMESPACE, "metrics_namespace"),
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices(ENV_LOG_LEVEL, "log_level")
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("deadletter_target")
    @classmethod
    def _valid_target(cls, value: str) -> str:
        parse_target(value)
        return value

    @property
    def deadletter(self) -> Target:
        return parse_target(self.deadletter_target)

    @property
    def stage(self) -> str:
        """The ``stage`` stamped on this function's dead letters."""
        return f"lambda:{self.check}"
