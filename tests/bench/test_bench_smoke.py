"""Smoke test of ``python -m bench`` at its tiny size on the real broker: it runs, counts right and
renders a report. Timings are never asserted: they depend on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import run_suite
from bench.report import BEGIN, END, summary_lines, write_report
from bench.sizes import SIZES
from models.store import ensure_trained
from streamjury.devservers.kafka import LocalKafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def bench_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-models")
    ensure_trained(folder, rows=300)
    return folder


def test_the_suite_measures_every_stage_and_reports_it(
    kafka_broker: LocalKafkaBroker, bench_models: Path, tmp_path: Path
) -> None:
    size = SIZES["smoke"]

    results = run_suite(size, kafka_broker.bootstrap_servers, bench_models, tmp_path, print)

    assert json.loads(json.dumps(results)) == results  # what --json writes
    assert set(results["check"][0]) == {
        "passthrough",
        "tutorial",
        *(f"batch {b}" for b in size.batch_sizes),
    }
    assert all(rate > 0 for rate in results["check"][0].values())
    assert set(results["checks"]) == {"duration", "tip", "copyright", "nsfw", "violence"}
    assert [row["instances"] for row in results["decision"]] == [1, 2] * size.repeat
    assert all(
        0 < row["verdicts_per_s"] <= row["verdicts_per_s_from_first_decision"]
        for row in results["decision"]
    )
    assert results["cli"]["events"] == size.cli_events
    assert results["lambda"]["records"] == 100
    ours = [run for run in results["pipeline"] if run["system"] == "streamjury"]
    assert [run["offered"] for run in ours] == list(size.offered_loads)
    for run in ours:
        assert run["ok"], run["headline"]
        assert run["decided"] == run["events"] == size.phase_events(run["offered"])
        assert set(run["latency_ms"]) == set(run["decided_ms"]) == {"p50", "p95", "p99", "max"}
        assert {u["service"] for u in run["usage"]} == {
            "duration",
            "tip",
            "copyright",
            "nsfw",
            "violence",
            "decision",
        }
    co_located = [r for r in results["pipeline"] if r["system"] == "streamjury (co-located checks)"]
    assert [run["offered"] for run in co_located] == list(size.co_located_loads)
    for run in co_located:
        assert run["ok"], run["headline"]
        assert run["decided"] == run["events"]
        assert {u["service"] for u in run["usage"]} == {
            "duration+tip",
            "copyright+nsfw+violence",
            "decision",
        }
    two = [r for r in results["pipeline"] if "2 decision instances" in r["system"]]
    assert [run["offered"] for run in two] == list(size.two_deciders_loads)
    assert all(run["ok"] and run["decided"] == run["events"] for run in two)
    assert {u["service"] for u in two[0]["usage"]} >= {"decision", "decision-1"}
    assert any("co-located checks" in line for line in summary_lines(results))


def test_the_report_replaces_only_its_own_section(tmp_path: Path) -> None:
    results = {
        "versions": dict.fromkeys(
            ("python", "confluent-kafka", "quixstreams", "numpy", "scikit-learn", "pydantic"), "1"
        ),
        "size": "smoke",
        "started": 0.0,
        "finished": 60.0,
        "check": [{"passthrough": 100.0, "batch 500": 50.0}],
        "decision": [
            {
                "instances": 1,
                "verdicts_per_s": 10.0,
                "verdicts_per_s_from_first_decision": 12.0,
                "decisions_per_s": 4.0,
            },
            {
                "instances": 2,
                "verdicts_per_s": 18.0,
                "verdicts_per_s_from_first_decision": 21.0,
                "decisions_per_s": 7.0,
            },
        ],
        "decision_verdicts": 25,
        "pipeline": [
            {
                "system": system,
                "offered": offered,
                "events": 10,
                "decided": 10,
                "ok": True,
                "throughput": rate,
                "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0},
                "decided_ms": {"p50": 0.5, "p95": 1.5, "p99": 2.5, "max": 3.5},
                "usage": [{"service": "decision", "cpu_s": 0.1, "peak_rss_mb": 50.0}],
                "headline": "",
            }
            for system, offered, rate in (("streamjury", 0, 30.0), ("quix", 0, 10.0))
        ],
    }
    report = tmp_path / "benchmarks.md"
    report.write_text(f"# Title\n\nprose\n\n{BEGIN}\nold\n{END}\n\nmore prose\n")

    write_report(results, report)

    text = report.read_text()
    assert text.startswith("# Title\n\nprose\n\n")
    assert text.endswith("\n\nmore prose\n")
    assert "old" not in text
    assert "50.0% of raw passthrough" in text
    assert "3.0x Quix Streams" in text
    assert "| 1 | 2 | 3 | 4 | 2 |" in text  # visible p50..max, then p99 to decided_at (2.5)
    assert "| 1 | 10 | 10..10 | 12 | 4 |" in text
    assert "| 2 | 18 | 18..18 | 21 | 7 |" in text
    assert summary_lines(results)[0].startswith("one check (duration, batch 500): 50.0% of")
    assert (
        "decision service: 10 verdicts/s with one instance (12 from the first decision), "
        "18 verdicts/s with 2 instances (21 from the first decision)"
    ) in summary_lines(results)
