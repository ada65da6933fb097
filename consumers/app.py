"""The consumer service's composition root: settings in, a running check out.

The only place that picks concrete classes: backend, model store, check, producer, consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import cast

from consumers.canary import CanaryScorer
from consumers.check import CheckModel, CheckSpec, ModelSource
from consumers.handover import take_over
from consumers.registry import get_check
from consumers.rollout import ModelRollout, RolloutMetrics, reload_on_sighup
from consumers.runtime import AlsoScored, ConsumerRuntime, RunStats
from consumers.settings import ConsumerSettings
from consumers.shadow import ShadowScorer
from models.store import ModelStore
from streamjury.errors import ConfigError, StreamError
from streamjury.ops.heap import settle_startup_heap
from streamjury.ops.service import service_ops
from streamjury.shutdown import GracefulShutdown
from streamjury.streams.base import Backend, StartFrom
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)


def serve(settings: ConsumerSettings) -> RunStats:
    """Run a consumer process until SIGINT or SIGTERM, then finish its batch and exit cleanly.

    SIGHUP makes it re-read its model alias before the next batch.
    """
    with GracefulShutdown() as shutdown:
        return run_consumer(settings, shutdown, on_rollout=reload_on_sighup, settle_heap=True)


def run_consumer(
    settings: ConsumerSettings,
    stop_requested: Callable[[], bool],
    *,
    backend: Backend | None = None,
    models: ModelSource | None = None,
    on_rollout: Callable[..., AbstractContextManager[None]] | None = None,
    settle_heap: bool = False,
) -> RunStats:
    """Load the check's model once, then consume until ``stop_requested()``.

    ``settings.check`` may name several checks of one stream (``duration,tip``): they share one
    consumer group, one parse of each event and one write and commit per batch.

    ``backend`` and ``models`` default to what the settings describe; a backend passed in is
    left open for its owner. Everything opened here is closed here. With ``http_port`` set,
    ``/readyz`` turns 200 once the model is loaded and the consumer owns partitions, and shows
    which version serves. The model follows ``settings.model_alias`` between batches;
    ``on_rollout`` is entered around the run with the rollouts (``serve`` hooks SIGHUP there).
    ``settle_heap``: freeze what startup built out of the garbage collector's scans (a service
    process does; see ``streamjury.ops.heap``).
    """
    specs = co_located_checks(settings)
    spec = specs[0]
    name = settings.name
    names = StreamNames(settings.stream_prefix)
    with service_ops(settings, "consumer", name) as ops, ExitStack() as resources:
        store = models if models is not None else ModelStore.from_settings(settings)
        shadow = _shadow_scorer(settings, spec, store, names)

        def wrap(model: CheckModel) -> CheckModel:
            timed = cast(CheckModel, ops.metrics.timed(model))
            return shadow.watch_live(timed) if shadow is not None else timed

        rollouts = [
            ModelRollout(
                each,
                store,
                poll_interval_s=settings.model_poll_s,
                wrap=wrap,
                listener=RolloutMetrics(ops.metrics),
            )
            for each in specs
        ]
        rollout = rollouts[0]
        model = rollout.model
        for each in rollouts:
            ops.model_loaded(each.model.name, each.model.version)
        if len(rollouts) == 1:
            ops.readiness.add_details("model", lambda: rollout.status().as_details())
        else:
            ops.readiness.add_details(
                "models",
                lambda: {each.spec.name: each.status().as_details() for each in rollouts},
            )
        if on_rollout is not None:
            resources.enter_context(on_rollout(*rollouts))
        if backend is None:
            backend = open_backend(settings)
            resources.callback(_close, backend.close, "backend")
        backend = ops.watch(backend)  # its consumers report their partitions to /readyz
        source = names.physical(spec.stream)
        backend.ensure_streams([source, names.verdicts, names.deadletter])
        if shadow is not None:
            backend.ensure_streams([shadow.stream])

        producer = backend.producer()
        resources.callback(_close, producer.close, "producer")
        runtime = ConsumerRuntime(
            spec,
            model,
            producer,
            verdict_stream=names.verdicts,
            deadletter_stream=names.deadletter,
            config=settings.runtime_config(),
            metrics=ops.metrics,
            models=rollout.current,
            side_outputs=shadow,
            scorer=_canary_scorer(settings, spec, store),
            also=[AlsoScored(each.spec, each.current) for each in rollouts[1:]],
        )
        consumer = backend.consumer(
            [source],
            settings.group_name,
            _start(settings, backend, source),
            on_assign=runtime.partitions_assigned,
            on_revoke=runtime.partitions_revoked,
        )
        resources.callback(_close, consumer.close, "consumer")
        log.info(
            "consumer %s: reading %s on the %s backend as group %s",
            name,
            source,
            backend.name,
            settings.group_name,
            extra={"service": "consumer", "check": name, "stream": source},
        )
        if settle_heap:
            settle_startup_heap()  # models, imports and clients loaded: out of the collector's way
        return runtime.run(consumer, stop_requested)


def _start(settings: ConsumerSettings, backend: Backend, source: str) -> StartFrom:
    """Where the group starts if it has no position: a default-named group takes over from the
    groups that ran its checks before (see ``consumers.handover``), else the configured start."""
    if settings.group is not None:
        return settings.start_from
    handover = take_over(
        backend, source, settings.checks, settings.group_name, settings.stream_prefix
    )
    if handover is None:
        return settings.start_from
    log.info(
        "consumer %s: group %s has no position yet; starting where %s left off",
        settings.name,
        settings.group_name,
        ", ".join(handover.groups),
        extra={"service": "consumer", "check": settings.name, "stream": source},
    )
    return handover.start


def co_located_checks(settings: ConsumerSettings) -> list[CheckSpec]:
    """The specs of the checks this process runs; several must read one stream and can have no
    shadow or canary (those compare one check's models on its own)."""
    specs = [get_check(name) for name in settings.checks]
    if len(specs) == 1:
        return specs
    streams = sorted({spec.stream for spec in specs})
    if len(streams) > 1:
        raise ConfigError(
            f"checks run together must read one stream, but {', '.join(settings.checks)} read "
            f"{' and '.join(streams)}: run one consumer per stream"
        )
    if settings.shadow is not None or settings.canary is not None:
        raise ConfigError(
            "--shadow and --canary compare the models of one check: run that check alone"
        )
    return specs


def _shadow_scorer(
    settings: ConsumerSettings, spec: CheckSpec, store: ModelSource, names: StreamNames
) -> ShadowScorer | None:
    """With ``--shadow REF``, a scorer whose model follows REF in the same location."""
    if settings.shadow is None:
        return None
    if not isinstance(store, ModelStore):
        raise ConfigError("a shadow model needs a model location (STREAMJURY_MODELS)")
    shadow = ModelRollout(spec, store.at(settings.shadow), poll_interval_s=settings.model_poll_s)
    log.info("consumer %s: shadowing with %s", spec.name, shadow.model.version)
    return ShadowScorer(spec, shadow, names.verdicts_shadow)


def _canary_scorer(
    settings: ConsumerSettings, spec: CheckSpec, store: ModelSource
) -> CanaryScorer | None:
    """With ``--canary REF``, ``canary_percent`` of events get their verdict from REF."""
    if settings.canary is None:
        return None
    if not isinstance(store, ModelStore):
        raise ConfigError("a canary model needs a model location (STREAMJURY_MODELS)")
    canary = ModelRollout(spec, store.at(settings.canary), poll_interval_s=settings.model_poll_s)
    log.info(
        "consumer %s: canary %s gets %.2f%% of events",
        spec.name,
        canary.model.version,
        settings.canary_percent,
    )
    return CanaryScorer(
        spec,
        canary,
        settings.canary_percent,
        stage=f"consumer:{spec.name}",
        deadletter_max_bytes=settings.deadletter_limit(),
    )


def _close(close: Callable[[], None], what: str) -> None:
    """Close one resource; a failure is logged, never masks the error that ended the run.

    Safe because every batch was flushed before its commit: nothing is pending at close.
    """
    try:
        close()
    except StreamError as exc:
        log.warning("could not close the %s cleanly: %s", what, exc)
