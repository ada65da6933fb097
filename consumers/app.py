"""The consumer service's composition root: settings in, a running check out.

The only place that picks concrete classes: backend, model store, check, producer, consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack

from consumers.check import ModelSource
from consumers.registry import get_check
from consumers.runtime import ConsumerRuntime, RunStats
from consumers.settings import ConsumerSettings
from models.store import ModelStore
from streamjury.errors import StreamError
from streamjury.ops.service import service_ops
from streamjury.shutdown import GracefulShutdown
from streamjury.streams.base import Backend
from streamjury.streams.factory import open_backend

log = logging.getLogger(__name__)


def serve(settings: ConsumerSettings) -> RunStats:
    """Run a consumer process until SIGINT or SIGTERM, then finish its batch and exit cleanly."""
    with GracefulShutdown() as shutdown:
        return run_consumer(settings, shutdown)


def run_consumer(
    settings: ConsumerSettings,
    stop_requested: Callable[[], bool],
    *,
    backend: Backend | None = None,
    models: ModelSource | None = None,
) -> RunStats:
    """Load the check's model once, then consume until ``stop_requested()``.

    ``backend`` and ``models`` default to what the settings describe; a backend passed in is
    left open for its owner. Everything opened here is closed here. With ``http_port`` set,
    ``/readyz`` turns 200 once the model is loaded and the consumer owns partitions.
    """
    spec = get_check(settings.check)
    with service_ops(settings, "consumer", spec.name) as ops, ExitStack() as resources:
        model = spec.load_model(
            models if models is not None else ModelStore.from_settings(settings)
        )
        ops.model_loaded(model.name, model.version)
        if backend is None:
            backend = open_backend(settings)
            resources.callback(_close, backend.close, "backend")
        backend = ops.watch(backend)  # its consumers report their partitions to /readyz
        names = settings.streams
        source = names.physical(spec.stream)
        backend.ensure_streams([source, names.verdicts, names.deadletter])

        producer = backend.producer()
        resources.callback(_close, producer.close, "producer")
        runtime = ConsumerRuntime(
            spec,
            ops.metrics.timed(model),
            producer,
            verdict_stream=names.verdicts,
            deadletter_stream=names.deadletter,
            config=settings.runtime_config(),
            metrics=ops.metrics,
        )
        consumer = backend.consumer(
            [source],
            settings.group_name,
            settings.start_from,
            on_assign=runtime.partitions_assigned,
            on_revoke=runtime.partitions_revoked,
        )
        resources.callback(_close, consumer.close, "consumer")
        log.info(
            "consumer %s: reading %s on the %s backend as group %s",
            spec.name,
            source,
            backend.name,
            settings.group_name,
            extra={"service": "consumer", "check": spec.name, "stream": source},
        )
        return runtime.run(consumer, stop_requested)


def _close(close: Callable[[], None], what: str) -> None:
    """Close one resource; a failure is logged, never masks the error that ended the run.

    Safe because every batch was flushed before its commit: nothing is pending at close.
    """
    try:
        close()
    except StreamError as exc:
        log.warning("could not close the %s cleanly: %s", what, exc)
