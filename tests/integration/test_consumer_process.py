"""A model consumer as its own OS process on the local backend: SIGTERM, restart, exact accounting.

The consumer is started the way users start it (``streamjury consume``), with real trained models.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.store import ensure_trained
from producers.synthetic import generate_rides, generate_uploads
from streamjury.schemas import DeadLetter, Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.local import LocalBackend

pytestmark = pytest.mark.slow

RIDES, VERDICTS, DEADLETTER = "rides", "verdicts", "deadletter"
GROUP = "streamjury-duration"
VALID_RIDES = 4_000
BATCH_SIZE = 10
"""Small batches, so a SIGTERM surely lands while most of the input is still unread."""
WAIT_S = 90.0


@dataclass
class Consumer:
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=300)
    return folder


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "log", partitions=4)
    backend.ensure_streams([RIDES, VERDICTS, DEADLETTER])
    yield backend
    backend.close()


def bad_records() -> list[bytes]:
    """One record of every kind the consumer must dead-letter rather than score."""
    ride = json.loads(generate_rides(9, 1)[0].event.to_bytes())
    upload = generate_uploads(9, 1)[0].event.to_bytes()
    return [
        b'{"event_id": "cut-short", ',
        b"\xff\xfe not UTF-8",
        b'{"event_type": "scooter", "event_id": "s-1"}',
        upload,
        json.dumps({**ride, "trip_distance": "far"}).encode(),
        json.dumps({**ride, "fare_amount": None}).encode(),
        json.dumps({k: v for k, v in ride.items() if k != "PULocationID"}).encode(),
        json.dumps({**ride, "trip_distance": float("nan")}).encode(),
        json.dumps({**ride, "event_id": "x" * 70_000}).encode(),
    ]


def publish_input(backend: LocalBackend) -> tuple[set[str], list[bytes]]:
    """Valid rides with the bad records spread among them; (valid event ids, bad payloads)."""
    rides = [labelled.event for labelled in generate_rides(5, VALID_RIDES)]
    bad = bad_records()
    records = [OutRecord(ride.event_id, ride.to_bytes()) for ride in rides]
    spacing = len(records) // len(bad)
    for n, payload in enumerate(bad):
        records.insert(n * spacing + spacing // 2, OutRecord(f"bad-{n}", payload))
    producer = backend.producer()
    producer.send(RIDES, records)
    producer.flush()
    producer.close()
    return {ride.event_id for ride in rides}, bad


def start_consumer(backend: LocalBackend, models: Path, tmp_path: Path, run: int) -> Consumer:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    log = tmp_path / f"consumer-{run}.log"
    command = [
        sys.executable,
        "-m",
        "streamjury.cli.main",
        "consume",
        "duration",
        "--backend",
        "local",
        "--local-dir",
        str(backend.directory),
        "--models",
        str(models),
        "--batch-size",
        str(BATCH_SIZE),
    ]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=stderr)
    return Consumer(process, log)


def committed(backend: LocalBackend) -> int:
    return sum(backend.committed(RIDES, GROUP).values())


def total_input(backend: LocalBackend) -> int:
    return sum(backend.end_offsets(RIDES).values())


def wait_until(condition: Callable[[], bool], consumer: Consumer) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert consumer.process.poll() is None, f"consumer died:\n{consumer.log_tail()}"
        assert time.monotonic() < deadline, f"timed out:\n{consumer.log_tail()}"
        time.sleep(0.02)


def stop(consumer: Consumer) -> int:
    consumer.process.send_signal(signal.SIGTERM)
    try:
        return consumer.process.wait(timeout=WAIT_S)
    finally:
        if consumer.process.poll() is None:
            consumer.process.kill()


def read_stream(backend: LocalBackend, stream: str) -> list[bytes]:
    return [
        record.value
        for partition in backend.end_offsets(stream)
        for record in backend.read_partition(stream, partition)
    ]


def test_sigterm_commits_what_was_finished_and_a_restart_completes_exactly(
    backend: LocalBackend, models: Path, tmp_path: Path
) -> None:
    valid_ids, bad = publish_input(backend)
    total = total_input(backend)

    first = start_consumer(backend, models, tmp_path, run=1)
    wait_until(lambda: committed(backend) > 0, first)
    assert stop(first) == 0, first.log_tail()

    done_by_first = committed(backend)
    outputs_of_first = len(read_stream(backend, VERDICTS)) + len(read_stream(backend, DEADLETTER))
    assert 0 < done_by_first < total, "the SIGTERM did not land mid-stream"
    assert outputs_of_first == done_by_first

    second = start_consumer(backend, models, tmp_path, run=2)
    wait_until(lambda: committed(backend) == total, second)
    assert stop(second) == 0, second.log_tail()

    verdicts = Counter(
        Verdict.model_validate_json(raw).event_id for raw in read_stream(backend, VERDICTS)
    )
    letters = [DeadLetter.model_validate_json(raw) for raw in read_stream(backend, DEADLETTER)]
    assert set(verdicts) == valid_ids
    assert sum(verdicts.values()) == len(valid_ids)
    assert sorted(letter.original for letter in letters) == sorted(bad)
    assert {letter.stage for letter in letters} == {"consumer:duration"}
