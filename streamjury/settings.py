"""Settings shared by every service: which backend, and how to reach it.

Each service has one pydantic-settings model that subclasses ``BackendSettings``; env vars are
prefixed ``STREAMJURY_`` and CLI flags (passed as init kwargs) win over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from streamjury.streams.names import StreamNames

ENV_PREFIX = "STREAMJURY_"
S = TypeVar("S", bound=BaseSettings)
BackendName = Literal["local", "memory", "kafka", "kinesis"]
DEFAULT_LOCAL_DIR = Path(".streamjury/log")


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
    """How long a silent group member keeps its partitions (see streams/kafka_config.py)."""
    transaction_timeout_ms: int = Field(default=10_000, ge=1_000)
    """How long a killed writer's open transaction can hold back read_committed readers."""
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

    @property
    def streams(self) -> StreamNames:
        return StreamNames(self.stream_prefix)

    def masked(self) -> dict[str, Any]:
        """The settings as a dict, secrets shown as '**********', safe to log or print."""
        return self.model_dump(mode="json")


def with_overrides(settings_type: type[S], **overrides: Any) -> S:
    """Build settings from env vars, then apply the CLI's explicit values (None means unset)."""
    return settings_type(**{k: v for k, v in overrides.items() if v is not None})
