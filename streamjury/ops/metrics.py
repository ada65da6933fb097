"""Prometheus metrics of one service process, defined on a registry its owner passes in.

Services receive a ``Metrics`` (``ServiceMetrics``, or ``NullMetrics`` when nothing is exported)
and make one call per batch, never one per record; nothing touches the global default registry.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any, Protocol, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamjury.ops.histogram import BatchHistogram
from streamjury.ops.reasons import REASON_CLASSES, reason_class
from streamjury.schemas import Outcome

LABELS = ("service", "check")
"""Labels of every streamjury metric; ``check`` is empty for services that are not a check."""
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000)
PREDICT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
END_TO_END_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
)  # fmt: skip
OUTCOMES: tuple[str, ...] = get_args(Outcome)


class Stamped(Protocol):
    """An output that knows when its event happened (a Verdict, a Decision)."""

    @property
    def event_occurred_at(self) -> datetime: ...


class Decided(Stamped, Protocol):
    @property
    def outcome(self) -> str: ...


class Reasoned(Protocol):
    """A dead letter: only its reason is counted, by class."""

    @property
    def reason(self) -> str: ...


class Predictor(Protocol):
    """What ``Metrics.timed`` wraps: any model with a vectorised ``predict``."""

    name: str
    version: str

    def predict(self, events: Sequence[Any]) -> list[Any]: ...


class Metrics(Protocol):
    """What a service reports; every method is cheap and never raises on odd input."""

    def observe_batch(
        self,
        *,
        records: int,
        verdicts: Sequence[Stamped] = (),
        decisions: Sequence[Decided] = (),
        dead_letters: Sequence[Reasoned] = (),
        committed: bool = True,
    ) -> None:
        """One batch whose outputs were written: ``records`` read, what they became.

        ``committed=False`` means another member took the partitions over before the commit,
        so the batch will be processed again there.
        """
        ...

    def timed(self, model: Predictor) -> Predictor:
        """``model``, with each ``predict`` call timed."""
        ...

    def set_model(self, name: str, version: str) -> None:
        """The model this process serves, exposed as an info-style gauge."""
        ...

    def set_lag_records(self, stream: str, lag: Mapping[str, int]) -> None:
        """Records behind the end of each owned partition; partitions not listed are dropped."""
        ...

    def set_lag_seconds(self, stream: str, lag: Mapping[str, float]) -> None:
        """Seconds behind the newest record of each owned shard (Kinesis MillisBehindLatest)."""
        ...

    def set_ready(self, ready: bool) -> None: ...


class NullMetrics:
    """Reports nothing: the default for services built without an ops server, and for tests."""

    def observe_batch(
        self,
        *,
        records: int,
        verdicts: Sequence[Stamped] = (),
        decisions: Sequence[Decided] = (),
        dead_letters: Sequence[Reasoned] = (),
        committed: bool = True,
    ) -> None:
        return None

    def timed(self, model: Predictor) -> Predictor:
        return model

    def set_model(self, name: str, version: str) -> None:
        return None

    def set_lag_records(self, stream: str, lag: Mapping[str, int]) -> None:
        return None

    def set_lag_seconds(self, stream: str, lag: Mapping[str, float]) -> None:
        return None

    def set_ready(self, ready: bool) -> None:
        return None


class ServiceMetrics:
    """The metrics of one service (``consumer``, ``decision``, ``lambda``) and check.

    ``clock`` gives seconds since the epoch; it is when outputs count as written, for the
    end-to-end latency (event ``occurred_at`` to output written).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        service: str,
        check: str = "",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.labels = (service, check)
        self._clock = clock
        lag_labels = (*LABELS, "stream", "partition")
        self._records_in = Counter(
            "streamjury_records_in", "Records read and processed.", LABELS, registry=registry
        ).labels(*self.labels)
        self._verdicts_out = Counter(
            "streamjury_verdicts_out", "Verdicts written.", LABELS, registry=registry
        ).labels(*self.labels)
        self._decisions_out = Counter(
            "streamjury_decisions_out",
            "Decisions written, by outcome.",
            (*LABELS, "outcome"),
            registry=registry,
        )
        self._dead_letters = Counter(
            "streamjury_dead_letters",
            "Records sent to the dead-letter stream, by reason class.",
            (*LABELS, "reason"),
            registry=registry,
        )
        self._uncommitted = Counter(
            "streamjury_uncommitted_batches",
            "Batches written but not committed: another member took their partitions over.",
            LABELS,
            registry=registry,
        ).labels(*self.labels)
        self._batch_size = Histogram(
            "streamjury_batch_records",
            "Records per processed batch.",
            LABELS,
            buckets=BATCH_BUCKETS,
            registry=registry,
        ).labels(*self.labels)
        self._predict = Histogram(
            "streamjury_predict_seconds",
            "Duration of one vectorised model predict call.",
            LABELS,
            buckets=PREDICT_BUCKETS,
            registry=registry,
        ).labels(*self.labels)
        self._end_to_end = BatchHistogram(
            "streamjury_end_to_end_seconds",
            "From the event's occurred_at to this service's output being written.",
            LABELS,
            END_TO_END_BUCKETS,
            registry,
        )
        self._lag_records = Gauge(
            "streamjury_consumer_lag_records",
            "Records between the group's committed position and the end of the partition.",
            lag_labels,
            registry=registry,
        )
        self._lag_seconds = Gauge(
            "streamjury_consumer_lag_seconds",
            "How far behind the newest record of the shard this consumer reads (Kinesis).",
            lag_labels,
            registry=registry,
        )
        self._ready = Gauge(
            "streamjury_ready",
            "1 once the service is ready to do its work.",
            LABELS,
            registry=registry,
        ).labels(*self.labels)
        self._model = Gauge(
            "streamjury_model_info",
            "The model this process serves (always 1).",
            (*LABELS, "model", "version"),
            registry=registry,
        )
        self._model_versions: dict[str, str] = {}
        self._lag_partitions: dict[tuple[str, str], set[str]] = {}
        self._start_series(service)

    def _start_series(self, service: str) -> None:
        """Expose every counter at zero from the start, so rates and alerts work at once."""
        for reason in REASON_CLASSES:
            self._dead_letters.labels(*self.labels, reason)
        if service == "decision":
            for outcome in OUTCOMES:
                self._decisions_out.labels(*self.labels, outcome)
        self._end_to_end.init_series(*self.labels)

    # -- the one call per batch ------------------------------------------------------------

    def observe_batch(
        self,
        *,
        records: int,
        verdicts: Sequence[Stamped] = (),
        decisions: Sequence[Decided] = (),
        dead_letters: Sequence[Reasoned] = (),
        committed: bool = True,
    ) -> None:
        written_at = self._clock()
        if records:
            self._records_in.inc(records)
            self._batch_size.observe(records)
        if verdicts:
            self._verdicts_out.inc(len(verdicts))
        for outcome, count in Tally(d.outcome for d in decisions).items():
            self._decisions_out.labels(*self.labels, outcome).inc(count)
        for reason, count in Tally(reason_class(d.reason) for d in dead_letters).items():
            self._dead_letters.labels(*self.labels, reason).inc(count)
        if not committed:
            self._uncommitted.inc()
        outputs: Iterable[Stamped] = chain(verdicts, decisions)
        self._end_to_end.observe_many(
            (max(0.0, written_at - o.event_occurred_at.timestamp()) for o in outputs),
            *self.labels,
        )

    # -- occasional ------------------------------------------------------------------------

    def timed(self, model: Predictor) -> Predictor:
        return TimedPredictor(model, self._predict.observe)

    def set_model(self, name: str, version: str) -> None:
        """One series per model name (co-located checks serve several); a new version of a
        model replaces its old series."""
        old = self._model_versions.get(name)
        if old is not None and old != version:
            self._model.remove(*self.labels, name, old)
        self._model_versions[name] = version
        self._model.labels(*self.labels, name, version).set(1)

    def set_lag_records(self, stream: str, lag: Mapping[str, int]) -> None:
        self._set_lag(self._lag_records, "records", stream, lag)

    def set_lag_seconds(self, stream: str, lag: Mapping[str, float]) -> None:
        self._set_lag(self._lag_seconds, "seconds", stream, lag)

    def set_ready(self, ready: bool) -> None:
        self._ready.set(1 if ready else 0)

    def _set_lag(
        self, gauge: Gauge, unit: str, stream: str, lag: Mapping[str, int] | Mapping[str, float]
    ) -> None:
        """Set the owned partitions' lag and drop the series of partitions no longer owned."""
        previous = self._lag_partitions.get((unit, stream), set())
        for partition in previous - set(lag):
            gauge.remove(*self.labels, stream, partition)
        for partition, value in lag.items():
            gauge.labels(*self.labels, stream, partition).set(value)
        self._lag_partitions[(unit, stream)] = set(lag)


class TimedPredictor:
    """A model whose ``predict`` calls are timed; ``name`` and ``version`` are the model's."""

    def __init__(self, model: Predictor, observe: Callable[[float], None]) -> None:
        self.model = model
        self.name = model.name
        self.version = model.version
        self._observe = observe

    def predict(self, events: Sequence[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return self.model.predict(events)
        finally:
            self._observe(time.perf_counter() - started)
