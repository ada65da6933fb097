"""Logical stream names and their physical names under a deployment's prefix.

Services speak of ``rides`` or ``verdicts``; the prefix lets several pipelines share one broker.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamjury.errors import UnknownStream

RIDES = "rides"
UPLOADS = "uploads"
VERDICTS = "verdicts"
DECISIONS = "decisions"
DEADLETTER = "deadletter"
DECISION_STATE = "decision-state"
"""The decision service's compacted changelog: its join state, written with its decisions."""
VERDICTS_SHADOW = "verdicts-shadow"
"""Shadow models' verdicts beside the live ones they shadow; the decision service never reads it."""

EVENT_STREAMS = (RIDES, UPLOADS)
PIPELINE_STREAMS = (RIDES, UPLOADS, VERDICTS, DECISIONS, DEADLETTER)
OUTCOMES = "outcomes"
"""Ground truth (``ride_completed``): what happened, joined with verdicts for live model quality."""
MODEL_LIFECYCLE_STREAMS = (VERDICTS_SHADOW, OUTCOMES)
ALL_STREAMS = (*PIPELINE_STREAMS, DECISION_STATE, *MODEL_LIFECYCLE_STREAMS)
COMPACTED_STREAMS = (DECISION_STATE,)
STREAM_OF_EVENT_TYPE = {"ride": RIDES, "upload": UPLOADS}


@dataclass(frozen=True, slots=True)
class StreamNames:
    """Maps logical names to physical ones: ``prefix + name``."""

    prefix: str = ""

    def physical(self, logical: str) -> str:
        if logical not in ALL_STREAMS:
            known = ", ".join(ALL_STREAMS)
            raise UnknownStream(f"unknown stream {logical!r}: expected one of {known}")
        return f"{self.prefix}{logical}"

    def logical(self, physical: str) -> str:
        """The logical name of a physical stream, for logs and positions."""
        if self.prefix and physical.startswith(self.prefix):
            return physical[len(self.prefix) :]
        return physical

    @property
    def rides(self) -> str:
        return self.physical(RIDES)

    @property
    def uploads(self) -> str:
        return self.physical(UPLOADS)

    @property
    def verdicts(self) -> str:
        return self.physical(VERDICTS)

    @property
    def decisions(self) -> str:
        return self.physical(DECISIONS)

    @property
    def deadletter(self) -> str:
        return self.physical(DEADLETTER)

    @property
    def verdicts_shadow(self) -> str:
        return self.physical(VERDICTS_SHADOW)

    @property
    def outcomes(self) -> str:
        return self.physical(OUTCOMES)

    @property
    def decision_state(self) -> str:
        return self.physical(DECISION_STATE)

    def all(self) -> list[str]:
        return [self.physical(name) for name in ALL_STREAMS]
