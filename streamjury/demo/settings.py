"""Settings of ``streamjury demo``: the backend and models, plus how much to send and how long to wait.

Env vars are ``STREAMJURY_DEMO_<FIELD>`` (``STREAMJURY_DEMO_COUNT``...); the command's flags,
passed as init kwargs by field name, win over them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from models.store import ModelSettings
from streamjury.settings import ENV_PREFIX, BackendSettings

DEFAULT_COUNT = 2000
"""Rides, and as many uploads: 4,000 events, decided in seconds on two cores."""
MAX_COUNT = 100_000
_DEMO = f"{ENV_PREFIX}DEMO_"
"""The events are drawn up front (the accounting needs every id): this bounds the memory."""


class DemoSettings(BackendSettings, ModelSettings):
    """Everything one demo run needs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=(), populate_by_name=True
    )

    count: int = Field(validation_alias=f"{_DEMO}COUNT", default=DEFAULT_COUNT, ge=1, le=MAX_COUNT)
    """Rides to publish, and as many uploads (the first of each is the warm-up)."""
    rate: float = Field(validation_alias=f"{_DEMO}RATE", default=0.0, ge=0.0, allow_inf_nan=False)
    """Events per second over both streams together; 0 publishes as fast as possible."""
    seed: int = Field(validation_alias=f"{_DEMO}SEED", default=0, ge=0)
    bad: int = Field(validation_alias=f"{_DEMO}BAD", default=5, ge=0, le=10_000)
    """Malformed records mixed into the input, to show dead-lettering."""
    timeout_s: float = Field(validation_alias=f"{_DEMO}TIMEOUT_S", default=120.0, gt=0)
    """How long to wait, once everything is published, for the last decision."""
    startup_timeout_s: float = Field(
        validation_alias=f"{_DEMO}STARTUP_TIMEOUT_S", default=120.0, gt=0
    )
    """How long the services may take to start and process the warm-up events: seconds when the
    machine is quiet, but six processes loading scikit-learn on two busy cores take a while."""
    stop_timeout_s: float = Field(validation_alias=f"{_DEMO}STOP_TIMEOUT_S", default=20.0, gt=0)
    """How long a service may take to exit after SIGTERM before it is killed."""
    co_locate: bool = Field(validation_alias=f"{_DEMO}CO_LOCATE", default=False)
    """One consumer process per input stream running all its checks, instead of one per check."""
