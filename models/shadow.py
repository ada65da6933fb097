"""The record a shadow model writes: its verdict beside the live verdict for the same event.

Pairs are written by the consumer that scored both, so comparing them needs no join; the
predict times are per batch (both models scored the same events), so they compare fairly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamjury.schemas import SCHEMA_VERSION, Verdict, WireModel


class ShadowVerdict(WireModel):
    """One event scored by the live model and by its shadow, in the same batch."""

    schema_version: Literal[1] = SCHEMA_VERSION
    live: Verdict
    shadow: Verdict
    batch_events: int = Field(ge=1)
    live_predict_s: float = Field(ge=0)
    """Seconds the live model's predict took for the whole batch."""
    shadow_predict_s: float = Field(ge=0)

    @property
    def check(self) -> str:
        return self.live.check
