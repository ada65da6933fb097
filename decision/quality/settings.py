"""Settings of the quality service: the backend's, plus its group, batching and join window.

Env vars are ``STREAMJURY_QUALITY_*`` (and ``STREAMJURY_HTTP_*`` for the endpoints it is run
for); CLI flags, passed as init kwargs by field name, win.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from streamjury.ops.settings import OpsSettings
from streamjury.settings import ENV_PREFIX, BackendSettings
from streamjury.streams.base import StartFrom

DEFAULT_GROUP = "streamjury-quality"
_QUALITY = f"{ENV_PREFIX}QUALITY_"


class QualitySettings(BackendSettings, OpsSettings):
    """Everything ``streamjury quality`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    window_s: float = Field(default=7200.0, gt=0, validation_alias=f"{_QUALITY}WINDOW_S")
    """How long an event waits for its partner (outcome or prediction), and how long its
    redeliveries are recognised: longer than the longest ride plus the pipeline's lag."""
    max_events: int = Field(default=500_000, ge=1, validation_alias=f"{_QUALITY}MAX_EVENTS")
    """Most events held; beyond it the oldest leave the window early (memory bound)."""
    batch_size: int = Field(default=500, ge=1, le=100_000, validation_alias=f"{_QUALITY}BATCH_SIZE")
    batch_timeout_ms: int = Field(
        default=200, ge=1, le=60_000, validation_alias=f"{_QUALITY}BATCH_TIMEOUT_MS"
    )
    group: str = Field(default="", max_length=200, validation_alias=f"{_QUALITY}GROUP")
    """The consumer group; ``<stream prefix>streamjury-quality`` when unset or empty."""
    start: Literal["earliest", "latest"] = Field(
        default="earliest", validation_alias=f"{_QUALITY}START"
    )
    """Where a group with no committed position begins; a known group resumes where it was."""

    @property
    def start_from(self) -> StartFrom:
        return StartFrom.earliest() if self.start == "earliest" else StartFrom.latest()

    @model_validator(mode="after")
    def _group_under_the_prefix(self) -> QualitySettings:
        if not self.group:
            self.group = f"{self.stream_prefix}{DEFAULT_GROUP}"
        return self
