"""The quality service's composition root: settings in, a running service out.

The only place that opens the backend, picks the clocks and installs the stop-signal handlers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from decision.quality.join import QualityJoin
from decision.quality.metrics import NullQualityMetrics, PrometheusQualityMetrics, QualityMetrics
from decision.quality.service import QualityConfig, QualityService, QualityStats
from decision.quality.settings import QualitySettings
from streamjury.ops.health import ASSIGNMENT
from streamjury.ops.heap import settle_startup_heap
from streamjury.ops.metrics import ServiceMetrics
from streamjury.ops.service import service_ops
from streamjury.shutdown import GracefulShutdown
from streamjury.streams.base import Backend
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)


def serve(settings: QualitySettings) -> QualityStats:
    """Run until SIGTERM/SIGINT; the batch in hand is joined and committed before returning."""
    with GracefulShutdown() as shutdown:
        return run_quality_service(settings, shutdown, settle_heap=True)


def run_quality_service(
    settings: QualitySettings,
    stop_requested: Callable[[], bool],
    *,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.monotonic,
    settle_heap: bool = False,
) -> QualityStats:
    """Consume ``verdicts``, ``verdicts-shadow`` and ``outcomes`` until ``stop_requested()``.

    A backend passed in is left open for its owner. Ready (``/readyz``) while it owns partitions.
    """
    names = StreamNames(settings.stream_prefix)
    streams = [names.verdicts, names.verdicts_shadow, names.outcomes]
    with service_ops(settings, "quality", waits_for=(ASSIGNMENT,)) as ops:
        quality: QualityMetrics = NullQualityMetrics()
        if isinstance(ops.metrics, ServiceMetrics):
            quality = PrometheusQualityMetrics(ops.metrics.registry)
        owned = backend is None
        opened = open_backend(settings) if backend is None else backend
        try:
            watched = ops.watch(opened)
            watched.ensure_streams(streams)
            consumer = watched.consumer(streams, settings.group, settings.start_from)
            try:
                log.info(
                    "quality service: reading %s as group %s (window %.0f s, at most %d events)",
                    ", ".join(streams),
                    settings.group,
                    settings.window_s,
                    settings.max_events,
                    extra={"service": "quality"},
                )
                service = QualityService(
                    consumer,
                    QualityJoin(settings.window_s, settings.max_events, clock),
                    names,
                    QualityConfig(settings.batch_size, settings.batch_timeout_ms / 1000),
                    metrics=ops.metrics,
                    quality=quality,
                )
                if settle_heap:  # a service process: see streamjury.ops.heap
                    settle_startup_heap()
                return service.run(stop_requested)
            finally:
                consumer.close()
        finally:
            if owned:
                opened.close()
