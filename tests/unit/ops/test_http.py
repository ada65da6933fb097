"""The operator HTTP server: liveness, readiness and Prometheus metrics on a loopback port."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from streamjury.errors import ConfigError
from streamjury.ops.health import ASSIGNMENT, MODEL, Readiness
from streamjury.ops.http import OpsServer

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
