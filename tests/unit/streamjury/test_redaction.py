"""Redaction: the secret values a process knows never reach a log line, an error or a body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from streamjury.logs import JsonFormatter, RedactingFilter, configure_logging
from streamjury.masking import MASK
from streamjury.redaction import (
    SECRETS,
    environ_secrets,
    redact,
    remember_environ,
    settings_secrets,
)
from streamjury.settings import BackendSettings, KafkaSettings

SASL = "sasl-Pa55word-never-shown"
KEY_PASSWORD = "key-pa55-never-shown"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
URL_PASSWORD = "url-pa55-never-shown"


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    SECRETS.forget_all()
    yield
    SECRETS.forget_all()


def test_secret_named_variables_and_secret_keys_of_json_values_are_secrets() -> None:
    environ = {
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": "session-token-value",
        "STREAMJURY_KAFKA_SASL_PASSWORD": SASL,
        "STREAMJURY_KAFKA_EXTRA": json.dumps(
            {"ssl.key.password": KEY_PASSWORD, "ssl.key.location": "/etc/key.pem"}
        ),
        "MLFLOW_TRACKING_URI": f"https://alice:{URL_PASSWORD}@mlflow.example.com",
        "STREAMJURY_KAFKA_BOOTSTRAP": "broker:9092",
    }

    found = set(environ_secrets(environ))

    assert {AWS_SECRET, "session-token-value", SASL, KEY_PASSWORD, URL_PASSWORD} <= found
    assert "broker:9092" not in found
    assert "/etc/key.pem" not in found


def test_a_secret_in_json_too_broken_to_parse_is_still_found() -> None:
    broken = '{"sasl.password": "' + SASL + '", "ssl.key.password": 12'

    assert SASL in set(environ_secrets({"STREAMJURY_KAFKA_EXTRA": broken}))


def test_settings_secrets_are_found_at_any_depth() -> None:
    settings = BackendSettings(
        kafka=KafkaSettings(
            sasl_password=SecretStr(SASL), extra={"ssl.key.password": KEY_PASSWORD}
        ),
    )

    assert {SASL, KEY_PASSWORD} <= set(settings_secrets(settings))


def test_loading_settings_is_enough_for_their_secrets_to_be_redacted() -> None:
    BackendSettings(kafka=KafkaSettings(sasl_password=SecretStr(SASL)))

    assert redact(f"could not log in with {SASL}") == f"could not log in with {MASK}"


def test_redact_masks_known_values_and_url_passwords_and_keeps_the_rest() -> None:
    remember_environ({"AWS_SECRET_ACCESS_KEY": AWS_SECRET})
    text = f"key {AWS_SECRET} at http://bob:{URL_PASSWORD}@host:8080/x, nothing else"

    assert redact(text) == f"key {MASK} at http://bob:{MASK}@host:8080/x, nothing else"


def test_short_boolean_and_emulator_dummy_values_are_not_taken_for_secrets() -> None:
    remember_environ({"SOME_TOKEN": "1", "OTHER_SECRET": "true", "AWS_SECRET_ACCESS_KEY": "test"})

    assert redact("1 true 10, start from latest") == "1 true 10, start from latest"


def test_the_log_filter_redacts_message_arguments_and_tracebacks() -> None:
    remember_environ({"STREAMJURY_KAFKA_SASL_PASSWORD": SASL})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("config %s", {"sasl.password": SASL})
        try:
            raise ValueError(f"refused {SASL}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    output = stream.getvalue()
    assert SASL not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["message"] == f"config {{'sasl.password': '{MASK}'}}"
    assert f"ValueError: refused {MASK}" in lines[1]["exception"]


@pytest.mark.usefixtures("restore_root_logging")
@pytest.mark.parametrize("json_lines", [True, False])
def test_configured_logging_redacts_what_the_environment_holds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    configure_logging("INFO", json_lines=json_lines)

    logging.getLogger("tests.redaction").error("signing with %s failed", AWS_SECRET)

    err = capsys.readouterr().err
    assert AWS_SECRET not in err
    assert f"signing with {MASK} failed" in err
