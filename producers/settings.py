"""Settings of the producer commands (``produce``, ``replay``): what to send, how fast, how batched.

Env vars are ``STREAMJURY_SEED``, ``STREAMJURY_COUNT``, ``STREAMJURY_RATE`` and
``STREAMJURY_BATCH_SIZE``; the command's flags, passed as init kwargs, win over them.
"""

from __future__ import annotations

from pydantic import Field

from producers.publisher import DEFAULT_BATCH_SIZE
from streamjury.settings import BackendSettings

DEFAULT_COUNT = 1000


class ProducerSettings(BackendSettings):
    """Backend settings plus the producer's own."""

    seed: int = Field(default=0, ge=0)
    """Seed of the synthetic generator: the same seed sends the same events."""
    count: int = Field(default=DEFAULT_COUNT, ge=1)
    """How many synthetic events to send."""
    rate: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    """Events per second, steady; 0 sends as fast as possible."""
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=100_000)
    """Records per send and flush: batching is where the throughput comes from."""
