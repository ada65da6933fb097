"""A model rollout on a live Kafka pipeline: promote mid-run, then a tampered candidate.

Consumer and decision processes keep running throughout; every ride is decided exactly once,
verdicts before the swap carry the old version and after it the new one, and a candidate whose
artifact fails its sha256 is refused while the old version keeps serving (also in /readyz).
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from models.aliases import AliasBook
from models.store import ModelStore, ensure_trained
from producers.synthetic import generate_rides
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.schemas import Decision, RideEvent, Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.names import COMPACTED_STREAMS, PIPELINE_STREAMS, StreamNames
from tests.integration.kafka.helpers import Process, produce, wait_until
from tests.integration.ops.support import free_port
from tests.unit.models.support import add_version

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

WAIT_S = 120.0
PER_PHASE = 60
POLL_S = "0.5"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=1_000)
    return folder


@pytest.fixture
def models(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(trained, copy)
    return copy


def readyz(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            body: dict[str, object] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


def test_promote_mid_run_then_refuse_a_tampered_candidate(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    stream_prefix: str,
    models: Path,
    processes: list[Process],
) -> None:
    names = StreamNames(stream_prefix)
    kafka_backend.ensure_streams([names.physical(s) for s in PIPELINE_STREAMS])
    kafka_backend.ensure_streams([names.physical(s) for s in COMPACTED_STREAMS], compacted=True)
    old = ModelStore(models).version("duration")
    add_version(models, "duration", "duration-v2")
    add_version(models, "duration", "duration-v3")
    (models / "duration" / "versions" / "duration-v3" / "model.joblib").write_bytes(b"evil")
    backend = ["--backend", "kafka", "--bootstrap", kafka_broker.bootstrap_servers]
    backend += ["--stream-prefix", stream_prefix]
    env = {"STREAMJURY_MODELS": str(models), "STREAMJURY_MODEL_POLL_S": POLL_S}
    cli = [sys.executable, "-m", "streamjury.cli.main"]
    port = free_port()
    group = ("--group", f"{stream_prefix}duration")
    duration = Process(
        [*cli, "consume", "duration", *backend, *group, "--metrics-port", str(port)],
        name="duration",
        env=env,
    )
    tip = Process(
        [*cli, "consume", "tip", *backend, "--group", f"{stream_prefix}tip"], name="tip", env=env
    )
    decide = Process(
        [*cli, "decide", *backend, "--group", f"{stream_prefix}decision"], name="decide", env=env
    )
    processes.extend([duration, tip, decide])
    rides = [labelled.event for labelled in generate_rides(11, 3 * PER_PHASE)]
    phases = [rides[i * PER_PHASE : (i + 1) * PER_PHASE] for i in range(3)]

    def records(stream: str) -> list[bytes]:
        physical = names.physical(stream)
        return [
            record.value
            for partition in kafka_backend.partitions(physical)
            for record in kafka_backend.read_partition(physical, partition)
        ]

    def duration_verdicts() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for raw in records("verdicts"):
            verdict = Verdict.model_validate_json(raw)
            if verdict.check == "duration":
                found.setdefault(verdict.event_id, []).append(verdict.model_version)
        return found

    def decided(phase: list[RideEvent]) -> bool:
        keys = {Decision.model_validate_json(raw).event_id for raw in records("decisions")}
        return {ride.event_id for ride in phase} <= keys

    def publish(phase: list[RideEvent]) -> None:
        produce(
            kafka_backend,
            names.rides,
            [OutRecord(ride.event_id, ride.to_bytes()) for ride in phase],
        )

    try:
        publish(phases[0])
        assert wait_until(lambda: decided(phases[0]), timeout=WAIT_S), duration.output()

        ModelStore(models).promote("duration", "duration-v2")
        duration.wait_for("now serving duration-v2", timeout=WAIT_S)
        publish(phases[1])
        assert wait_until(lambda: decided(phases[1]), timeout=WAIT_S), duration.output()

        aliases = models / "duration" / "aliases.json"  # bypasses promote's own sha256 check
        book = AliasBook.model_validate_json(aliases.read_bytes())
        aliases.write_bytes(book.moved("production", "duration-v3").to_bytes())
        duration.wait_for("refused duration-v3", timeout=WAIT_S)
        publish(phases[2])
        assert wait_until(lambda: decided(phases[2]), timeout=WAIT_S), duration.output()
        health = readyz(port)
    finally:
        for process in processes:
            process.stop()

    verdicts = duration_verdicts()
    decisions = Counter(Decision.model_validate_json(raw).event_id for raw in records("decisions"))
    assert all(decisions[ride.event_id] == 1 for ride in rides)
    assert {v for ride in phases[0] for v in verdicts[ride.event_id]} == {old}
    assert {v for ride in phases[1] for v in verdicts[ride.event_id]} == {"duration-v2"}
    assert {v for ride in phases[2] for v in verdicts[ride.event_id]} == {"duration-v2"}
    details = health["details"]
    assert isinstance(details, dict)
    assert details["model"]["serving"] == "duration-v2"
    assert details["model"]["refused_version"] == "duration-v3"
    assert "sha256" in details["model"]["refused_reason"]
