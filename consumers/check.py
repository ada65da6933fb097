"""The plug-in contract of a model check: which events it reads and one vectorised predict.

A check is a module exposing ``SPEC: CheckSpec``; the generic runtime does everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from models.store import ModelSource
from streamjury.schemas import DetailValue, RideEvent, UploadEvent

__all__ = ["CheckModel", "CheckSpec", "EventType", "ModelSource", "Prediction", "checks_name"]

EventType = Literal["ride", "upload"]


def checks_name(checks: Sequence[str]) -> str:
    """``duration+tip``: one name per set of checks, whatever order they were given in (in
    stages, logs, process and group names)."""
    return "+".join(sorted(checks))


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model output for one event; becomes the payload of a Verdict."""

    score: float | None = None
    value: float | None = None
    label: str | None = None
    details: dict[str, DetailValue] = field(default_factory=dict)


class CheckModel(Protocol):
    """A loaded, verified model ready to score a batch."""

    name: str
    version: str

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        """Exactly one Prediction per event, in order, from one vectorised call."""
        ...


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """Everything the runtime needs to know about one check."""

    name: str
    event_type: EventType
    stream: str
    """Logical input stream: ``rides`` or ``uploads``."""
    load_model: Callable[[ModelSource], CheckModel]
    description: str = ""
