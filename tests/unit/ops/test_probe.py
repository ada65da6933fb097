"""The container HEALTHCHECK probe: exit 0 only when the service's endpoint says so."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from streamjury.ops.health import MODEL, Readiness
from streamjury.ops.http import OpsServer
from streamjury.ops.probe import main


@pytest.fixture
def readiness() -> Readiness:
    return Readiness([MODEL])


@pytest.fixture
def port(readiness: Readiness) -> Iterator[int]:
    with OpsServer(CollectorRegistry(), readiness, "127.0.0.1", 0) as server:
        yield server.port


def test_a_live_service_is_healthy(port: int) -> None:
    assert main(["--port", str(port)]) == 0


def test_ready_probes_readyz(port: int, readiness: Readiness) -> None:
    assert main(["--port", str(port), "--ready"]) == 1
    readiness.set(MODEL)
    assert main(["--port", str(port), "--ready"]) == 0


def test_nothing_listening_is_unhealthy() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert main(["--port", str(free), "--timeout", "1"]) == 1


def test_the_port_comes_from_the_environment(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_HTTP_PORT", str(port))
    assert main([]) == 0


def test_a_process_that_serves_nothing_has_nothing_to_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMJURY_HTTP_PORT", "0")
    assert main([]) == 0
