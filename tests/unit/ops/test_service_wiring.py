"""The consumer and decision services, run in-process with ``http_port`` set, are observable.

``/readyz`` waits for the model and for partitions; ``/metrics`` counts what the loop did.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from consumers.app import run_consumer
from consumers.settings import ConsumerSettings
from decision.app import build_service
from decision.policy import load_policy
from decision.settings import DecisionSettings
from models.store import ModelStore, ensure_trained
from producers.synthetic import generate_rides
from streamjury.ops.metrics import ServiceMetrics
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from streamjury.streams.names import StreamNames

RIDES = 30
WAIT_S = 20.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ops-models")
    ensure_trained(folder, rows=300)
    return folder


class GatedModels:
    """A ModelStore that hands out a model only once the test opens the gate."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.gate = threading.Event()

    def load(self, name: str) -> object:
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        return self.store.load(name)

    def version(self, name: str) -> str:
        return self.store.version(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_consumer_is_ready_only_once_its_model_is_loaded_and_it_owns_partitions(
    trained: Path,
) -> None:
    backend = MemoryBackend(partitions=2)
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    rides = [labelled.event for labelled in generate_rides(5, RIDES)]
    producer.send("rides", [OutRecord(r.event_id, r.to_bytes()) for r in rides])
    producer.flush()
    port = free_port()
    settings = ConsumerSettings.model_validate(
        {"check": "duration", "backend": "memory", "http_port": port, "lag_interval_s": 0.05}
    )
    models = GatedModels(ModelStore(trained))
    stop = threading.Event()
    runner = threading.Thread(
        target=run_consumer,
        args=(settings, stop.is_set),
        kwargs={"backend": backend, "models": models},
        daemon=True,
    )
    runner.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, "the ops server")
        status, body = get(f"{base}/readyz")
        assert status == 503
        assert json.loads(body)["waiting_for"] == ["assignment", "model"]

        models.gate.set()
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, "readiness")

        consumer = {"service": "consumer", "check": "duration"}

        def counted(name: str, **labels: str) -> float | None:
            key = (name, frozenset({**consumer, **labels}.items()))
            return samples(get(f"{base}/metrics")[1]).get(key)

        wait_for(lambda: counted("streamjury_verdicts_out_total") == RIDES, "every verdict")
        assert counted("streamjury_records_in_total") == RIDES
        assert counted("streamjury_ready") == 1
        version = models.version("duration")
        assert counted("streamjury_model_info", model="duration", version=version) == 1
        assert (counted("streamjury_predict_seconds_count") or 0) >= 1
        assert counted("streamjury_end_to_end_seconds_count") == RIDES
        wait_for(
            lambda: counted("streamjury_consumer_lag_records", stream="rides", partition="0") == 0,
            "the lag to reach 0",
        )
    finally:
        models.gate.set()
        stop.set()
        runner.join(WAIT_S)
    assert not runner.is_alive()
    assert get(f"{base}/healthz")[0] == 0  # the server stopped with the service


def test_the_decision_service_counts_decisions_by_outcome_and_its_dead_letters() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "decision")
    settings = DecisionSettings(backend="memory")
    names = StreamNames(settings.stream_prefix)
    backend = MemoryBackend(partitions=1)
    backend.ensure_streams([names.verdicts])
    ride = next(iter(generate_rides(9, 1))).event
    verdicts = [
        {
            "schema_version": 1,
            "event_id": ride.event_id,
            "event_type": "ride",
            "check": check,
            "model_name": check,
            "model_version": "1",
            "value": value,
            "event_occurred_at": ride.occurred_at.isoformat(),
            "produced_at": ride.occurred_at.isoformat(),
            "source": {"stream": "rides", "partition": "0", "offset": 0},
        }
        for check, value in (("duration", 12.0), ("tip", 2.5))
    ]
    producer = backend.producer()
    producer.send(
        names.verdicts,
        [OutRecord(ride.event_id, json.dumps(v).encode()) for v in verdicts]
        + [OutRecord("bad", b"not json")],
    )
    producer.flush()

    with build_service(settings, backend, load_policy(None), metrics=metrics) as service:
        while service.step():
            pass

    decision = {"service": "decision", "check": ""}
    assert registry.get_sample_value("streamjury_records_in_total", decision) == 3
    assert (
        registry.get_sample_value(
            "streamjury_decisions_out_total", {**decision, "outcome": "estimate"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "streamjury_dead_letters_total", {**decision, "reason": "invalid_json"}
        )
        == 1
    )
    assert registry.get_sample_value("streamjury_end_to_end_seconds_count", decision) == 1
