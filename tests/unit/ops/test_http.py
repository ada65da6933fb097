"""The operator HTTP server: liveness, readiness and Prometheus metrics on a loopback port."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from streamjury.errors import ConfigError
from streamjury.ops import http
from streamjury.ops.health import ASSIGNMENT, MODEL, Readiness
from streamjury.ops.http import OpsServer
from streamjury.redaction import SECRETS

Response = tuple[int, str, str]


def get(url: str, accept: str | None = None) -> Response:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("streamjury_records_in", "help", ["check"], registry=registry).labels("tip").inc(3)
    return registry


@pytest.fixture
def readiness() -> Readiness:
    return Readiness([MODEL, ASSIGNMENT])


@pytest.fixture
def server(registry: CollectorRegistry, readiness: Readiness) -> Iterator[OpsServer]:
    with OpsServer(registry, readiness, "127.0.0.1", 0) as server:
        yield server


def test_healthz_answers_while_the_process_is_alive(server: OpsServer) -> None:
    assert get(f"{server.url}/healthz")[0] == 200


def test_readyz_is_503_with_what_it_waits_for_then_200(
    server: OpsServer, readiness: Readiness
) -> None:
    status, content_type, body = get(f"{server.url}/readyz")
    assert status == 503
    assert content_type == "application/json"
    assert json.loads(body) == {"ready": False, "waiting_for": ["assignment", "model"]}

    readiness.set(MODEL)
    readiness.set(ASSIGNMENT)

    status, _, body = get(f"{server.url}/readyz")
    assert status == 200
    assert json.loads(body) == {"ready": True, "waiting_for": []}


def test_readyz_carries_the_details_a_service_registered(
    server: OpsServer, readiness: Readiness
) -> None:
    refused = {"serving": "duration-v1", "refused_version": None}
    readiness.add_details("model", lambda: dict(refused))
    first = json.loads(get(f"{server.url}/readyz")[2])
    refused["refused_version"] = "duration-v2"

    second = json.loads(get(f"{server.url}/readyz")[2])

    assert first["details"] == {"model": {"serving": "duration-v1", "refused_version": None}}
    assert second["details"]["model"]["refused_version"] == "duration-v2"


def test_metrics_are_in_the_prometheus_text_format(server: OpsServer) -> None:
    status, content_type, body = get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = {
        (sample.name, tuple(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert samples[("streamjury_records_in_total", (("check", "tip"),))] == 3


def test_a_scraper_asking_for_openmetrics_gets_openmetrics(server: OpsServer) -> None:
    status, content_type, body = get(f"{server.url}/metrics", "application/openmetrics-text")
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


def test_an_unknown_path_is_404(server: OpsServer) -> None:
    assert get(f"{server.url}/nope")[0] == 404


def test_a_port_in_use_is_a_config_error(registry: CollectorRegistry, readiness: Readiness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            OpsServer(registry, readiness, "127.0.0.1", port)


def test_stop_frees_the_port(registry: CollectorRegistry, readiness: Readiness) -> None:
    server = OpsServer(registry, readiness, "127.0.0.1", 0)
    server.start()
    port = server.port
    server.stop()
    OpsServer(registry, readiness, "127.0.0.1", port).stop()


def test_stop_answers_a_request_it_accepted_with_the_readiness_of_that_moment(
    registry: CollectorRegistry, readiness: Readiness
) -> None:
    server = OpsServer(registry, readiness, "127.0.0.1", 0)
    server.start()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    client.sendall(b"GET /readyz HTTP/1.0\r\n")  # headers not finished
    assert get(f"{server.url}/healthz")[0] == 200  # accepted after it: so it was accepted
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    readiness.set(MODEL)  # changes while the server is stopping

    client.sendall(b"\r\n")
    with client.makefile("rb") as response:
        reply = response.read().decode()
    stopping.join(10)

    assert reply.startswith("HTTP/1.0 503")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["waiting_for"] == [ASSIGNMENT]
    assert not stopping.is_alive()


def test_a_client_that_sends_nothing_cannot_hold_stop(
    registry: CollectorRegistry, readiness: Readiness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "REQUEST_TIMEOUT_S", 0.2)
    server = OpsServer(registry, readiness, "127.0.0.1", 0)
    server.start()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        stopping.join(30)

        assert not stopping.is_alive()
    finally:
        silent.close()


def test_bodies_never_show_a_secret_the_process_knows(
    registry: CollectorRegistry, readiness: Readiness
) -> None:
    secret = "readiness-detail-pa55word"
    SECRETS.remember([secret])
    readiness.add_details("writer", lambda: {"config": f"sasl.password={secret}"})
    Counter("streamjury_seen", "help", ["endpoint"], registry=registry).labels(
        f"http://u:{secret}@host"
    ).inc()
    with OpsServer(registry, readiness, "127.0.0.1", 0) as server:
        ready_body = get(f"{server.url}/readyz")[2]
        metrics_body = get(f"{server.url}/metrics")[2]

    assert secret not in ready_body + metrics_body
    assert "sasl.password=**********" in ready_body
    assert 'endpoint="http://u:**********@host"' in metrics_body
