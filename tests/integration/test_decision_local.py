"""The decision service as an OS process on the local backend: SIGKILL it mid-run, restart it,
and account for every decision exactly; SIGTERM stops it cleanly after committing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamjury.schemas import DeadLetter, Decision, SourcePosition, Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.local import LocalBackend

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GROUP = "streamjury-decision"
TIMEOUT_S = 3.0
WAIT_S = 60.0
POLICY = f"""
[ride]
required = ["duration", "tip"]
timeout_s = {TIMEOUT_S}

[upload]
required = ["copyright", "nsfw", "violence"]
timeout_s = {TIMEOUT_S}
fallback = "review"
review_quorum = 2
[upload.thresholds.copyright]
remove = 0.9
review = 0.6
review_low = 0.4
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
review_low = 0.5
[upload.thresholds.violence]
remove = 0.95
review = 0.7
review_low = 0.5
"""
UPLOAD_KINDS: dict[str, tuple[str, dict[str, float]]] = {
    "clear": ("approve", {"copyright": 0.1, "nsfw": 0.1, "violence": 0.1}),
    "copyright": ("remove", {"copyright": 0.97, "nsfw": 0.1, "violence": 0.1}),
    "band": ("review", {"copyright": 0.1, "nsfw": 0.8, "violence": 0.1}),
    "quorum": ("review", {"copyright": 0.1, "nsfw": 0.55, "violence": 0.55}),
}


@dataclass(frozen=True)
class Pipeline:
    directory: Path
    policy: Path
    logs: Path
    backend: LocalBackend

    def publish(self, verdicts: Sequence[Verdict]) -> None:
        self.publish_raw([(v.event_id, v.to_bytes()) for v in verdicts])

    def publish_raw(self, records: Sequence[tuple[str, bytes]]) -> None:
        producer = self.backend.producer()
        producer.send("verdicts", [OutRecord(key, value) for key, value in records])
        producer.flush()

    def start_service(self, name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
        with (self.logs / f"{name}.log").open("wb") as log_file:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamjury.cli.main",
                    "--log-level",
                    "WARNING",
                    "decide",
                    "--backend",
                    "local",
                    "--local-dir",
                    str(self.directory),
                    "--policy",
                    str(self.policy),
                    "--batch-size",
                    "20",
                    "--batch-timeout-ms",
                    "20",
                ],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def decisions(self) -> list[Decision]:
        return [
            Decision.model_validate_json(record.value)
            for partition in sorted(self.backend.end_offsets("decisions"))
            for record in self.backend.read_partition("decisions", partition)
        ]

    def latest(self) -> dict[str, Decision]:
        """The current decision of each event: its highest revision."""
        current: dict[str, Decision] = {}
        for decision in self.decisions():
            held = current.get(decision.event_id)
            if held is None or decision.revision > held.revision:
                current[decision.event_id] = decision
        return current

    def service_log(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in self.logs.iterdir())


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    directory = tmp_path / "log"
    backend = LocalBackend(directory, partitions=4)
    backend.ensure_streams(["verdicts", "decisions", "deadletter"])
    backend.ensure_streams(["decision-state"], compacted=True)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    logs = tmp_path / "logs"
    logs.mkdir()
    yield Pipeline(directory, policy, logs, backend)
    backend.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Services started by a test; any still running at teardown are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def verdict(
    event_id: str, check: str, *, score: float | None = None, value: float | None = None
) -> Verdict:
    now = datetime.now(UTC)
    return Verdict(
        event_id=event_id,
        event_type="ride" if check in ("duration", "tip") else "upload",
        check=check,
        model_name=f"{check}-model",
        model_version="1",
        score=score,
        value=value,
        event_occurred_at=now,
        produced_at=now,
        source=SourcePosition(stream="events", partition="0", offset=0),
    )


def wait_until(condition: Callable[[], bool], what: str, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; service logs:\n{pipeline.service_log()}")
        time.sleep(0.05)


def complete_events(count: int) -> tuple[list[Verdict], dict[str, str]]:
    """Uploads of every kind and rides, all verdicts present: (verdicts, expected outcome)."""
    verdicts: list[Verdict] = []
    expected: dict[str, str] = {}
    kinds = list(UPLOAD_KINDS)
    for n in range(count):
        outcome, scores = UPLOAD_KINDS[kinds[n % len(kinds)]]
        expected[f"up-{n}"] = outcome
        verdicts += [verdict(f"up-{n}", check, score=score) for check, score in scores.items()]
        expected[f"ride-{n}"] = "estimate"
        verdicts += [
            verdict(f"ride-{n}", "duration", value=10.0 + n % 50),
            verdict(f"ride-{n}", "tip", value=1.5),
        ]
    return verdicts, expected


def test_sigkill_mid_run_then_restart_loses_and_repeats_no_decision(
    pipeline: Pipeline, processes: list[subprocess.Popen[bytes]]
) -> None:
    rng = random.Random(7)
    verdicts, expected = complete_events(150)
    rng.shuffle(verdicts)
    first_half, second_half = verdicts[: len(verdicts) // 2], verdicts[len(verdicts) // 2 :]

    # First instance: fed in small chunks and killed while still being fed.
    first = pipeline.start_service("first")
    processes.append(first)
    for start in range(0, len(first_half), 25):
        pipeline.publish(first_half[start : start + 25])
        time.sleep(0.02)
        if start == 250:
            wait_until(lambda: len(pipeline.decisions()) > 0, "a first decision", pipeline)
            first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL

    # Second instance: the rest, redeliveries, garbage, joins that time out, and late verdicts.
    second = pipeline.start_service("second")
    processes.append(second)
    pipeline.publish(second_half)
    pipeline.publish(rng.sample(verdicts, 60))
    garbage = [("junk-1", b"{not json"), ("junk-2", b'{"event_id": "junk-2"}')]
    pipeline.publish_raw(garbage)
    for n in range(3):
        pipeline.publish(
            [
                verdict(f"up-miss-{n}", "copyright", score=0.1),
                verdict(f"up-miss-{n}", "nsfw", score=0.1),
            ]
        )
        pipeline.publish([verdict(f"ride-late-{n}", "duration", value=30.0)])
        expected[f"up-miss-{n}"] = "review"
        expected[f"ride-late-{n}"] = "estimate"

    late_ids = [f"ride-late-{n}" for n in range(3)]
    wait_until(
        lambda: all(event_id in pipeline.latest() for event_id in late_ids),
        "the late rides to time out",
        pipeline,
    )
    assert {pipeline.latest()[e].outcome for e in late_ids} == {"incomplete"}
    pipeline.publish([verdict(event_id, "tip", value=2.0) for event_id in late_ids])

    def all_decided() -> bool:
        latest = pipeline.latest()
        return all(e in latest and latest[e].outcome == outcome for e, outcome in expected.items())

    wait_until(all_decided, "every event's expected decision", pipeline)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0

    # Exact accounting.
    revisions: dict[str, list[int]] = defaultdict(list)
    for decision in pipeline.decisions():
        revisions[decision.event_id].append(decision.revision)
    assert set(revisions) == set(expected)
    for event_id, seen in revisions.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), f"{event_id}: revisions {seen}"
    assert {e: d.outcome for e, d in pipeline.latest().items()} == expected
    assert all(revisions[e] == [1, 2] for e in late_ids)
    letters = [
        DeadLetter.model_validate_json(r.value)
        for p in pipeline.backend.end_offsets("deadletter")
        for r in pipeline.backend.read_partition("deadletter", p)
    ]
    assert sorted(letter.original for letter in letters) == sorted(value for _, value in garbage)
    verdict_ends = {p: end for p, end in pipeline.backend.end_offsets("verdicts").items() if end}
    assert pipeline.backend.committed("verdicts", GROUP) == verdict_ends


def test_sigterm_exits_0_after_committing_what_it_consumed(
    pipeline: Pipeline, processes: list[subprocess.Popen[bytes]]
) -> None:
    service = pipeline.start_service("service")
    processes.append(service)
    verdicts, expected = complete_events(10)
    pipeline.publish(verdicts)
    wait_until(lambda: len(pipeline.latest()) == len(expected), "all decisions", pipeline)

    service.send_signal(signal.SIGTERM)

    assert service.wait(timeout=20) == 0
    ends = {p: end for p, end in pipeline.backend.end_offsets("verdicts").items() if end}
    assert pipeline.backend.committed("verdicts", GROUP) == ends
    assert len(pipeline.decisions()) == len(expected)
