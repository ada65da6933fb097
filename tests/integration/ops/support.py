"""Helpers of the ops integration tests: a started service, its HTTP endpoints, waiting.

Services are OS processes serving ``/healthz``, ``/readyz`` and ``/metrics`` on loopback.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

STREAMJURY = str(Path(sys.executable).with_name("streamjury"))
WAIT_S = 60.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        return http_get(f"{self.url}{path}")

    def metric(self, name: str, labels: dict[str, str], **more: str) -> float | None:
        status, body = self.get("/metrics")
        assert status == 200, body
        return samples(body).get((name, frozenset({**labels, **more}.items())))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(WAIT_S)

    def log_lines(self) -> list[str]:
        return [line for line in self.stderr.read_text().splitlines() if line.strip()]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, service: Service | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if service is not None and service.process.poll() is not None:
            tail = "\n".join(service.log_lines()[-10:])
            pytest.fail(f"the service exited ({service.process.returncode}) before {what}:\n{tail}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
