"""Running services, scraped over HTTP: metrics follow the traffic, readiness follows the work.

Every service is its own OS process started as users start it (``streamjury consume``,
``streamjury decide``) on the local backend, with small real models and stderr piped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from producers.synthetic import generate_rides
from streamjury.streams.base import OutRecord
from streamjury.streams.local import LocalBackend
from tests.integration.ops.support import STREAMJURY, WAIT_S, Service, free_port, wait_for

pytestmark = pytest.mark.slow

CONSUMER = {"service": "consumer", "check": "duration"}
DECISION = {"service": "decision", "check": ""}


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def start(models: Path, log_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Starts ``streamjury ARGS`` serving its endpoints on a free loopback port."""
    started: list[Service] = []

    def run(*args: str) -> Service:
        port = free_port()
        stderr = tmp_path / f"stderr-{len(started)}.log"
        env = {
            **os.environ,
            "STREAMJURY_MODELS": str(models),
            "STREAMJURY_HTTP_PORT": str(port),
            "STREAMJURY_LAG_INTERVAL_S": "0.2",
        }
        command = [STREAMJURY, *args, "--backend", "local", "--local-dir", str(log_dir)]
        with stderr.open("wb") as sink:  # a file, not a TTY: the logs are JSON lines
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        service = Service(process, port, stderr)
        started.append(service)
        wait_for(lambda: service.get("/healthz")[0] == 200, "/healthz", service)
        return service

    yield run
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(WAIT_S)


def publish(log_dir: Path, stream: str, records: list[OutRecord]) -> None:
    backend = LocalBackend(log_dir)
    try:
        backend.ensure_streams([stream])
        producer = backend.producer()
        producer.send(stream, records)
        producer.flush()
        producer.close()
    finally:
        backend.close()


def produce_rides(log_dir: Path, count: int) -> None:
    """Through the real producer command, as an operator would."""
    subprocess.run(
        [
            STREAMJURY,
            "produce",
            "rides",
            "--count",
            str(count),
            "--seed",
            "4",
            "--backend",
            "local",
            "--local-dir",
            str(log_dir),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_consumers_counters_follow_its_traffic_and_its_logs_are_json_lines(
    start: Callable[..., Service], log_dir: Path
) -> None:
    consumer = start("consume", "duration")
    wait_for(lambda: consumer.get("/readyz")[0] == 200, "readiness", consumer)
    assert consumer.metric("streamjury_records_in_total", CONSUMER) == 0

    produce_rides(log_dir, 120)
    wait_for(
        lambda: consumer.metric("streamjury_verdicts_out_total", CONSUMER) == 120,
        "120 verdicts",
        consumer,
    )
    publish(log_dir, "rides", [OutRecord(f"bad-{n}", b"not json") for n in range(3)])
    wait_for(
        lambda: consumer.metric("streamjury_records_in_total", CONSUMER) == 123,
        "123 records",
        consumer,
    )

    dead = "streamjury_dead_letters_total"
    assert consumer.metric(dead, CONSUMER, reason="invalid_json") == 3
    assert consumer.metric(dead, CONSUMER, reason="validation") == 0
    assert consumer.metric("streamjury_verdicts_out_total", CONSUMER) == 120
    assert consumer.metric("streamjury_end_to_end_seconds_count", CONSUMER) == 120
    assert (consumer.metric("streamjury_batch_records_count", CONSUMER) or 0) >= 2
    assert (consumer.metric("streamjury_predict_seconds_count", CONSUMER) or 0) >= 1
    wait_for(
        lambda: (
            sum(
                consumer.metric(
                    "streamjury_consumer_lag_records", CONSUMER, stream="rides", partition=p
                )
                or 0
                for p in ("0", "1", "2", "3")
            )
            == 0
        ),
        "the lag to settle at 0",
        consumer,
    )
    assert consumer.stop() == 0

    lines = [json.loads(line) for line in consumer.log_lines()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    tagged = [line for line in lines if line.get("check") == "duration"]
    assert tagged, "no log line carries the check"
    assert all(line["service"] == "consumer" for line in tagged)
    assert any(line.get("stream") == "rides" for line in tagged)


def test_a_consumer_is_not_ready_while_another_member_owns_its_partitions(
    start: Callable[..., Service], log_dir: Path
) -> None:
    holder = LocalBackend(log_dir)
    holder.ensure_streams(["rides"])
    member = holder.consumer(["rides"], "streamjury-duration")
    member.poll(1, 0.2)  # takes the group's lease: the local log has one active member
    try:
        consumer = start("consume", "duration")
        wait_for(
            lambda: json.loads(consumer.get("/readyz")[1])["waiting_for"] == ["assignment"],
            "the model to load",
            consumer,
        )
        time.sleep(0.5)
        status, body = consumer.get("/readyz")
        assert status == 503
        readiness = json.loads(body)
        assert (readiness["ready"], readiness["waiting_for"]) == (False, ["assignment"])
        assert consumer.metric("streamjury_ready", CONSUMER) == 0
    finally:
        member.close()  # leaves the group: the lease is free
        holder.close()

    wait_for(lambda: consumer.get("/readyz")[0] == 200, "readiness after the handover", consumer)
    assert consumer.metric("streamjury_ready", CONSUMER) == 1
    assert consumer.stop() == 0


def test_the_decision_service_counts_its_decisions(
    start: Callable[..., Service], log_dir: Path
) -> None:
    decision = start("decide")
    wait_for(lambda: decision.get("/readyz")[0] == 200, "readiness", decision)
    ride = generate_rides(8, 1)[0].event
    verdicts = [
        {
            "schema_version": 1,
            "event_id": ride.event_id,
            "event_type": "ride",
            "check": check,
            "model_name": check,
            "model_version": "1",
            "value": value,
            "event_occurred_at": ride.occurred_at.isoformat(),
            "produced_at": ride.occurred_at.isoformat(),
            "source": {"stream": "rides", "partition": "0", "offset": 0},
        }
        for check, value in (("duration", 14.0), ("tip", 3.0))
    ]

    publish(
        log_dir,
        "verdicts",
        [OutRecord(ride.event_id, json.dumps(v).encode()) for v in verdicts],
    )

    wait_for(
        lambda: (
            decision.metric("streamjury_decisions_out_total", DECISION, outcome="estimate") == 1
        ),
        "the decision",
        decision,
    )
    assert decision.metric("streamjury_records_in_total", DECISION) == 2
    assert decision.metric("streamjury_end_to_end_seconds_count", DECISION) == 1
    assert decision.stop() == 0


def test_config_show_never_prints_the_kafka_password() -> None:
    secret = "pa55-w0rd-that-must-not-leak"
    env = {**os.environ, "STREAMJURY_KAFKA_SASL_PASSWORD": secret, "STREAMJURY_BACKEND": "kafka"}
    for output in ("json", "table"):
        result = subprocess.run(
            [STREAMJURY, "config", "show", "consume", "--check", "duration", "--format", output],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout + result.stderr
        assert "**********" in result.stdout
    shown = json.loads(
        subprocess.run(
            [STREAMJURY, "config", "show", "consume", "--check", "duration", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
    )
    assert shown["backend"] == "kafka"
    assert shown["kafka"]["sasl_password"] == "**********"


def test_a_config_error_is_one_line_on_stderr() -> None:
    result = subprocess.run(
        [STREAMJURY, "config", "show", "consume"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "STREAMJURY_CHECK"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamjury: error: this service runs one check: pass --check NAME or set STREAMJURY_CHECK"
    ]
