"""A Prometheus histogram that takes a whole batch of observations in one call.

End-to-end latency has one observation per record; observing them one by one would put a lock
and a bucket search per record on the hot path, so a batch is sorted once and bisected per bucket.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString


class _Series:
    """The cumulative bucket counts and sum of one label combination."""

    __slots__ = ("cumulative", "total")

    def __init__(self, buckets: int) -> None:
        self.cumulative = [0] * buckets
        self.total = 0.0


class BatchHistogram:
    """A labelled histogram with ``observe_many``; a Collector registered on ``registry``.

    Exposed exactly like prometheus-client's Histogram: ``NAME_bucket{le=...}``, ``NAME_sum``,
    ``NAME_count``, so queries and dashboards cannot tell them apart.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds:
            raise ValueError("a histogram needs at least one finite bucket")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = bounds
        self._series: dict[tuple[str, ...], _Series] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def init_series(self, *labels: str) -> None:
        """Create the series of ``labels`` now, so it is exposed (at zero) before any data."""
        key = self._key(labels)
        with self._lock:
            self._get(key)

    def observe_many(self, values: Iterable[float], *labels: str) -> None:
        """Add every value in ``values`` to the series of ``labels``."""
        ordered = sorted(values)
        if not ordered:
            return
        counts = [bisect.bisect_right(ordered, bound) for bound in self._bounds]
        total = math.fsum(ordered)
        key = self._key(labels)
        with self._lock:
            series = self._get(key)
            for index, count in enumerate(counts):
                series.cumulative[index] += count
            series.cumulative[-1] += len(ordered)
            series.total += total

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        with self._lock:
            snapshot = [(key, list(s.cumulative), s.total) for key, s in self._series.items()]
        edges = [floatToGoString(bound) for bound in self._bounds] + ["+Inf"]
        for key, cumulative, total in snapshot:
            family.add_metric(list(key), list(zip(edges, cumulative, strict=True)), total)
        yield family

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def _key(self, values: Sequence[str]) -> tuple[str, ...]:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(values)}")
        return tuple(values)

    def _get(self, key: tuple[str, ...]) -> _Series:
        series = self._series.get(key)
        if series is None:
            # one counter per finite bucket, plus +Inf
            series = self._series[key] = _Series(len(self._bounds) + 1)
        return series
