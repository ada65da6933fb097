"""The Grafana dashboard and the Prometheus scrape config match the metrics services expose."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from decision.quality.join import Error, Expired, Series
from decision.quality.metrics import PrometheusQualityMetrics
from streamjury.ops.metrics import ServiceMetrics
from streamjury.ops.settings import IMAGE_HTTP_PORT
from tests.unit.ops.compose_file import load_compose

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = json.loads((ROOT / "deploy/grafana/streamjury-dashboard.json").read_text("utf-8"))
SCRAPE = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text("utf-8"))
METRIC = re.compile(r"\b((?:streamjury|process)_[a-z_]+)\b")


class Stamped:
    event_occurred_at = datetime(2025, 1, 1, tzinfo=UTC)
    outcome = "approve"


class Model:
    name = "m"
    version = "1"

    def predict(self, events: Sequence[Any]) -> list[Any]:
        return []


def exposed_names() -> set[str]:
    """Every sample name a service exposes once each metric has data."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    metrics = ServiceMetrics(registry, "consumer", "duration")
    metrics.observe_batch(records=1, verdicts=[Stamped()], decisions=[Stamped()], committed=False)
    metrics.timed(Model()).predict([])
    metrics.set_lag_records("rides", {"0": 1})
    metrics.set_lag_seconds("rides", {"0": 1.0})
    metrics.set_model("m", "1")
    quality = PrometheusQualityMetrics(registry)  # the quality service's own, on the same port
    quality.observe([Error(Series("duration", "1", "live"), 1.0, -1.0)], Expired(), 1, 0)
    text = generate_latest(registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_every_metric_a_panel_queries_is_one_a_service_exposes() -> None:
    exposed = exposed_names()
    queried = {
        name
        for panel in panels(DASHBOARD)
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    assert queried
    assert queried - exposed == set()


def test_the_dashboard_covers_throughput_latency_dead_letters_lag_readiness_and_quality() -> None:
    exprs = " ".join(t["expr"] for panel in panels(DASHBOARD) for t in panel["targets"])
    for metric in (
        "streamjury_records_in_total",
        "streamjury_verdicts_out_total",
        "streamjury_decisions_out_total",
        "streamjury_dead_letters_total",
        "streamjury_end_to_end_seconds_bucket",
        "streamjury_predict_seconds_bucket",
        "streamjury_batch_records_sum",
        "streamjury_consumer_lag_records",
        "streamjury_consumer_lag_seconds",
        "streamjury_ready",
        "streamjury_live_abs_error_sum",
        "streamjury_live_abs_error_count",
    ):
        assert metric in exprs


def test_panels_use_the_provisioned_prometheus_data_source_and_do_not_overlap() -> None:
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text("utf-8")
    )["datasources"][0]
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == datasource["uid"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, panel["title"]
        cells |= area
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


def test_prometheus_scrapes_every_long_running_streamjury_service_on_the_image_port() -> None:
    services = load_compose()["services"]
    long_running = {
        name
        for name, svc in services.items()
        if svc.get("image") == services["duration"]["image"] and svc.get("restart") != "no"
    }
    (job,) = SCRAPE["scrape_configs"]
    (dns,) = job["dns_sd_configs"]
    assert set(dns["names"]) == long_running
    assert dns["port"] == IMAGE_HTTP_PORT
    assert job["metrics_path"] == "/metrics"
