"""Fixtures for the model tests: small models trained once per session into a temp folder.

Training on a few thousand synthetic rows takes well under a second and is the real pipeline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.manifest import Manifest
from models.store import ModelStore
from models.train import train_all

TRAIN_ROWS = 2_000


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding all five models, trained on TRAIN_ROWS synthetic rows; never modified."""
    folder = tmp_path_factory.mktemp("models")
    train_all(folder, rows=TRAIN_ROWS, seed=0)
    return folder


@pytest.fixture(scope="session")
def manifests(trained_dir: Path) -> dict[str, Manifest]:
    return {manifest.name: manifest for manifest in ModelStore(trained_dir).manifests()}


@pytest.fixture
def models_copy(trained_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the trained models, for tests that tamper with files."""
    copy = tmp_path / "models"
    shutil.copytree(trained_dir, copy)
    return copy
