"""Specification of the shared settings: env vars, CLI overrides, and secret masking."""

from __future__ import annotations

import click
import pytest
from pydantic_settings import SettingsError

from streamjury.cli.options import backend_options, build_settings
from streamjury.errors import ConfigError
from streamjury.settings import BackendSettings, KinesisSettings, describe_settings_error


def parse_flags(args: list[str]) -> BackendSettings:
    captured: list[BackendSettings] = []

    @click.command()
    @backend_options
    def command(backend_flags: dict[str, object]) -> None:
        captured.append(build_settings(BackendSettings, backend_flags))

    command.main(args, standalone_mode=False)
    return captured[0]


def test_defaults_select_the_embedded_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMJURY_BACKEND", raising=False)
    assert parse_flags([]).backend == "local"


def test_flags_win_over_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_BACKEND", "kinesis")
    monkeypatch.setenv("STREAMJURY_KAFKA_BOOTSTRAP", "env-host:1")
    settings = parse_flags(["--backend", "kafka", "--bootstrap", "flag-host:2"])
    assert settings.backend == "kafka"
    assert settings.kafka.bootstrap == "flag-host:2"


def test_kinesis_endpoint_flag_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env:1")
    settings = parse_flags(["--kinesis-endpoint", "http://from-flag:2"])
    assert settings.kinesis.endpoint_url == "http://from-flag:2"


def test_kinesis_endpoint_follows_aws_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://kinesis:2")
    assert KinesisSettings().endpoint_url == "http://kinesis:2"


def test_secrets_are_masked_in_the_settings_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_KAFKA_SASL_PASSWORD", "hunter2")
    dumped = str(BackendSettings().masked())
    assert "hunter2" not in dumped
    assert "**" in dumped


def test_a_bad_env_var_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_LOCAL_PARTITIONS", "many")
    with pytest.raises(ConfigError, match="STREAMJURY_LOCAL_PARTITIONS"):
        parse_flags([])


def test_service_fields_read_only_their_namespaced_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    from consumers.settings import ConsumerSettings
    from decision.settings import DecisionSettings

    monkeypatch.setenv("STREAMJURY_BATCH_SIZE", "7")
    monkeypatch.setenv("STREAMJURY_DECISION_BATCH_SIZE", "9")
    assert DecisionSettings().batch_size == 9
    assert ConsumerSettings(check="duration").batch_size == 500


def test_service_fields_accept_their_names_as_overrides() -> None:
    from decision.settings import DecisionSettings

    assert DecisionSettings(batch_size=3).batch_size == 3


def test_an_env_var_that_is_not_json_is_named_and_its_value_never_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = '{"sasl.password": "hunter2-hunter2"'
    monkeypatch.setenv("STREAMJURY_KAFKA_EXTRA", broken)

    with pytest.raises(SettingsError) as raised:
        BackendSettings()
    message = describe_settings_error(raised.value)

    assert message.startswith("STREAMJURY_KAFKA_EXTRA must be JSON")
    assert "hunter2" not in message
