"""Fixtures for the consumer runtime's tests: the arithmetic ride check and event builders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from consumers.check import CheckSpec
from models.store import ModelStore, ensure_trained
from models.train import ride_data, train_duration
from streamjury.streams.base import Record
from tests.unit.consumers.doubles import (
    RIDES,
    MinutesPerMileModel,
    RecordFactory,
    RideFactory,
    ride_check,
)

WHEN = "2026-01-15T08:30:00Z"
TRAINING_ROWS = 300


@pytest.fixture
def model() -> MinutesPerMileModel:
    return MinutesPerMileModel()


@pytest.fixture
def spec(model: MinutesPerMileModel) -> CheckSpec:
    return ride_check(model)


@pytest.fixture
def make_ride() -> RideFactory:
    """A valid ride event as a JSON-ready dict; keyword arguments replace fields."""

    def make(**changes: Any) -> dict[str, Any]:
        ride: dict[str, Any] = {
            "schema_version": 1,
            "event_id": "ride-1",
            "event_type": "ride",
            "occurred_at": WHEN,
            "VendorID": 2,
            "pickup_datetime": WHEN,
            "PULocationID": 132,
            "DOLocationID": 236,
            "trip_distance": 17.4,
            "passenger_count": 1,
            "payment_type": 1,
            "fare_amount": 70.0,
        }
        ride.update(changes)
        return ride

    return make


@pytest.fixture
def make_record() -> RecordFactory:
    """A record as read from partition 0 of the rides stream; dicts are encoded as JSON."""

    def make(value: bytes | dict[str, Any], offset: int = 0, key: str = "k") -> Record:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return Record(RIDES, "0", offset, key, raw, 1_700_000_000_000)

    return make


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five real models, trained small, once per test session."""
    folder = tmp_path_factory.mktemp("consumer-models")
    ensure_trained(folder, rows=TRAINING_ROWS)
    return folder


@pytest.fixture
def models(trained_models: Path, tmp_path: Path) -> Path:
    """The trained models plus a second, differently trained duration version (not promoted):
    the candidate of the canary and shadow tests."""
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    train_duration(ride_data(300, 9, None), copy, 9)
    return copy


def candidate(models: Path) -> str:
    """The duration version in ``models`` that is not the live one."""
    live = ModelStore(models).version("duration")
    return next(m.version for m in ModelStore(models).versions("duration") if m.version != live)
