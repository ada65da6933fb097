"""The consumer service's settings: which check, how it batches, where its models and streams are.

Env vars: ``STREAMJURY_CHECK`` and ``STREAMJURY_CONSUMER_*`` (plus the shared backend, model and
``STREAMJURY_HTTP_*`` ones); CLI flags, passed as init kwargs by field name, win over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from consumers.check import checks_name
from consumers.runtime import RuntimeConfig
from models.store import ModelSettings
from streamjury.ops.settings import OpsSettings
from streamjury.settings import ENV_PREFIX, BackendSettings
from streamjury.streams.base import StartFrom

_CONSUMER = f"{ENV_PREFIX}CONSUMER_"


def default_group(checks: Sequence[str], prefix: str = "") -> str:
    """``<prefix>streamjury-duration+tip``: the group of a set of checks run together."""
    return f"{prefix}streamjury-{checks_name(checks)}"


class ConsumerSettings(BackendSettings, ModelSettings, OpsSettings):
    """One model consumer: backend and model location, plus the check and its batching."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=(), populate_by_name=True
    )

    check: str = Field(min_length=1)
    """One check, or several of one input stream run together: ``duration,tip``."""
    batch_size: int = Field(
        default=500, ge=1, le=100_000, validation_alias=f"{_CONSUMER}BATCH_SIZE"
    )
    batch_timeout_ms: int = Field(
        default=50, ge=1, le=60_000, validation_alias=f"{_CONSUMER}BATCH_TIMEOUT_MS"
    )
    group: str | None = Field(
        default=None, min_length=1, max_length=255, validation_alias=f"{_CONSUMER}GROUP"
    )
    """The consumer group; ``<stream prefix>streamjury-<check>`` when unset."""
    start: Literal["earliest", "latest"] = Field(
        default="earliest", validation_alias=f"{_CONSUMER}START"
    )
    """Where a group with no committed position begins; a known group resumes where it was."""
    shadow: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        validation_alias=f"{_CONSUMER}SHADOW",
    )
    """An alias or version also scoring every batch; its verdicts go to ``verdicts-shadow``."""
    canary: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        validation_alias=f"{_CONSUMER}CANARY",
    )
    """An alias or version giving the live verdict for ``canary_percent`` of events."""
    canary_percent: float = Field(
        default=5.0, ge=0, le=100, validation_alias=f"{_CONSUMER}CANARY_PERCENT"
    )
    log_every_batches: int = Field(
        default=100, ge=1, validation_alias=f"{_CONSUMER}LOG_EVERY_BATCHES"
    )

    @field_validator("check")
    @classmethod
    def _check_names(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",")]
        if not all(names):
            raise ValueError(f"a check name is empty in {value!r}: separate names with commas")
        if len(set(names)) != len(names):
            raise ValueError(f"a check is named twice in {value!r}")
        return ",".join(sorted(names))

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks this process scores, sorted: one, or several co-located (see ``check``)."""
        return tuple(self.check.split(","))

    @property
    def name(self) -> str:
        """The check, or ``duration+tip`` for co-located checks."""
        return checks_name(self.checks)

    @property
    def group_name(self) -> str:
        """``<prefix>streamjury-<check>``; co-located checks share ``...-duration+tip``."""
        return self.group or default_group(self.checks, self.stream_prefix)

    @property
    def start_from(self) -> StartFrom:
        return StartFrom.earliest() if self.start == "earliest" else StartFrom.latest()

    def runtime_config(self) -> RuntimeConfig:
        return RuntimeConfig(
            batch_size=self.batch_size,
            batch_timeout_ms=self.batch_timeout_ms,
            log_every_batches=self.log_every_batches,
            deadletter_max_bytes=self.deadletter_limit(),
        )
