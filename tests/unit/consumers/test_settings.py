"""Specification of ConsumerSettings: defaults, env vars, and explicit values winning over them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumers.settings import ConsumerSettings
from streamjury.streams.base import StartKind


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BATCH_SIZE", "BATCH_TIMEOUT_MS", "GROUP", "START", "MODELS", "CHECK"):
        monkeypatch.delenv(f"STREAMJURY_{name}", raising=False)


def test_defaults_batch_500_records_or_50_ms_from_the_beginning() -> None:
    settings = ConsumerSettings(check="duration")

    assert (settings.batch_size, settings.batch_timeout_ms) == (500, 50)
    assert settings.start_from.kind is StartKind.EARLIEST


def test_the_group_defaults_to_one_per_check() -> None:
    assert ConsumerSettings(check="tip").group_name == "streamjury-tip"
    assert ConsumerSettings(check="tip", group="tips-v2").group_name == "tips-v2"


def test_the_default_group_lives_under_the_stream_prefix() -> None:
    settings = ConsumerSettings(check="tip", stream_prefix="blue-")
    assert settings.group_name == "blue-streamjury-tip"
    assert ConsumerSettings(check="tip", stream_prefix="green-").group_name != settings.group_name


def test_env_vars_configure_the_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_CONSUMER_BATCH_SIZE", "64")
    monkeypatch.setenv("STREAMJURY_CONSUMER_START", "latest")
    monkeypatch.setenv("STREAMJURY_MODELS", "s3://models/prod")

    settings = ConsumerSettings(check="nsfw")

    assert settings.batch_size == 64
    assert settings.start_from.kind is StartKind.LATEST
    assert settings.models == "s3://models/prod"


def test_explicit_values_win_over_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_CONSUMER_BATCH_SIZE", "64")

    assert ConsumerSettings(check="nsfw", batch_size=8).batch_size == 8


def test_the_runtime_gets_the_batching_settings() -> None:
    config = ConsumerSettings(check="duration", batch_size=7, batch_timeout_ms=3).runtime_config()

    assert (config.batch_size, config.batch_timeout_ms) == (7, 3)


@pytest.mark.parametrize("field", ["batch_size", "batch_timeout_ms"])
def test_a_batch_setting_below_one_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ConsumerSettings.model_validate({"check": "duration", field: 0})
