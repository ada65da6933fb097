"""Settings of the decision service: the backend's, plus policy, batching, retention and group.

Env vars are ``STREAMJURY_DECISION_*`` (and ``STREAMJURY_HTTP_*`` for the operator endpoints);
CLI flags, passed as init kwargs by field name, win.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from streamjury.ops.settings import OpsSettings
from streamjury.settings import ENV_PREFIX, BackendSettings

DEFAULT_GROUP = "streamjury-decision"
_DECISION = f"{ENV_PREFIX}DECISION_"


class DecisionSettings(BackendSettings, OpsSettings):
    """Everything ``streamjury decide`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    policy: Path | None = Field(default=None, validation_alias=f"{_DECISION}POLICY")
    """The policy TOML file; the default policy shipped with the package when unset."""
    batch_size: int = Field(
        default=2_000, ge=1, le=100_000, validation_alias=f"{_DECISION}BATCH_SIZE"
    )
    """Most verdicts per micro-batch: one atomic write per batch. A poll takes what has arrived,
    so at low load batches are small whatever this is; under load, 2000 rather than 500 carried
    ~10% more events/s through the whole pipeline (docs/benchmarks.md)."""
    batch_timeout_ms: int = Field(
        default=200, ge=1, le=60_000, validation_alias=f"{_DECISION}BATCH_TIMEOUT_MS"
    )
    """Longest wait for a batch's first verdict; timeouts are checked at least this often."""
    retention_s: float = Field(default=3600.0, gt=0, validation_alias=f"{_DECISION}RETENTION_S")
    """How long a decided event is kept to catch duplicates and late verdicts (see the docs)."""
    group: str = Field(default="", max_length=200, validation_alias=f"{_DECISION}GROUP")
    """The consumer group; ``<stream prefix>streamjury-decision`` when unset or empty, so two
    pipelines under different prefixes on one broker never share a group."""
    instance: int = Field(default=0, ge=0, le=100_000, validation_alias=f"{_DECISION}INSTANCE")
    """This instance's slot (0, 1, ...): stable across restarts, unique among running instances.

    The writer id comes from it, so a restarted instance fences its dead predecessor at once
    (aborting the transaction it left open) instead of stalling read_committed readers until
    the transaction timeout. compose ``--scale``: one service per slot; Kubernetes: the
    StatefulSet pod ordinal (see docs/operations.md)."""
    writer_id: str | None = Field(
        default=None, min_length=1, max_length=200, validation_alias=f"{_DECISION}WRITER_ID"
    )
    """The atomic writer's id (Kafka transactional.id); from prefix, group and instance when unset."""

    @model_validator(mode="after")
    def _group_under_the_prefix(self) -> DecisionSettings:
        if not self.group:
            self.group = f"{self.stream_prefix}{DEFAULT_GROUP}"
        return self
