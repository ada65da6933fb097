"""Fixtures for the check tests: real models trained once per session, and event builders.

The checks are tested against real (small) trained artifacts loaded through the real store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.store import ModelStore
from models.train import train_all
from streamjury.schemas import RideEvent, UploadEvent

TRAIN_ROWS = 2_000
WHEN = datetime(2024, 7, 1, 12, 30, tzinfo=UTC)  # a Monday, 08:30 in New York

RideBuilder = Callable[..., RideEvent]
UploadBuilder = Callable[..., UploadEvent]


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    folder: Path = tmp_path_factory.mktemp("check-models")
    train_all(folder, rows=TRAIN_ROWS, seed=0)
    return ModelStore(folder)


@pytest.fixture
def build_ride() -> RideBuilder:
    """A valid card-paid ride at 08:30 on a Monday; keyword arguments override fields."""

    def build(event_id: str = "ride-1", **changes: Any) -> RideEvent:
        fields: dict[str, Any] = {
            "event_id": event_id,
            "occurred_at": WHEN,
            "VendorID": 2,
            "pickup_datetime": WHEN,
            "PULocationID": 161,
            "DOLocationID": 161,
            "trip_distance": 1.0,
            "passenger_count": 1,
            "payment_type": 1,
            "fare_amount": 9.0,
        }
        return RideEvent.model_validate({**fields, **changes})

    return build


@pytest.fixture
def build_upload() -> UploadBuilder:
    """A valid, unremarkable upload from an established account; keywords override fields."""

    def build(event_id: str = "upload-1", **changes: Any) -> UploadEvent:
        fields: dict[str, Any] = {
            "event_id": event_id,
            "occurred_at": WHEN,
            "uploader_id": "user-1",
            "title": "Garden tour",
            "description": "A summer garden tour with the family.",
            "tags": ["garden", "summer"],
            "duration_seconds": 240.0,
            "content_fingerprint": "0123456789abcdef",
            "uploader_account_age_days": 900,
            "uploader_prior_strikes": 0,
        }
        return UploadEvent.model_validate({**fields, **changes})

    return build
