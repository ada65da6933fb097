"""The tip check: expected tip in dollars for each ride; zero for cash and other untipped payments.

Reads ``rides``; a Prediction's ``value`` is in dollars and never negative.
"""

from __future__ import annotations

from consumers.checks._ride_value import ride_value_spec
from models.rides import TipRegressor

MODEL_NAME = "tip"

SPEC = ride_value_spec(
    check_name="tip",
    model_name=MODEL_NAME,
    regressor_type=TipRegressor,
    description="Expected tip in dollars; cash tips are unrecorded, so cash rides predict 0.",
)
