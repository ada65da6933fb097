"""The decision service's transactional writer on a real broker: stable writer ids per instance
slot, and what a fence does to a live instance.

A restarted instance fences its dead predecessor (same slot, same writer id) at once, so its
open transaction never holds read_committed readers back; a live instance fenced by another
with its slot exits non-zero instead of going on as a zombie.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from models.store import ensure_trained
from producers.synthetic import generate_rides
from streamjury.demo.events import demo_events
from streamjury.demo.orchestrator import Orchestrator, ServiceSpec
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.schemas import utc_now
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
from tests.integration.kafka.helpers import Process
from tests.integration.kafka.pipeline import (
    Pipeline,
    Restarts,
    assert_exactly_one_current_decision,
    clean_env,
    wait_until,
)
from tests.integration.ops.support import free_port, http_get

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT_S = 300.0
CHUNK = 30
LONG_TRANSACTION_TIMEOUT_MS = 600_000
"""Ten minutes: a test that finishes well within WAIT_S proves no reader waited for it."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=2000)
    return folder


@pytest.fixture
def pipeline(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> Pipeline:
    return Pipeline(kafka_backend, kafka_broker.bootstrap_servers, stream_prefix)


def in_transaction(process: Process) -> bool:
    return any("IN_TRANSACTION" in line for line in process.lines)


def writer_ids(log_lines: list[str]) -> list[str]:
    marker = "transactional writer "
    return [line.split(marker, 1)[1].split(" ready", 1)[0] for line in log_lines if marker in line]


def test_a_decision_service_killed_mid_transaction_and_restarted_in_its_slot_blocks_no_reader(
    tmp_path: Path, models: Path, pipeline: Pipeline, processes: list[Process]
) -> None:
    env = clean_env(
        models, STREAMJURY_KAFKA_TRANSACTION_TIMEOUT_MS=str(LONG_TRANSACTION_TIMEOUT_MS)
    )
    specs = pipeline.services(models)
    (decide,) = [spec for spec in specs if spec.name == "decision"]
    consumers = [spec for spec in specs if spec.name != "decision"]
    events = demo_events(seed=21, count=150, bad=0, start=utc_now()).valid
    expected = {event.event_id for event in events}

    with Orchestrator([*consumers, decide], tmp_path / "logs", env=env, cwd=tmp_path) as services:
        for spec in consumers:
            services.start(spec.name)
        paused = Process(
            [sys.executable, "-m", "tests.integration.kafka.paused_decide", "2", *decide.args],
            name="paused decision",
            env=env,
        )
        processes.append(paused)
        chunks = [events[n : n + CHUNK] for n in range(0, len(events), CHUNK)]
        published = 0
        for chunk in chunks[: len(chunks) // 2]:  # small chunks: several transactions
            if in_transaction(paused):
                break
            pipeline.publish(chunk)
            published += 1
            time.sleep(2.0)
        paused.wait_for("IN_TRANSACTION", timeout=WAIT_S)  # its second transaction is open
        paused.kill()  # the second transaction stays open: its outputs are in the log
        # (reading the decisions now would wait for that transaction: the restart ends it)
        for chunk in chunks[published:]:
            pipeline.publish(chunk)
        restarted = services.start("decision")  # same slot: instance 0
        restarts = Restarts(services)
        wait_until(lambda: pipeline.decided() == expected, "every decision", restarts, WAIT_S)
        exits = services.stop_all()

    assert restarts.count == {}
    assert exits == dict.fromkeys(exits, 0), exits
    (old_id,) = writer_ids(paused.lines)
    assert writer_ids(restarted.log_path.read_text().splitlines()) == [old_id]
    assert_exactly_one_current_decision(pipeline.decisions(), expected)


def test_a_decision_service_fenced_by_a_live_instance_in_its_slot_exits_non_zero(
    tmp_path: Path, models: Path, pipeline: Pipeline
) -> None:
    env = clean_env(models)
    specs = pipeline.services(models)
    (decide,) = [spec for spec in specs if spec.name == "decision"]
    twin = ServiceSpec("decision-twin", decide.args)  # same group, same slot: a misconfiguration
    events = demo_events(seed=23, count=150, bad=0, start=utc_now()).valid
    expected = {event.event_id for event in events}

    with Orchestrator([*specs, twin], tmp_path / "logs", env=env, cwd=tmp_path) as services:
        for spec in specs:
            services.start(spec.name)
        pipeline.publish(events[:100])
        # All of them, so the first one is idle when the twin starts: a transaction of its own
        # in flight then would be fenced before the twin's writer is seen ready.
        first_ids = {event.event_id for event in events[:100]}
        wait_until(
            lambda: pipeline.decided() == first_ids,
            "the first decisions",
            services.check_running,
            WAIT_S,
        )
        twin_process = services.start("decision-twin")  # its writer fences the first one's
        wait_until(
            lambda: "transactional writer" in twin_process.log_path.read_text(),
            "the twin's writer",
            services.check_running,
            WAIT_S,
        )
        pipeline.publish(events[100:])  # the first one's next transaction finds it fenced
        first = services["decision"]
        assert first.wait(WAIT_S) == 1, first.log_tail()
        wait_until(lambda: pipeline.decided() == expected, "every decision", lambda: None, WAIT_S)
        twin_exit = services.stop("decision-twin")

    log = first.log_path.read_text()
    assert "exiting so that an orchestrator restarts this one" in log
    assert "was fenced" in log
    assert twin_exit == 0
    assert_exactly_one_current_decision(pipeline.decisions(), expected)


class HeldProbe:
    """A ``GET /readyz`` held open: its request line is sent a byte at a time, so the service
    cannot stop without answering it (an accepted request is always answered), and completed
    when the test says; the answer is the readiness the service has at that moment."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self._sock.sendall(b"GET /readyz?held=")
        # Connections are accepted in order: one answered after it means it was accepted.
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    def keep_alive(self) -> None:
        """One more byte of the query: the server drops a client that sends nothing for 10 s."""
        self._sock.sendall(b"x")

    def answer(self) -> tuple[int, dict[str, object]]:
        self._sock.sendall(b" HTTP/1.0\r\nHost: probe\r\n\r\n")
        with self._sock.makefile("rb") as response:
            status = int(response.readline().split()[1])
            while response.readline().strip():
                pass
            answer: dict[str, object] = json.loads(response.read())
        self._sock.close()
        return status, answer


def ride_verdicts(count: int) -> list[OutRecord]:
    """One duration verdict per ride, keyed by its event id, as a consumer writes it."""
    records = []
    for ride in generate_rides(29, count):
        event = ride.event
        verdict = {
            "schema_version": 1,
            "event_id": event.event_id,
            "event_type": "ride",
            "check": "duration",
            "model_name": "duration",
            "model_version": "1",
            "value": 12.5,
            "event_occurred_at": event.occurred_at.isoformat(),
            "produced_at": event.occurred_at.isoformat(),
            "source": {"stream": "rides", "partition": "0", "offset": 0},
        }
        records.append(OutRecord(event.event_id, json.dumps(verdict).encode()))
    return records


def ready(port: int) -> bool:
    return http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200


def test_a_fenced_decision_service_answers_readyz_false_then_exits_non_zero(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    """What an orchestrator sees: /readyz says the writer is gone, then the process exits 1.

    A probe is in flight when the twin fences the first instance, and is completed once the
    first one has logged the fence: the first cannot have stopped serving before answering it.
    """
    (decide,) = [spec for spec in pipeline.services(tmp_path) if spec.name == "decision"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    ports = {"decision": free_port(), "decision-twin": free_port()}
    fenced = "exiting so that an orchestrator restarts this one"

    def start(name: str) -> Process:
        command = decide.command(sys.executable)
        return Process([*command, "--metrics-port", str(ports[name])], name=name, env=env)

    first = start("decision")
    twin: Process | None = None
    try:
        wait_until(lambda: ready(ports["decision"]), "the first ready", lambda: None, WAIT_S)
        probe = HeldProbe(ports["decision"])
        twin = start("decision-twin")  # same group, same slot (instance 0): a misconfiguration
        twin.wait_for("transactional writer", timeout=WAIT_S)  # its writer fenced the first's
        verdicts = pipeline.names.physical("verdicts")
        producer = pipeline.backend.producer()
        producer.send(verdicts, ride_verdicts(60))  # some land on the first one's partitions
        producer.flush()
        producer.close()
        deadline = time.monotonic() + WAIT_S
        while not any(fenced in line for line in first.lines):
            assert time.monotonic() < deadline, first.output()
            probe.keep_alive()
            time.sleep(1.0)
        status, answer = probe.answer()
        exit_code = first.wait(WAIT_S)
        wait_until(lambda: ready(ports["decision-twin"]), "the twin ready", lambda: None, WAIT_S)
    finally:
        first.kill()
        if twin is not None:
            twin.stop()

    assert status == 503, answer
    assert answer["ready"] is False
    assert "writer" in answer["waiting_for"]  # (its partitions may be gone by then too)
    assert exit_code == 1, first.output()
