"""The decision service's composition root: settings in, a running service out.

The only place that opens the backend, reads the policy file, picks the clock and installs
the stop-signal handlers; everything below receives what it needs.
"""

from __future__ import annotations

import logging
import time

from decision.joiner import Joiner
from decision.policy import Policy, load_policy
from decision.service import Clock, DecisionService, ServiceConfig, ServiceStats
from decision.settings import DecisionSettings
from streamjury.errors import WriterFencedError
from streamjury.ops.health import ASSIGNMENT
from streamjury.ops.heap import settle_startup_heap
from streamjury.ops.metrics import Metrics
from streamjury.ops.service import service_ops
from streamjury.shutdown import GracefulShutdown
from streamjury.streams.base import Backend
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)

WRITER = "writer"
"""Readiness condition: the atomic writer is open and not fenced by another instance."""


def build_service(
    settings: DecisionSettings,
    backend: Backend,
    policy: Policy,
    clock: Clock = time.time,
    metrics: Metrics | None = None,
) -> DecisionService:
    """A service wired from settings over an open ``backend`` (not started yet)."""
    config = ServiceConfig(
        group=settings.group,
        writer_id=settings.writer_id
        or default_writer_id(settings.stream_prefix, settings.group, settings.instance),
        batch_size=settings.batch_size,
        batch_timeout_s=settings.batch_timeout_ms / 1000,
        deadletter_max_bytes=settings.deadletter_limit(),
    )
    joiner = Joiner(policy, retention_s=settings.retention_s)
    return DecisionService(
        backend, joiner, StreamNames(settings.stream_prefix), config, clock=clock, metrics=metrics
    )


def default_writer_id(stream_prefix: str, group: str, instance: int) -> str:
    """Stable per instance slot: a restart with the same slot fences its dead predecessor (and
    aborts its open transaction) at once; two pipelines or groups never share an id."""
    scoped = group if group.startswith(stream_prefix) else f"{stream_prefix}{group}"
    return f"{scoped}-writer-{instance}"


def run_decision_service(settings: DecisionSettings) -> ServiceStats:
    """Run until SIGTERM/SIGINT: the batch in hand is written and committed before returning.

    Ready (``/readyz``) while it owns verdicts partitions; the policy is loaded before that.
    """
    policy = load_policy(settings.policy)
    log.info("policy: %s", settings.policy or "the default policy", extra={"service": "decision"})
    with (
        service_ops(settings, "decision", waits_for=(ASSIGNMENT, WRITER)) as ops,
        GracefulShutdown() as shutdown,
    ):
        backend = ops.watch(open_backend(settings))
        try:
            with build_service(settings, backend, policy, metrics=ops.metrics) as service:
                ops.readiness.set(WRITER)
                settle_startup_heap()
                try:
                    return service.run(shutdown)
                except WriterFencedError:
                    ops.readiness.set(WRITER, False)
                    log.error(
                        "another live instance uses this writer id (instance slot %d): "
                        "exiting so that an orchestrator restarts this one",
                        settings.instance,
                        extra={"service": "decision"},
                    )
                    raise
        finally:
            backend.close()
