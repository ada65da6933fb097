"""Fixtures for the Lambda handler's tests: small real models, trained once per test module.

Training 300 synthetic rows per data set takes about a second and is the real pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.lambda_handler import COLD_START
from models.train import train_all
from tests.unit.lambda_.support import TRAIN_ROWS


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All five models, trained on TRAIN_ROWS synthetic rows; never modified."""
    folder = tmp_path_factory.mktemp("models")
    train_all(folder, rows=TRAIN_ROWS, seed=0)
    return folder


@pytest.fixture
def fresh_cold_start() -> Iterator[None]:
    """Each test starts as a new execution environment would, and leaves nothing behind."""
    COLD_START.clear()
    yield
    COLD_START.clear()
