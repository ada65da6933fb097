"""Shadow and canary settings of the Lambda function: the consumer's env var names, dry-run output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from consumers.lambda_handler import handler
from consumers.lambda_settings import LambdaSettings
from models.store import ModelStore
from tests.unit.lambda_.support import load_event
from tests.unit.models.support import add_version


def test_shadow_and_canary_are_read_under_the_consumers_env_var_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMJURY_CHECK", "duration")
    monkeypatch.setenv("STREAMJURY_CONSUMER_SHADOW", "candidate")
    monkeypatch.setenv("STREAMJURY_CONSUMER_CANARY", "duration-v2")
    monkeypatch.setenv("STREAMJURY_CONSUMER_CANARY_PERCENT", "12.5")
    monkeypatch.setenv("STREAMJURY_SHADOW_STREAM", "prod-verdicts-shadow")

    settings = LambdaSettings()

    assert (settings.shadow, settings.canary, settings.canary_percent) == (
        "candidate",
        "duration-v2",
        12.5,
    )
    assert settings.shadow_stream == "prod-verdicts-shadow"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMJURY_CONSUMER_CANARY_PERCENT", "101"),
        ("STREAMJURY_CONSUMER_SHADOW", "../other"),
    ],
)
def test_a_bad_share_or_reference_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("STREAMJURY_CHECK", "duration")
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        LambdaSettings()


@pytest.mark.usefixtures("fresh_cold_start")
def test_a_dry_run_returns_arm_labelled_verdicts_and_the_shadow_pairs(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    live = ModelStore(models).version("duration")
    add_version(models, "duration", "duration-v2")
    for name, value in {
        "STREAMJURY_CHECK": "duration",
        "STREAMJURY_MODELS": str(models),
        "STREAMJURY_DRY_RUN": "1",
        "STREAMJURY_CONSUMER_SHADOW": "duration-v2",
        "STREAMJURY_CONSUMER_CANARY": "duration-v2",
        "STREAMJURY_CONSUMER_CANARY_PERCENT": "100",
    }.items():
        monkeypatch.setenv(name, value)
    event = load_event("kinesis-rides")

    response = handler(event, None)

    verdicts, pairs = response["verdicts"], response["shadowVerdicts"]
    assert verdicts
    assert {(v["arm"], v["model_version"]) for v in verdicts} == {("canary", "duration-v2")}
    assert [p["live"] for p in pairs] == verdicts
    assert {p["shadow"]["model_version"] for p in pairs} == {"duration-v2"}
    assert live != "duration-v2"
