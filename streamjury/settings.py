"""Settings shared by every service: which backend, and how to reach it.

Each service has one pydantic-settings model that subclasses ``BackendSettings``; env vars are
prefixed ``STREAMJURY_`` and CLI flags (passed as init kwargs) win over them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from streamjury.masking import mask_settings
from streamjury.redaction import remember_settings
from streamjury.schemas import MAX_DEAD_LETTER_BYTES

ENV_PREFIX = "STREAMJURY_"
S = TypeVar("S", bound=BaseSettings)
BackendName = Literal["local", "memory", "kafka", "kinesis"]
DEFAULT_LOCAL_DIR = Path(".streamjury/log")
MIN_DEADLETTER_BYTES = 4_096
"""Room for a dead letter's reason, stage and source, with a little of the original."""
KAFKA_FRAMING_BYTES = 4_096
"""Kept free under ``message.max.bytes`` for the key, headers and record-batch framing."""
KINESIS_DEADLETTER_BYTES = 1_048_576 - 4_096
"""1 MiB per record (data plus partition key), less room for the key."""


class KafkaSettings(BaseSettings):
    """How to reach a Kafka cluster; secrets are SecretStr and never logged."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    client_id: str = "streamjury"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    """How long a member may go silent before the group gives its partitions away. librdkafka
    heartbeats from a background thread, so slow batches never trip it; only a dead or cut-off
    process does, and its partitions move after ~10 s instead of Kafka's default 45 s."""
    transaction_timeout_ms: int = Field(default=10_000, ge=1_000)
    """How long the broker lets a transaction stay open. A writer killed mid-transaction blocks
    read_committed readers of the partitions it wrote until the coordinator aborts it: within
    ~10-20 s (this timeout plus the broker's abort-check interval), or at once when a writer
    with the same writer id starts again."""
    extra: dict[str, str] = Field(default_factory=dict)
    """Any other librdkafka setting (e.g. mTLS files), as JSON: '{"ssl.key.location": "..."}'."""


class KinesisSettings(BaseSettings):
    """How to reach Kinesis: AWS itself, LocalStack, or an emulator at an endpoint URL."""

    model_config = SettingsConfigDict(
        env_prefix=f"{ENV_PREFIX}KINESIS_", extra="ignore", populate_by_name=True
    )

    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices(
            "STREAMJURY_KINESIS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"
        ),
    )
    endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "STREAMJURY_KINESIS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"
        ),
    )
    localstack: bool = False
    """Build clients with localstack-client, for users running LocalStack."""
    shards: int = Field(default=2, ge=1)
    checkpoint_table: str | None = None
    """A DynamoDB table for shard leases and checkpoints; a local store when unset."""


class AliasOnlyEnvSource(EnvSettingsSource):
    """Reads a field that has an env alias only under that alias.

    Service settings accept field names as init kwargs (``populate_by_name``, so CLI flags can be
    passed by name), but pydantic-settings would then also read ``STREAMJURY_<FIELD>`` from the
    environment: ``STREAMJURY_BATCH_SIZE`` meant for one service would leak into another.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "populate_by_name": False, "validate_by_name": False}


class BackendSettings(BaseSettings):
    """Which transport a service uses, and its connection settings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            AliasOnlyEnvSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    backend: BackendName = "local"
    stream_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    local_dir: Path = DEFAULT_LOCAL_DIR
    local_partitions: int = Field(default=4, ge=1, le=256)
    local_sync: Literal["full", "normal"] = "full"
    """SQLite synchronous mode: ``full`` survives power loss, ``normal`` survives process kills."""
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    kinesis: KinesisSettings = Field(default_factory=KinesisSettings)
    deadletter_max_bytes: int | None = Field(
        default=None, ge=MIN_DEADLETTER_BYTES, validation_alias=f"{ENV_PREFIX}DEADLETTER_MAX_BYTES"
    )
    """The largest encoded dead letter; the backend's safe default when unset (``deadletter_limit``)."""

    def model_post_init(self, context: Any, /) -> None:
        """Its secrets are redacted from every log line and error from now on."""
        super().model_post_init(context)
        remember_settings(self)

    def deadletter_limit(self) -> int:
        """How large a dead letter this backend's dead-letter stream always accepts.

        Kafka: under the producer's ``message.max.bytes`` (librdkafka's default 1,000,000; the
        broker's default is 1,048,588), less room for the key and batch framing. Kinesis: a
        record's data and partition key share 1 MiB. Local and memory: the parse limit of our
        own outputs. The original inside is cut to fit, never the letter refused.
        """
        if self.deadletter_max_bytes is not None:
            return self.deadletter_max_bytes
        if self.backend == "kafka":
            producer_limit = int(self.kafka.extra.get("message.max.bytes", 1_000_000))
            return max(producer_limit - KAFKA_FRAMING_BYTES, MIN_DEADLETTER_BYTES)
        if self.backend == "kinesis":
            return KINESIS_DEADLETTER_BYTES
        return MAX_DEAD_LETTER_BYTES

    def masked(self) -> dict[str, Any]:
        """The settings as a dict, secrets shown as the mask, safe to log or print."""
        return mask_settings(self)


def with_overrides(settings_type: type[S], **overrides: Any) -> S:
    """Build settings from env vars, then apply the CLI's explicit values (None means unset)."""
    return settings_type(**{k: v for k, v in overrides.items() if v is not None})


_SOURCE_FIELD = re.compile(r'field "(?P<field>[^"]+)"')


def describe_settings_error(exc: SettingsError, environ: Mapping[str, str] | None = None) -> str:
    """What to fix when an env var could not even be parsed (a JSON setting that is not JSON).

    pydantic-settings names the field, not the variable: the variable is the ``STREAMJURY_*`` one
    for that field whose value does not parse. Never quotes the value (it may hold a password).
    """
    environ = os.environ if environ is None else environ
    match = _SOURCE_FIELD.search(str(exc))
    field = match.group("field") if match else "a setting"
    culprits = [
        name
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX)
        and name.lower().endswith(f"_{field.lower()}")
        and not _is_json(value)
    ]
    where = " or ".join(sorted(culprits)) or f"the variable of setting {field!r}"
    cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
    return f'{where} must be JSON, for example \'{{"key": "value"}}\'{cause}'


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
