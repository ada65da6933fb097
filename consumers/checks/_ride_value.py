"""What the duration and tip checks share: a ride regressor whose prediction is a rounded value.

Not a check itself (no ``SPEC``); each check module builds its spec with ``ride_value_spec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy.typing as npt

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from consumers.checks._rounding import round_like_python
from models.features import RideColumns
from models.store import load_typed
from streamjury.schemas import RideEvent, UploadEvent

VALUE_DIGITS = 2
"""Minutes and dollars are published to the hundredth."""


class RideRegressor(Protocol):
    """A fitted model that turns ride columns into one number per ride."""

    def predict(self, columns: RideColumns) -> npt.NDArray[Any]: ...


@dataclass
class RideValueModel:
    name: str
    version: str
    regressor: RideRegressor

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        values = self.regressor.predict(RideColumns.from_events(events))
        return [Prediction(value=v) for v in round_like_python(values, VALUE_DIGITS)]


def ride_value_spec(
    check_name: str, model_name: str, regressor_type: type[RideRegressor], description: str
) -> CheckSpec:
    """A check over ``rides`` whose ``value`` is ``regressor_type``'s prediction, rounded."""

    def load_model(source: ModelSource) -> CheckModel:
        return RideValueModel(
            name=model_name,
            version=source.version(model_name),
            regressor=load_typed(source, model_name, regressor_type),
        )

    return CheckSpec(
        name=check_name,
        event_type="ride",
        stream="rides",
        load_model=load_model,
        description=description,
    )
