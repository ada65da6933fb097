"""Settings of the producer commands (``produce``, ``replay``): what to send, how fast, how batched.

Env vars are ``STREAMJURY_PRODUCE_SEED``, ``_COUNT``, ``_RATE`` and ``_BATCH_SIZE``; the command's
flags, passed as init kwargs by field name, win over them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from producers.publisher import DEFAULT_BATCH_SIZE
from streamjury.settings import ENV_PREFIX, BackendSettings

DEFAULT_COUNT = 1000
_PRODUCE = f"{ENV_PREFIX}PRODUCE_"


class ProducerSettings(BackendSettings):
    """Backend settings plus the producer's own."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    seed: int = Field(default=0, ge=0, validation_alias=f"{_PRODUCE}SEED")
    """Seed of the synthetic generator: the same seed sends the same events."""
    count: int = Field(default=DEFAULT_COUNT, ge=1, validation_alias=f"{_PRODUCE}COUNT")
    """How many synthetic events to send."""
    rate: float = Field(
        default=0.0, ge=0.0, allow_inf_nan=False, validation_alias=f"{_PRODUCE}RATE"
    )
    """Events per second, steady; 0 sends as fast as possible."""
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE, ge=1, le=100_000, validation_alias=f"{_PRODUCE}BATCH_SIZE"
    )
    """Records per send and flush: batching is where the throughput comes from."""
