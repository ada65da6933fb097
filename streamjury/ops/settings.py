"""Settings of the operator endpoints, mixed into each long-running service's settings.

``STREAMJURY_HTTP_PORT`` (0, the default, serves nothing), ``STREAMJURY_HTTP_HOST`` and
``STREAMJURY_LAG_INTERVAL_S``; the container image sets the port and binds every interface.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamjury.ops.lag import DEFAULT_INTERVAL_S

DEFAULT_HTTP_HOST = "127.0.0.1"
IMAGE_HTTP_PORT = 9108
"""The port the container image serves on; the docs and the compose file use it too."""


class OpsSettings(BaseSettings):
    """Where ``/healthz``, ``/readyz`` and ``/metrics`` are served, and how often lag is sampled."""

    model_config = SettingsConfigDict(env_prefix="STREAMJURY_", extra="ignore")

    http_host: str = DEFAULT_HTTP_HOST
    """Loopback by default, so a laptop run exposes nothing; containers set 0.0.0.0."""
    http_port: int = Field(default=0, ge=0, le=65_535)
    """0 serves nothing."""
    lag_interval_s: float = Field(default=DEFAULT_INTERVAL_S, ge=0)
    """Seconds between consumer-lag samples; 0 turns lag sampling off."""
