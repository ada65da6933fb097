"""The quality service's settings: STREAMJURY_QUALITY_* env vars, flags win, group under the prefix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from decision.quality.settings import QualitySettings
from streamjury.cli.options import build_settings


def test_env_vars_configure_the_window_and_the_group_lives_under_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMJURY_QUALITY_WINDOW_S", "600")
    monkeypatch.setenv("STREAMJURY_QUALITY_MAX_EVENTS", "1000")
    monkeypatch.setenv("STREAMJURY_STREAM_PREFIX", "blue-")
    monkeypatch.delenv("STREAMJURY_QUALITY_GROUP", raising=False)

    settings = QualitySettings()
    flagged = build_settings(QualitySettings, {}, window_s=30.0, group="mine")

    assert (settings.window_s, settings.max_events) == (600.0, 1000)
    assert settings.group == "blue-streamjury-quality"
    assert (flagged.window_s, flagged.group) == (30.0, "mine")


@pytest.mark.parametrize(("name", "value"), [("WINDOW_S", "0"), ("MAX_EVENTS", "0")])
def test_an_empty_window_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"STREAMJURY_QUALITY_{name}", value)

    with pytest.raises(ValidationError):
        QualitySettings()
