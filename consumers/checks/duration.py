"""The duration check: expected trip minutes for each ride, from what is known at pickup.

Reads ``rides``; a Prediction's ``value`` is in minutes.
"""

from __future__ import annotations

from consumers.checks._ride_value import ride_value_spec
from models.rides import DurationRegressor

MODEL_NAME = "duration"

SPEC = ride_value_spec(
    check_name="duration",
    model_name=MODEL_NAME,
    regressor_type=DurationRegressor,
    description="Expected trip duration in minutes (ridge regression on TLC-style features).",
)
