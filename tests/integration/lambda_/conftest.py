"""Fixtures for the Lambda integration tests: small real models, trained once per test module.

The servers themselves (kinesis-local, moto) are the session fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.train import train_all
from tests.aws_env import forget_developer_aws
from tests.unit.lambda_.support import TRAIN_ROWS


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All five models, trained on TRAIN_ROWS synthetic rows; never modified."""
    folder = tmp_path_factory.mktemp("models")
    train_all(folder, rows=TRAIN_ROWS, seed=0)
    return folder


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for clients the code under test builds itself (the servers accept any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    forget_developer_aws(monkeypatch)
