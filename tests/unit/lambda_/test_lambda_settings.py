"""The handler's settings: the env var constants are the ones the settings really read.

``deploy`` and ``template.yaml`` set these names, so a typo here would break every function.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumers.lambda_settings import (
    ENV_CHECK,
    ENV_DEADLETTER_TARGET,
    ENV_DEADLINE_MARGIN_MS,
    ENV_DRY_RUN,
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_MODEL_CACHE,
    ENV_MODELS,
    ENV_OUTPUT_STREAM,
    ENV_SERVICE,
    ENV_TRACING,
    FUNCTION_ENV_VARS,
    LambdaSettings,
)
from consumers.lambda_sinks import Target, parse_target
from streamjury.errors import ConfigError


def test_each_env_var_constant_sets_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CHECK, "tip")
    monkeypatch.setenv(ENV_OUTPUT_STREAM, "prod-verdicts")
    monkeypatch.setenv(ENV_DEADLETTER_TARGET, "sqs:https://sqs.eu-west-1.amazonaws.com/1/dlq")
    monkeypatch.setenv(ENV_MODELS, "s3://bucket/models")
    monkeypatch.setenv(ENV_MODEL_CACHE, "/tmp/cache-here")
    monkeypatch.setenv(ENV_DRY_RUN, "1")
    monkeypatch.setenv(ENV_TRACING, "true")
    monkeypatch.setenv(ENV_DEADLINE_MARGIN_MS, "1500")
    monkeypatch.setenv(ENV_SERVICE, "fraud")
    monkeypatch.setenv(ENV_METRICS_NAMESPACE, "Fraud/Checks")
    monkeypatch.setenv(ENV_LOG_LEVEL, "debug")

    settings = LambdaSettings()

    assert settings.check == "tip"
    assert settings.output_stream == "prod-verdicts"
    assert settings.deadletter == Target("sqs", "https://sqs.eu-west-1.amazonaws.com/1/dlq")
    assert settings.models == "s3://bucket/models"
    assert str(settings.model_cache) == "/tmp/cache-here"
    assert settings.dry_run is True
    assert settings.tracing is True
    assert settings.deadline_margin_ms == 1500
    assert (settings.service, settings.metrics_namespace) == ("fraud", "Fraud/Checks")
    assert settings.log_level == "DEBUG"
    assert set(FUNCTION_ENV_VARS) == {
        ENV_CHECK,
        ENV_OUTPUT_STREAM,
        ENV_DEADLETTER_TARGET,
        ENV_MODELS,
        ENV_MODEL_CACHE,
        ENV_TRACING,
        ENV_SERVICE,
        ENV_METRICS_NAMESPACE,
        ENV_LOG_LEVEL,
    }


def test_the_check_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CHECK, raising=False)

    with pytest.raises(ValidationError, match="check"):
        LambdaSettings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kinesis:deadletter", Target("kinesis", "deadletter")),
        (
            "sqs:http://127.0.0.1:5000/123456789012/dlq",
            Target("sqs", "http://127.0.0.1:5000/123456789012/dlq"),
        ),
    ],
)
def test_targets_are_a_kind_and_an_address(text: str, expected: Target) -> None:
    assert parse_target(text) == expected
    assert str(parse_target(text)) == text


@pytest.mark.parametrize("text", ["deadletter", "kinesis:", "sns:topic", "sqs:dlq-by-name"])
def test_a_target_that_is_not_kinesis_or_sqs_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_target(text)
