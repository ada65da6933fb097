"""Secrets given to a process never come out of it: not in an error, a log line, ``/metrics`` or
``/readyz``, while what comes out still says what is wrong.

Every secret is set the way an operator sets it (environment variables), and every surface is
driven for real: the CLI refusing a setting, a decision service that cannot log in to the real
Kafka broker (it speaks PLAINTEXT, the service SASL), scraped over HTTP while it retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from tests.integration.ops.support import STREAMJURY, WAIT_S, Service, free_port, wait_for
from tests.signals import restore_default_signals

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SASL_PASSWORD = "sasl-Pa55word-3f9c1e"
KEY_PASSWORD = "ssl-key-Pa55-77b2d0"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN0123456789"
URL_PASSWORD = "url-Pa55word-c0ffee"
SECRETS = (SASL_PASSWORD, KEY_PASSWORD, AWS_SECRET, AWS_TOKEN, URL_PASSWORD)


def secret_env(**more: str) -> dict[str, str]:
    """The outer environment without STREAMJURY_*, plus every kind of secret an operator sets."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    return {
        **clean,
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_TOKEN,
        "MLFLOW_TRACKING_URI": f"http://mlflow-user:{URL_PASSWORD}@127.0.0.1:1",
        **more,
    }


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, f"a secret leaked:\n{output}"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMJURY, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_kafka_extra_that_is_not_json_is_named_without_echoing_its_passwords() -> None:
    broken = json.dumps({"ssl.key.password": KEY_PASSWORD, "sasl.password": SASL_PASSWORD})[:-1]
    env = secret_env(STREAMJURY_KAFKA_EXTRA=broken, STREAMJURY_BACKEND="kafka")

    for args in (("config", "show", "consume", "--check", "duration"), ("decide",)):
        result = run_cli(*args, env=env)

        assert result.returncode == 2, result.stderr
        assert_no_secret(result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("streamjury: error:")
        assert "STREAMJURY_KAFKA_EXTRA must be JSON" in line


def test_a_wrongly_typed_kafka_extra_names_the_key_not_the_value() -> None:
    extra = json.dumps({"ssl.key.password": 12345, "sasl.password": SASL_PASSWORD})
    env = secret_env(STREAMJURY_KAFKA_EXTRA=extra, STREAMJURY_KAFKA_SASL_PASSWORD=KEY_PASSWORD)

    result = run_cli("config", "show", "consume", "--check", "duration", env=env)

    assert result.returncode == 2, result.stderr
    assert_no_secret(result.stdout, result.stderr)
    assert "STREAMJURY_KAFKA_EXTRA" in result.stderr
    assert "key 'ssl.key.password'" in result.stderr


def test_an_error_quoting_a_models_url_masks_its_password(tmp_path: Path) -> None:
    models = f"http://models-user:{URL_PASSWORD}@127.0.0.1:1/models"
    env = secret_env(STREAMJURY_MODELS=models)

    result = run_cli("consume", "duration", "--local-dir", str(tmp_path / "log"), env=env)

    assert result.returncode != 0
    assert_no_secret(result.stdout, result.stderr)
    assert "streamjury: error:" in result.stderr
    assert "http://models-user:**********@127.0.0.1:1/models" in result.stderr


def kafka_env(broker: LocalKafkaBroker, **more: str) -> dict[str, str]:
    """A decision service on the real broker with passwords in STREAMJURY_KAFKA_EXTRA (as the
    issue reported them) and logs at DEBUG, so every client config it logs is logged."""
    return secret_env(
        STREAMJURY_BACKEND="kafka",
        STREAMJURY_KAFKA_BOOTSTRAP=broker.bootstrap_servers,
        STREAMJURY_KAFKA_SASL_USERNAME="alice",
        STREAMJURY_KAFKA_EXTRA=json.dumps(
            {"sasl.password": SASL_PASSWORD, "ssl.key.password": KEY_PASSWORD}
        ),
        STREAMJURY_STREAM_PREFIX=f"t{uuid.uuid4().hex[:10]}-",
        STREAMJURY_LOG_LEVEL="DEBUG",
        **more,
    )


def test_a_service_that_cannot_log_in_says_why_and_shows_no_secret(
    kafka_broker: LocalKafkaBroker,
) -> None:
    env = kafka_env(  # the broker speaks PLAINTEXT only: the SASL handshake fails
        kafka_broker,
        STREAMJURY_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        STREAMJURY_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
    )

    result = run_cli("decide", env=env)

    assert result.returncode == 1, result.stderr
    assert_no_secret(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("streamjury: error:")]
    assert len(errors) == 1, result.stderr
    assert "Kafka could not read the cluster metadata" in errors[0]
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(
        line["level"] == "ERROR"
        and "SASL SCRAM-SHA-512 mechanism handshake failed" in line["message"]
        for line in logged
    ), result.stderr
    assert any("'sasl.password': '**********'" in line["message"] for line in logged)


@pytest.fixture
def decision(kafka_broker: LocalKafkaBroker, tmp_path: Path) -> Iterator[Service]:
    """``streamjury decide`` on the real broker with secrets in its config, serving HTTP."""
    port = free_port()
    stderr = tmp_path / "decide.log"
    env = kafka_env(
        kafka_broker,
        STREAMJURY_KAFKA_SASL_PASSWORD=SASL_PASSWORD,
        STREAMJURY_HTTP_PORT=str(port),
    )
    with stderr.open("wb") as sink:  # a file, not a TTY: JSON lines
        process = subprocess.Popen(
            [STREAMJURY, "decide"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            preexec_fn=restore_default_signals,  # it is sent SIGTERM
        )
    service = Service(process, port, stderr)
    try:
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT_S)


def test_a_running_service_shows_no_secret_in_its_logs_metrics_or_readiness(
    decision: Service,
) -> None:
    wait_for(lambda: decision.get("/readyz")[0] == 200, "/readyz", decision)
    ready_status, ready_body = decision.get("/readyz")
    metrics_status, metrics_body = decision.get("/metrics")
    assert decision.stop() == 0
    logs = decision.stderr.read_text()

    assert ready_status == 200
    assert json.loads(ready_body)["ready"] is True
    assert metrics_status == 200
    assert 'streamjury_ready{check="",service="decision"} 1.0' in metrics_body
    assert_no_secret(logs, ready_body, metrics_body)
    assert "sasl_password=**********" in logs  # it says it has a password, without showing it
    assert "'ssl.key.password': '**********'" in logs
