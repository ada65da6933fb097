"""A small HTTP server for operators: ``/healthz``, ``/readyz`` and ``/metrics``.

Runs in daemon threads beside the service, from the standard library alone; it only reads
thread-safe state (the metrics registry, the readiness conditions), so it never slows a batch.
Every body is redacted (``streamjury.redaction``): a label or a readiness detail quoting a
setting never serves a secret.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from streamjury.errors import ConfigError
from streamjury.ops.health import Readiness
from streamjury.redaction import redact

log = logging.getLogger(__name__)

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
SHUTDOWN_POLL_S = 0.1
"""How often the serving thread checks for ``stop``: bounds how long a shutdown waits."""
REQUEST_TIMEOUT_S = 10.0
"""A client that sends nothing for this long is dropped, so a stalled one never holds ``stop``."""


class OpsServer:
    """Serves the endpoints on ``host:port`` until ``stop``; port 0 picks a free port.

    ``/healthz`` is 200 while the process serves HTTP at all (liveness). ``/readyz`` is 200 once
    ``readiness`` has nothing pending, else 503 with what it waits for. ``/metrics`` is the
    registry in the Prometheus text format (or OpenMetrics, if the scraper asks for it).

    ``stop`` answers the requests already accepted before it returns: a probe in flight while a
    service goes down (fenced, say) reads the readiness it ended with, not a reset connection.
    """

    def __init__(self, registry: CollectorRegistry, readiness: Readiness, host: str, port: int):
        handler = _handler_for(registry, readiness)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics and health on {host}:{port}: {exc}") from exc
        self._server.daemon_threads = False  # server_close() joins the request threads
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="ops-http",
            daemon=True,
        )
        self._thread.start()
        log.info("serving %s, %s and %s on %s", HEALTHZ, READYZ, METRICS, self.url)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()

    def __enter__(self) -> OpsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(registry: CollectorRegistry, readiness: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "streamjury"
        timeout = REQUEST_TIMEOUT_S

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == HEALTHZ:
                self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
            elif path == READYZ:
                pending = readiness.pending()
                status = HTTPStatus.SERVICE_UNAVAILABLE if pending else HTTPStatus.OK
                answer = {"ready": not pending, "waiting_for": pending}
                if details := readiness.details():
                    answer["details"] = details
                body = redact(json.dumps(answer, ensure_ascii=False)) + "\n"
                self._send(status, body.encode(), "application/json")
            elif path == METRICS:
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                text = encoder(registry).decode()
                self._send(HTTPStatus.OK, redact(text).encode(), content_type)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - " + format, self.address_string(), *args)

    return Handler
