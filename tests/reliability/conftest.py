"""Fixtures of the reliability suite: real models trained once, and one real event of each type."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.store import ModelStore, ensure_trained
from producers.synthetic import generate_rides, generate_uploads
from streamjury.schemas import RideEvent, UploadEvent, utc_now

TRAIN_ROWS = 2_000


@pytest.fixture(scope="session")
def reliability_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five models, small but real, trained once for the suite."""
    folder = tmp_path_factory.mktemp("reliability-models")
    ensure_trained(folder, rows=TRAIN_ROWS)
    return folder


@pytest.fixture(scope="session")
def model_store(reliability_models: Path) -> ModelStore:
    return ModelStore(reliability_models)


@pytest.fixture(scope="session")
def a_ride() -> RideEvent:
    return generate_rides(3, 1, utc_now())[0].event


@pytest.fixture(scope="session")
def an_upload() -> UploadEvent:
    return generate_uploads(3, 1, utc_now())[0].event
