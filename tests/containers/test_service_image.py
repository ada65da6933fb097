"""The service image, built and run: consumers and the decision service as containers on Kafka.

The broker is the session's real one on the host's loopback, so the containers share the host's
network; rides go in through the producer CLI on the host, decisions are read back exactly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.ops.settings import IMAGE_HTTP_PORT
from streamjury.schemas import Decision
from streamjury.settings import KafkaSettings
from streamjury.streams.base import Record
from streamjury.streams.kafka import KafkaBackend
from tests.containers.podman import Container, podman, run_once, start

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RIDES = 200
WAIT_S = 240.0
LOG_KEYS = {"time", "level", "logger", "message"}


def free_port() -> int:

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_until(condition: Callable[[], bool], what: str, *alive: Container) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        for container in alive:
            if not container.running():
                pytest.fail(f"{container.name} exited before {what}:\n{container.logs()[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def assert_json_logs(container: Container) -> None:
    lines = [line for line in container.logs().splitlines() if line.strip()]
    assert lines, f"{container.name} logged nothing"
    for line in lines:
        entry = json.loads(line)
        assert set(entry) >= LOG_KEYS, line


def pid1_uid(container: Container) -> int:
    """The real uid of the container's main process (the service itself, PID 1)."""
    status = container.exec("cat", "/proc/1/status")
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return int(uid_line.split()[1])


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


class Endpoints:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.url + path)

    def metric_total(self, name: str) -> float:
        status, body = self.get("/metrics")
        assert status == 200, body
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )


def read_stream(backend: KafkaBackend, stream: str) -> list[Record]:
    return [
        record
        for partition in backend.partitions(stream)
        for record in backend.read_partition(stream, partition)
    ]


def test_consumers_and_decision_service_run_as_containers_and_decide_every_ride(
    service_image: str, kafka_broker: LocalKafkaBroker, containers: list[Container]
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}-"
    env = {
        "STREAMJURY_BACKEND": "kafka",
        "STREAMJURY_KAFKA_BOOTSTRAP": kafka_broker.bootstrap_servers,
        "STREAMJURY_STREAM_PREFIX": prefix,
        # Host network: serve on the host's loopback only, on a port of the test's choosing.
        "STREAMJURY_HTTP_HOST": "127.0.0.1",
        "STREAMJURY_LAG_INTERVAL_S": "1",
    }
    run_once(service_image, ["streams", "create"], env=env)

    services: dict[str, tuple[Container, Endpoints]] = {}
    for name, command, group_var in [
        ("duration", ["consume", "duration"], "STREAMJURY_CONSUMER_GROUP"),
        ("tip", ["consume", "tip"], "STREAMJURY_CONSUMER_GROUP"),
        ("decision", ["decide"], "STREAMJURY_DECISION_GROUP"),
    ]:
        port = free_port()
        service_env = {**env, "STREAMJURY_HTTP_PORT": str(port), group_var: f"{prefix}{name}"}
        container = start(service_image, f"sj-{prefix}{name}", command, env=service_env)
        containers.append(container)
        services[name] = (container, Endpoints(port))
    alive = [container for container, _ in services.values()]
    for _container, endpoints in services.values():
        wait_until(lambda e=endpoints: e.get("/healthz")[0] == 200, "/healthz", *alive)
        wait_until(lambda e=endpoints: e.get("/readyz")[0] == 200, "/readyz", *alive)

    host_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    produce = [sys.executable, "-m", "streamjury.cli.main", "produce", "rides"]
    produce += ["--backend", "kafka", "--bootstrap", kafka_broker.bootstrap_servers]
    produce += ["--stream-prefix", prefix, "--count", str(RIDES), "--rate", "0"]
    subprocess.run(produce, check=True, env=host_env, capture_output=True, timeout=300)

    backend = KafkaBackend(KafkaSettings(bootstrap=kafka_broker.bootstrap_servers))
    try:
        rides = {record.key for record in read_stream(backend, f"{prefix}rides")}
        assert len(rides) == RIDES

        def decided() -> set[str]:
            return {record.key for record in read_stream(backend, f"{prefix}decisions")}

        wait_until(lambda: decided() == rides, "a decision for every ride", *alive)
        decisions = [
            Decision.model_validate_json(record.value)
            for record in read_stream(backend, f"{prefix}decisions")
        ]
    finally:
        backend.close()

    # Exactly one decision per ride, complete: both checks reported, no timeout fallback.
    assert Counter(d.event_id for d in decisions) == Counter(rides)
    assert {d.outcome for d in decisions} == {"estimate"}
    assert all(d.missing_checks == [] and d.estimate is not None for d in decisions)

    duration_http = services["duration"][1]
    decision_http = services["decision"][1]
    wait_until(
        lambda: duration_http.metric_total("streamjury_records_in_total") == RIDES,
        "the duration consumer's records_in to count every ride",
        *alive,
    )
    assert duration_http.metric_total("streamjury_verdicts_out_total") == RIDES
    assert decision_http.metric_total("streamjury_decisions_out_total") == RIDES
    readiness = json.loads(duration_http.get("/readyz")[1])
    assert (readiness["ready"], readiness["waiting_for"]) == (True, [])
    assert readiness["details"]["model"]["refusals"] == 0

    for container in alive:
        assert pid1_uid(container) == 10001
    for container in alive:
        assert container.stop() == 0, container.logs()[-3000:]  # SIGTERM: a clean exit
        assert_json_logs(container)


def test_the_image_defaults_serve_health_readiness_and_metrics_through_a_published_port(
    service_image: str, containers: list[Container]
) -> None:
    """No host network: the image's own settings (0.0.0.0:9108), reached through ``-p``, on
    the embedded local log inside the container."""
    host_port = free_port()
    started = time.monotonic()
    publish = ["--publish", f"127.0.0.1:{host_port}:{IMAGE_HTTP_PORT}"]
    name = f"sj-published-{uuid.uuid4().hex[:8]}"
    container = start(
        service_image, name, ["consume", "duration"], extra=publish, network_host=False
    )
    containers.append(container)
    endpoints = Endpoints(host_port)
    wait_until(lambda: endpoints.get("/healthz")[0] == 200, "/healthz", container)
    healthy_s = time.monotonic() - started
    wait_until(lambda: endpoints.get("/readyz")[0] == 200, "/readyz", container)
    ready_s = time.monotonic() - started
    print(f"service cold start: /healthz after {healthy_s:.1f} s, /readyz after {ready_s:.1f} s")
    status, metrics = endpoints.get("/metrics")
    assert status == 200
    assert 'streamjury_ready{check="duration",service="consumer"} 1.0' in metrics
    assert "streamjury_model_info{" in metrics

    # What HEALTHCHECK would run (podman does not schedule it here): the probe, in the container.
    health = json.loads(
        podman("image", "inspect", "--format", "{{json .HealthCheck}}", service_image)
    )
    assert health["Test"] == ["CMD", "python", "-m", "streamjury.ops.probe"]
    container.exec("python", "-m", "streamjury.ops.probe")  # raises unless it exits 0
    assert (
        podman("image", "inspect", "--format", "{{.Config.User}}", service_image).strip()
        == "10001:10001"
    )
    assert pid1_uid(container) == 10001
    assert container.stop() == 0
    assert_json_logs(container)
