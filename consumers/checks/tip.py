"""The tip check: expected tip in dollars for each ride; zero for cash and other untipped payments.

Reads ``rides``; a Prediction's ``value`` is in dollars and never negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from consumers.checks._rounding import round_like_python
from models.features import RideColumns
from models.rides import TipRegressor
from models.store import load_typed
from streamjury.schemas import RideEvent, UploadEvent

MODEL_NAME = "tip"


@dataclass
class TipModel:
    name: str
    version: str
    regressor: TipRegressor

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        dollars = self.regressor.predict(RideColumns.from_events(events))
        return [Prediction(value=d) for d in round_like_python(dollars, 2)]


def load_model(source: ModelSource) -> CheckModel:
    return TipModel(
        name=MODEL_NAME,
        version=source.version(MODEL_NAME),
        regressor=load_typed(source, MODEL_NAME, TipRegressor),
    )


SPEC = CheckSpec(
    name="tip",
    event_type="ride",
    stream="rides",
    load_model=load_model,
    description="Expected tip in dollars; cash tips are unrecorded, so cash rides predict 0.",
)
