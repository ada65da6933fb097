"""ServiceMetrics: one call per batch moves the right counters; nothing lands on the global registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streamjury.ops.metrics import OUTCOMES, NullMetrics, ServiceMetrics
from streamjury.ops.reasons import REASON_CLASSES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CONSUMER = {"service": "consumer", "check": "duration"}
DECISION = {"service": "decision", "check": ""}


@dataclass
class Output:
    event_occurred_at: datetime
    outcome: str = "approve"


@dataclass
class Letter:
    reason: str


def consumer_metrics() -> tuple[ServiceMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return ServiceMetrics(registry, "consumer", "duration", clock=NOW.timestamp), registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_batch_counts_records_verdicts_and_dead_letters_by_reason_class() -> None:
    metrics, registry = consumer_metrics()
    verdicts = [Output(NOW - timedelta(seconds=1))] * 7

    metrics.observe_batch(
        records=10,
        verdicts=verdicts,
        dead_letters=[Letter("record: Invalid JSON: oops")] * 2 + [Letter("model error: boom")],
    )

    assert value(registry, "streamjury_records_in_total", **CONSUMER) == 10
    assert value(registry, "streamjury_verdicts_out_total", **CONSUMER) == 7
    dead = "streamjury_dead_letters_total"
    assert value(registry, dead, **CONSUMER, reason="invalid_json") == 2
    assert value(registry, dead, **CONSUMER, reason="model_error") == 1
    assert value(registry, dead, **CONSUMER, reason="validation") == 0
    assert value(registry, "streamjury_batch_records_count", **CONSUMER) == 1
    assert value(registry, "streamjury_batch_records_sum", **CONSUMER) == 10


def test_end_to_end_latency_is_from_occurred_at_to_the_write() -> None:
    metrics, registry = consumer_metrics()
    ages = [0.2, 0.2, 3.0]

    metrics.observe_batch(records=3, verdicts=[Output(NOW - timedelta(seconds=a)) for a in ages])

    name = "streamjury_end_to_end_seconds"
    assert value(registry, f"{name}_count", **CONSUMER) == 3
    assert value(registry, f"{name}_sum", **CONSUMER) == pytest.approx(3.4)
    assert value(registry, f"{name}_bucket", **CONSUMER, le="0.25") == 2
    assert value(registry, f"{name}_bucket", **CONSUMER, le="2.5") == 2
    assert value(registry, f"{name}_bucket", **CONSUMER, le="5.0") == 3


def test_an_event_from_a_clock_ahead_of_ours_counts_as_zero_latency_not_negative() -> None:
    metrics, registry = consumer_metrics()

    metrics.observe_batch(records=1, verdicts=[Output(NOW + timedelta(seconds=5))])

    assert value(registry, "streamjury_end_to_end_seconds_sum", **CONSUMER) == 0


def test_decisions_are_counted_by_outcome_and_every_outcome_starts_at_zero() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "decision", clock=NOW.timestamp)
    assert {
        outcome: value(registry, "streamjury_decisions_out_total", **DECISION, outcome=outcome)
        for outcome in OUTCOMES
    } == dict.fromkeys(OUTCOMES, 0.0)

    metrics.observe_batch(
        records=4, decisions=[Output(NOW, "approve")] * 3 + [Output(NOW, "incomplete")]
    )

    decisions = "streamjury_decisions_out_total"
    assert value(registry, decisions, **DECISION, outcome="approve") == 3
    assert value(registry, decisions, **DECISION, outcome="incomplete") == 1
    assert value(registry, decisions, **DECISION, outcome="remove") == 0


def test_a_timer_only_batch_writes_decisions_without_counting_a_batch() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "decision", clock=NOW.timestamp)

    metrics.observe_batch(records=0, decisions=[Output(NOW, "incomplete")])

    assert value(registry, "streamjury_batch_records_count", **DECISION) == 0
    assert value(registry, "streamjury_end_to_end_seconds_count", **DECISION) == 1


def test_every_dead_letter_reason_class_is_exposed_from_the_start() -> None:
    _, registry = consumer_metrics()
    for reason in REASON_CLASSES:
        assert value(registry, "streamjury_dead_letters_total", **CONSUMER, reason=reason) == 0


def test_a_batch_taken_over_before_its_commit_is_counted_as_uncommitted() -> None:
    metrics, registry = consumer_metrics()

    metrics.observe_batch(records=5, committed=False)

    assert value(registry, "streamjury_uncommitted_batches_total", **CONSUMER) == 1


class Model:
    name = "m"
    version = "v1"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def predict(self, events: Sequence[Any]) -> list[Any]:
        self.seen.append(len(events))
        if not events:
            raise ValueError("nothing to predict")
        return [1.0 for _ in events]


def test_a_timed_model_predicts_as_before_and_each_call_is_observed_even_a_failing_one() -> None:
    metrics, registry = consumer_metrics()
    model = Model()
    timed = metrics.timed(model)

    assert timed.predict([1, 2, 3]) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="nothing"):
        timed.predict([])

    assert (timed.name, timed.version) == ("m", "v1")
    assert model.seen == [3, 0]
    assert value(registry, "streamjury_predict_seconds_count", **CONSUMER) == 2


def test_lag_of_partitions_no_longer_owned_disappears() -> None:
    metrics, registry = consumer_metrics()
    lag = "streamjury_consumer_lag_records"

    metrics.set_lag_records("rides", {"0": 5, "1": 0})
    metrics.set_lag_records("rides", {"1": 2})

    assert value(registry, lag, **CONSUMER, stream="rides", partition="0") is None
    assert value(registry, lag, **CONSUMER, stream="rides", partition="1") == 2


def test_the_served_model_is_one_info_series() -> None:
    metrics, registry = consumer_metrics()

    metrics.set_model("duration", "duration-1")
    metrics.set_model("duration", "duration-2")

    info = "streamjury_model_info"
    assert value(registry, info, **CONSUMER, model="duration", version="duration-2") == 1
    assert value(registry, info, **CONSUMER, model="duration", version="duration-1") is None


def test_co_located_checks_show_one_info_series_per_model() -> None:
    metrics, registry = consumer_metrics()

    metrics.set_model("duration", "duration-1")
    metrics.set_model("tip", "tip-1")
    metrics.set_model("tip", "tip-2")

    info = "streamjury_model_info"
    assert value(registry, info, **CONSUMER, model="duration", version="duration-1") == 1
    assert value(registry, info, **CONSUMER, model="tip", version="tip-2") == 1
    assert value(registry, info, **CONSUMER, model="tip", version="tip-1") is None


def test_ready_is_a_gauge() -> None:
    metrics, registry = consumer_metrics()
    metrics.set_ready(True)
    assert value(registry, "streamjury_ready", **CONSUMER) == 1
    metrics.set_ready(False)
    assert value(registry, "streamjury_ready", **CONSUMER) == 0


def test_nothing_is_registered_on_the_global_registry() -> None:
    before = generate_latest(prometheus_client.REGISTRY)
    metrics, _ = consumer_metrics()
    metrics.observe_batch(records=1, verdicts=[Output(NOW)])
    assert b"streamjury_" not in before
    assert b"streamjury_" not in generate_latest(prometheus_client.REGISTRY)


def test_two_services_in_one_process_have_separate_registries() -> None:
    consumer_metrics()
    consumer_metrics()  # the same names again: no "Duplicated timeseries" error


def test_null_metrics_accept_every_call_and_return_the_model_itself() -> None:
    metrics = NullMetrics()
    model = Model()
    metrics.observe_batch(records=3, verdicts=[Output(NOW)], dead_letters=[Letter("x")])
    metrics.set_lag_records("rides", {"0": 1})
    metrics.set_lag_seconds("rides", {"0": 1.0})
    metrics.set_model("m", "v")
    metrics.set_ready(True)
    assert metrics.timed(model) is model
