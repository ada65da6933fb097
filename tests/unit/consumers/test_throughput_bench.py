"""Smoke test of bench/consumer_throughput.py on tiny inputs: it runs and counts right.

Timings are never asserted: they depend on the machine; the benchmark prints them.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.consumer_throughput import benchmark, format_table, model_source
from models.store import ModelStore
from models.train import MODEL_NAMES


def test_every_check_is_measured_both_ways_on_every_event(trained_models: Path) -> None:
    rows = benchmark(
        list(MODEL_NAMES),
        ModelStore(trained_models),
        events=30,
        baseline_events=10,
        batch_size=8,
    )

    assert [row.check for row in rows] == list(MODEL_NAMES)
    for row in rows:
        assert (row.batched.events, row.batched.verdicts) == (30, 30)
        assert (row.per_message.events, row.per_message.verdicts) == (10, 10)
        assert row.ratio > 0


def test_the_table_has_a_line_per_check(trained_models: Path) -> None:
    rows = benchmark(
        ["duration"],
        ModelStore(trained_models),
        events=5,
        baseline_events=5,
        batch_size=2,
        repeat=2,
    )

    table = format_table(rows, batch_size=2).splitlines()

    assert len(table) == 3
    assert table[2].startswith("duration")


def test_models_are_trained_into_a_temporary_folder_when_none_exist(tmp_path: Path) -> None:
    empty = tmp_path / "no-models"

    with model_source(str(empty), training_rows=300) as models:
        assert isinstance(models, ModelStore)
        assert models.missing(MODEL_NAMES) == []

    assert not empty.exists()


def test_runs_can_be_timed_by_cpu_time(trained_models: Path) -> None:
    (row,) = benchmark(
        ["tip"],
        ModelStore(trained_models),
        events=6,
        baseline_events=3,
        batch_size=4,
        clock=time.process_time,
    )

    assert (row.batched.events, row.per_message.events) == (6, 3)
    assert row.batched.seconds > 0
    assert row.per_message.seconds > 0
