"""A warm Lambda function follows its model alias: re-read every STREAMJURY_MODEL_POLL_S."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from consumers.lambda_handler import handler
from models.store import ModelStore
from tests.unit.lambda_.support import load_event
from tests.unit.models.support import add_version

POLL_S = 0.2


@pytest.fixture
def models(models_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    return copy


@pytest.fixture
def warm_env(monkeypatch: pytest.MonkeyPatch, models: Path, fresh_cold_start: None) -> None:
    monkeypatch.setenv("STREAMJURY_CHECK", "duration")
    monkeypatch.setenv("STREAMJURY_MODELS", str(models))
    monkeypatch.setenv("STREAMJURY_DRY_RUN", "1")
    monkeypatch.setenv("STREAMJURY_MODEL_POLL_S", str(POLL_S))


def versions_of(response: object) -> set[str]:
    assert isinstance(response, dict)
    return {verdict["model_version"] for verdict in response["verdicts"]}


@pytest.mark.usefixtures("warm_env")
def test_a_warm_function_serves_the_promoted_version_after_the_poll_interval(
    models: Path,
) -> None:
    event = load_event("kinesis-rides")
    old = ModelStore(models).version("duration")
    first = handler(event, None)
    add_version(models, "duration", "duration-v2")
    ModelStore(models).promote("duration", "duration-v2")

    time.sleep(POLL_S * 2)
    after = handler(event, None)

    assert versions_of(first) == {old}
    assert versions_of(after) == {"duration-v2"}


@pytest.mark.usefixtures("warm_env")
def test_a_warm_function_keeps_its_version_when_the_promoted_one_is_tampered(
    models: Path,
) -> None:
    event = load_event("kinesis-rides")
    old = ModelStore(models).version("duration")
    handler(event, None)
    add_version(models, "duration", "duration-v2")
    (models / "duration" / "versions" / "duration-v2" / "model.joblib").write_bytes(b"tampered")
    (models / "duration" / "aliases.json").write_text(
        (models / "duration" / "aliases.json").read_text().replace(old, "duration-v2")
    )

    time.sleep(POLL_S * 2)
    after = handler(event, None)

    assert versions_of(after) == {old}
