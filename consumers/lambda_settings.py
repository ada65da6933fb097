"""The Lambda handler's settings, read from the function's environment variables.

The variable names live here as constants: ``deploy`` and ``template.yaml`` set exactly these.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
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
FUNCTION_ENV_VARS = (
    ENV_CHECK,
    ENV_OUTPUT_STREAM,
    ENV_DEADLETTER_TARGET,
    ENV_MODELS,
    ENV_MODEL_CACHE,
)
"""What a deployed function's environment sets (dry run is for local invocations only)."""

LAMBDA_MODEL_CACHE = Path("/tmp/streamjury/model-cache")  # noqa: S108 - Lambda's only writable dir
"""Where models fetched from S3 are cached: /tmp survives between invocations of a warm function."""
DEFAULT_OUTPUT_STREAM = "verdicts"
DEFAULT_DEADLETTER_TARGET = "kinesis:deadletter"


class LambdaSettings(ModelSettings):
    """One check's function: what it scores, where it reads models, where it writes.

    Env vars: STREAMJURY_CHECK, STREAMJURY_OUTPUT_STREAM, STREAMJURY_DEADLETTER_TARGET
    (``kinesis:NAME`` or ``sqs:URL``), STREAMJURY_MODELS, STREAMJURY_MODEL_CACHE and
    STREAMJURY_DRY_RUN; Kinesis is reached as ``KinesisSettings`` says (AWS_REGION...).
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
