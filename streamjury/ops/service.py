"""What a service's composition root calls to be operable: metrics, readiness, HTTP, lag.

One context manager per process; the service itself only ever sees a ``Metrics`` and a Backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from streamjury.ops.health import ASSIGNMENT, MODEL, Readiness
from streamjury.ops.http import OpsServer
from streamjury.ops.metrics import Metrics, NullMetrics, ServiceMetrics
from streamjury.ops.settings import OpsSettings
from streamjury.ops.watch import WatchedBackend
from streamjury.streams.base import Backend


@dataclass
class ServiceOps:
    """The ops side of one running service: pass ``metrics`` in, mark readiness, watch the backend."""

    settings: OpsSettings
    metrics: Metrics
    readiness: Readiness
    server: OpsServer | None

    def model_loaded(self, name: str, version: str) -> None:
        """The model is loaded and verified: expose its version and meet the ``model`` condition."""
        self.metrics.set_model(name, version)
        self.readiness.set(MODEL)

    def watch(self, backend: Backend) -> Backend:
        """``backend``, whose group consumers meet ``assignment`` while they own partitions.

        Without a server nobody can ask, so ``backend`` is returned as it is.
        """
        if self.server is None:
            return backend
        return WatchedBackend(
            backend,
            self.metrics,
            lambda owned: self.readiness.set(ASSIGNMENT, owned),
            lag_interval_s=self.settings.lag_interval_s,
        )


@contextmanager
def service_ops(
    settings: OpsSettings,
    service: str,
    check: str = "",
    *,
    waits_for: Iterable[str] = (MODEL, ASSIGNMENT),
) -> Iterator[ServiceOps]:
    """Readiness, and if ``http_port`` is set, metrics on a fresh registry served over HTTP.

    Without a port the metrics are ``NullMetrics``: nothing would read them. The registry also
    carries the process collectors (CPU, memory, open files, GC) that a container dashboard
    wants next to the service's own metrics.
    """
    metrics: Metrics = NullMetrics()
    server = None
    if settings.http_port:
        registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        metrics = ServiceMetrics(registry, service, check)
    readiness = Readiness(waits_for, on_change=metrics.set_ready)
    if isinstance(metrics, ServiceMetrics):
        server = OpsServer(metrics.registry, readiness, settings.http_host, settings.http_port)
        server.start()
    try:
        yield ServiceOps(settings, metrics, readiness, server)
    finally:
        if server is not None:
            server.stop()
