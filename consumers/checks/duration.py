"""The duration check: expected trip minutes for each ride, from what is known at pickup.

Reads ``rides``; a Prediction's ``value`` is in minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from consumers.checks._rounding import round_like_python
from models.features import RideColumns
from models.rides import DurationRegressor
from models.store import load_typed
from streamjury.schemas import RideEvent, UploadEvent

MODEL_NAME = "duration"


@dataclass
class DurationModel:
    name: str
    version: str
    regressor: DurationRegressor

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        minutes = self.regressor.predict(RideColumns.from_events(events))
        return [Prediction(value=m) for m in round_like_python(minutes, 2)]


def load_model(source: ModelSource) -> CheckModel:
    return DurationModel(
        name=MODEL_NAME,
        version=source.version(MODEL_NAME),
        regressor=load_typed(source, MODEL_NAME, DurationRegressor),
    )


SPEC = CheckSpec(
    name="duration",
    event_type="ride",
    stream="rides",
    load_model=load_model,
    description="Expected trip duration in minutes (ridge regression on TLC-style features).",
)
