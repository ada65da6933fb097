"""BatchHistogram: observing a batch at once exposes exactly what one-by-one observing would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streamjury.ops.histogram import BatchHistogram

BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The bucket and count lines (sums differ in the last float digits: fsum is exact)."""
    lines = generate_latest(registry).decode().splitlines()
    return sorted(line for line in lines if "_bucket" in line or "_count" in line)


def test_a_batch_is_exposed_exactly_like_prometheus_clients_own_histogram() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(2.0) for _ in range(500)] + [0.1, 1.0, 5.0, 9.0]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("latency_seconds", "help", ("service",), BUCKETS, ours)
    reference = Histogram("latency_seconds", "help", ("service",), buckets=BUCKETS, registry=theirs)

    batch.observe_many(values[:100], "consumer")
    batch.observe_many(values[100:], "consumer")
    for value in values:
        reference.labels("consumer").observe(value)

    assert exposition(ours) == exposition(theirs)
    labels = {"service": "consumer"}
    assert ours.get_sample_value("latency_seconds_sum", labels) == pytest.approx(
        theirs.get_sample_value("latency_seconds_sum", labels)
    )


def test_a_bucket_bound_is_inclusive() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("h", "help", (), (1.0, 2.0), registry)

    histogram.observe_many([1.0, 2.0, 2.5])

    assert registry.get_sample_value("h_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("h_bucket", {"le": "2.0"}) == 2
    assert registry.get_sample_value("h_bucket", {"le": "+Inf"}) == 3
    assert registry.get_sample_value("h_sum") == 5.5


def test_an_initialised_series_is_exposed_at_zero_before_any_observation() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("h", "help", ("check",), BUCKETS, registry)

    histogram.init_series("duration")

    assert registry.get_sample_value("h_count", {"check": "duration"}) == 0


def test_an_empty_batch_changes_nothing() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("h", "help", (), BUCKETS, registry)

    histogram.observe_many([])

    assert registry.get_sample_value("h_count") is None


def test_wrong_label_count_is_refused() -> None:
    histogram = BatchHistogram("h", "help", ("a", "b"), BUCKETS, CollectorRegistry())
    with pytest.raises(ValueError, match="takes labels"):
        histogram.observe_many([1.0], "only-one")
