"""The whole pipeline on Kinesis, as OS processes: producer -> kinesis-local -> duration and tip
consumers -> verdicts -> decision service -> decisions, with checkpoints in DynamoDB (moto).

The decision service is SIGKILLed mid-run and restarted; its join state lives in the table
stream. The accounting is exact: every ride gets a decision, and a decision appears twice only
as a redelivery of the same (event_id, revision) with the same outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.train import train_all
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer
from streamjury.schemas import Decision, Verdict
from streamjury.streams.kinesis import KinesisBackend
from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
from streamjury.streams.names import PIPELINE_STREAMS, StreamNames
from tests.integration.kinesis.conftest import OpenBackend

pytestmark = [pytest.mark.kinesis, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
RIDES_PER_ROUND = 60
WAIT_S = 90.0
"""Generous: a killed member's leases expire after 10 s, and the machine may be busy."""


@dataclass
class Pipeline:
    """Starts the services as processes and reads what they wrote."""

    backend: KinesisBackend
    names: StreamNames
    env: dict[str, str]
    endpoint: str
    logs: Path
    processes: list[subprocess.Popen[bytes]]

    def streamjury(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "streamjury.cli.main", "--log-level", "INFO", *args]
        command += ["--backend", "kinesis", "--kinesis-endpoint", self.endpoint]
        command += ["--stream-prefix", self.names.prefix]
        with (self.logs / f"{name}.log").open("ab") as log_file:
            process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log_file, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def produce(self, seed: int) -> subprocess.Popen[bytes]:
        """Publish RIDES_PER_ROUND rides in batches of 10, without waiting."""
        return self.streamjury(
            f"produce-{seed}",
            "produce",
            "rides",
            "--count",
            str(RIDES_PER_ROUND),
            "--seed",
            str(seed),
            "--batch-size",
            "10",
        )

    def read(self, logical: str) -> list[bytes]:
        stream = self.names.physical(logical)
        return [
            record.value
            for partition in self.backend.partitions(stream)
            for record in self.backend.read_partition(stream, partition)
        ]

    def ride_ids(self) -> set[str]:
        return {json.loads(value)["event_id"] for value in self.read("rides")}

    def decisions(self) -> list[Decision]:
        return [Decision.model_validate_json(value) for value in self.read("decisions")]

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; logs:\n{self.service_logs()}")
            time.sleep(0.5)

    def service_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}"
            for path in sorted(self.logs.iterdir())
        )


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    train_all(folder, rows=300, seed=0)
    return folder


@pytest.fixture
def pipeline(
    tmp_path: Path,
    models_dir: Path,
    kinesis_local: LocalKinesis,
    moto_server: MotoServer,
    open_backend: OpenBackend,
) -> Iterator[Pipeline]:
    table = f"cp-{uuid.uuid4().hex[:10]}"
    backend = open_backend(DynamoCheckpointStore(moto_server.client("dynamodb"), table))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMJURY_", "AWS_"))}
    env |= {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": kinesis_local.region,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint_url,
        "STREAMJURY_KINESIS_CHECKPOINT_TABLE": table,
        "STREAMJURY_MODELS": str(models_dir),
        "STREAMJURY_LOCAL_DIR": str(tmp_path / "local"),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    names = StreamNames(f"e2e{uuid.uuid4().hex[:8]}-")
    processes: list[subprocess.Popen[bytes]] = []
    yield Pipeline(backend, names, env, kinesis_local.endpoint_url, logs, processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_every_ride_is_decided_and_duplicates_are_only_redeliveries(pipeline: Pipeline) -> None:
    names = pipeline.names
    pipeline.backend.ensure_streams([names.physical(name) for name in PIPELINE_STREAMS])
    consumers = [pipeline.streamjury(check, "consume", check) for check in ("duration", "tip")]
    decide = pipeline.streamjury("decide-1", "decide", "--batch-size", "20")

    assert pipeline.produce(seed=1).wait(timeout=WAIT_S) == 0, pipeline.service_logs()
    pipeline.wait_until(lambda: len(pipeline.decisions()) >= 10, "the first decisions")
    second_round = pipeline.produce(seed=2)
    pipeline.wait_until(
        lambda: len(pipeline.decisions()) > RIDES_PER_ROUND, "decisions of the second round"
    )
    decide.send_signal(signal.SIGKILL)  # mid-run: state and checkpoints as they happen to be
    decide.wait()
    assert second_round.wait(timeout=WAIT_S) == 0, pipeline.service_logs()
    pipeline.streamjury("decide-2", "decide", "--batch-size", "20")  # takes over once the
    # killed member's leases expire, restoring the joins from the decision-state table stream

    rides = pipeline.ride_ids()
    assert len(rides) == 2 * RIDES_PER_ROUND
    pipeline.wait_until(
        lambda: {d.event_id for d in pipeline.decisions()} >= rides, "a decision for every ride"
    )
    time.sleep(2.0)  # anything still in flight (a redelivery) lands now
    for process in consumers:
        assert process.poll() is None, pipeline.service_logs()

    decisions = pipeline.decisions()
    assert {d.event_id for d in decisions} == rides
    copies: dict[tuple[str, int], list[Decision]] = defaultdict(list)
    for decision in decisions:
        copies[(decision.event_id, decision.revision)].append(decision)
    for (event_id, revision), same in copies.items():
        assert {d.outcome for d in same} == {same[0].outcome}, (event_id, revision)
        assert all(not d.missing_checks for d in same), "every ride had both verdicts"
    revisions = defaultdict(set)
    for event_id, revision in copies:
        revisions[event_id].add(revision)
    assert all(r == set(range(1, len(r) + 1)) for r in revisions.values())

    verdicts = [Verdict.model_validate_json(value) for value in pipeline.read("verdicts")]
    checks = Counter((v.event_id, v.check) for v in verdicts)
    assert {event_id for event_id, _ in checks} == rides
    assert {check for _, check in checks} == {"duration", "tip"}
    assert len(checks) == 2 * len(rides)
    assert pipeline.read("deadletter") == []
