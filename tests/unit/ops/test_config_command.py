"""``streamjury config show|env``: effective settings with their source, secrets never printed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from streamjury.cli.config import SERVICES, config
from streamjury.errors import ConfigError

SECRET = "correct-horse-battery-staple"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("STREAMJURY_CHECK", "STREAMJURY_BATCH_SIZE", "STREAMJURY_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_json_shows_env_over_defaults_and_masks_the_kafka_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("STREAMJURY_CONSUMER_BATCH_SIZE", "77")

    result = runner.invoke(config, ["show", "consume", "--check", "tip", "--format", "json"])

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    shown = json.loads(result.output)
    assert shown["check"] == "tip"
    assert shown["batch_size"] == 77
    assert shown["kafka"]["sasl_password"] == "**********"
    assert shown["kafka"]["bootstrap"] == "127.0.0.1:9092"


def test_the_table_names_the_variable_each_value_came_from(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("STREAMJURY_DECISION_BATCH_SIZE", "9")
    monkeypatch.setenv("COLUMNS", "200")

    result = runner.invoke(config, ["show", "decide"])

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "env STREAMJURY_DECISION_BATCH_SIZE" in lines["batch_size"]
    assert "default" in lines["retention_s"]
    assert "**********" in lines["kafka.sasl_password"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_can_be_shown(runner: CliRunner, service: str) -> None:
    args = ["show", service, "--format", "json"]
    if SERVICES[service].needs_check:
        args += ["--check", "duration"]
    result = runner.invoke(config, args)
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output), dict)


def test_a_per_check_service_without_a_check_is_a_config_error(runner: CliRunner) -> None:
    result = runner.invoke(config, ["show", "consume"])
    assert isinstance(result.exception, ConfigError)
    assert "--check" in str(result.exception)


def test_an_invalid_env_value_is_a_config_error_naming_the_field(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_HTTP_PORT", "99999")
    result = runner.invoke(config, ["show", "decide"])
    assert isinstance(result.exception, ConfigError)
    assert "http_port" in str(result.exception)


def test_env_lists_the_variables_a_service_reads(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(config, ["env", "decide"])
    assert result.exit_code == 0, result.output
    assert "STREAMJURY_DECISION_POLICY" in result.output
    assert "STREAMJURY_HTTP_PORT" in result.output


def test_secrets_in_kafka_extra_are_masked_and_their_source_is_the_env_var(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"ssl.key.password": SECRET, "sasl.password": SECRET[::-1], "ssl.key.location": "/k"}
    monkeypatch.setenv("STREAMJURY_KAFKA_EXTRA", json.dumps(extra))
    monkeypatch.setenv("COLUMNS", "250")

    table = runner.invoke(config, ["show", "consume", "--check", "duration"])
    as_json = runner.invoke(config, ["show", "consume", "--check", "duration", "--format", "json"])

    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert SECRET[::-1] not in result.output
    shown = json.loads(as_json.output)["kafka"]["extra"]
    assert shown == {
        "ssl.key.password": "**********",
        "sasl.password": "**********",
        "ssl.key.location": "/k",
    }
    lines = {line.split("│")[1].strip(): line for line in table.output.splitlines() if "│" in line}
    assert "env STREAMJURY_KAFKA_EXTRA" in lines["kafka.extra.sasl.password"]
