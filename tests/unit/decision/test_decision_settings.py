"""Specification of the decision settings: defaults, STREAMJURY_DECISION_* env vars, flags win."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from decision.settings import DecisionSettings


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMJURY_DECISION_RETENTION_S", raising=False)
    monkeypatch.delenv("STREAMJURY_DECISION_GROUP", raising=False)

    settings = DecisionSettings()

    assert settings.group == "streamjury-decision"
    assert settings.retention_s == 3600.0
    assert settings.policy is None


def test_the_default_group_lives_under_the_stream_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMJURY_DECISION_GROUP", raising=False)
    monkeypatch.setenv("STREAMJURY_STREAM_PREFIX", "blue-")

    assert DecisionSettings().group == "blue-streamjury-decision"
    assert DecisionSettings(group="mine").group == "mine"


def test_env_vars_configure_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_DECISION_RETENTION_S", "120")
    monkeypatch.setenv("STREAMJURY_DECISION_POLICY", "/etc/streamjury/policy.toml")
    monkeypatch.setenv("STREAMJURY_BACKEND", "memory")

    settings = DecisionSettings()

    assert settings.retention_s == 120.0
    assert settings.policy == Path("/etc/streamjury/policy.toml")
    assert settings.backend == "memory"


def test_flags_win_over_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_DECISION_BATCH_SIZE", "10")

    settings = DecisionSettings(batch_size=20)

    assert settings.batch_size == 20


def test_an_unprefixed_env_var_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_S", "5")
    monkeypatch.delenv("STREAMJURY_DECISION_RETENTION_S", raising=False)

    assert DecisionSettings().retention_s == 3600.0


def test_a_non_positive_retention_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_DECISION_RETENTION_S", "0")

    with pytest.raises(ValidationError):
        DecisionSettings()
