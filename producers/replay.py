"""Replays a recorded events file on its own timeline: the gaps between events, sped up or not.

The pacing follows each event's ``occurred_at``; ``max`` drops the timeline and sends as fast
as batching allows. The records themselves go through the ordinary publisher, byte for byte.
"""

from __future__ import annotations

import math
from datetime import datetime

from producers.publisher import Outgoing
from streamjury.errors import ConfigError

SPEED_HELP = "a factor like 1 (real time) or 10 (ten times faster), or 'max'"


def parse_speed(text: str) -> float | None:
    """A ``--speed`` value: a positive factor (``10`` or ``10x``), or None for ``max``."""
    value = text.strip().lower()
    if value == "max":
        return None
    try:
        speed = float(value.removesuffix("x"))
    except ValueError:
        raise ConfigError(f"cannot read speed {text!r}: expected {SPEED_HELP}") from None
    if not (math.isfinite(speed) and speed > 0):
        raise ConfigError(f"speed must be positive, got {text!r}: expected {SPEED_HELP}")
    return speed


class EventTimePacing:
    """An item is due when its ``occurred_at`` is, relative to the first item's, over ``speed``.

    Events earlier than the first are due at once. A replay that falls behind catches up, so it
    ends when the original timeline does.
    """

    max_lateness = math.inf

    def __init__(self, speed: float | None) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"speed must be positive, got {speed}")
        self._speed = speed
        self._origin: datetime | None = None
        self._previous = 0.0
        self._latest = 0.0

    def due(self, item: Outgoing) -> float:
        if self._speed is None:
            return 0.0
        if item.occurred_at is None:
            return self._previous  # no time of its own: it travels with the item before it
        if self._origin is None:
            self._origin = item.occurred_at
        self._previous = (item.occurred_at - self._origin).total_seconds() / self._speed
        self._latest = max(self._latest, self._previous)
        return self._previous

    def finish(self) -> float:
        return self._latest
