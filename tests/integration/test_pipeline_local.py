"""The whole pipeline as separate OS processes on the local backend: five consumers and the
decision service, fed real events; the decision service SIGKILLed mid-run and restarted; every
event decided exactly once. Also ``streamjury demo`` end to end, and its Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from models.store import ensure_trained
from streamjury.demo.events import Event, demo_events
from streamjury.demo.orchestrator import Orchestrator
from streamjury.demo.services import pipeline_services
from streamjury.demo.settings import DemoSettings
from streamjury.schemas import DeadLetter, Decision, utc_now
from streamjury.streams.base import OutRecord, Record, StartFrom
from streamjury.streams.local import LocalBackend
from streamjury.streams.names import COMPACTED_STREAMS, PIPELINE_STREAMS, STREAM_OF_EVENT_TYPE
from tests.signals import restore_default_signals

pytestmark = pytest.mark.slow

WAIT_S = 150.0
"""An upper bound for every wait; a quiet machine needs a tenth of it."""
CHUNK = 50


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five models, trained once for the module on a small data set."""
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=2000)
    return folder


@pytest.fixture
def env(models: Path) -> dict[str, str]:
    """The environment of every process a test starts: no STREAMJURY_* from the outer shell."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    return {**clean, "STREAMJURY_MODELS": str(models)}


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """After the test, no process whose command line names this test's directory is running;
    any found is killed (by pid) and fails the test."""
    yield
    leftovers = processes_mentioning(str(tmp_path))
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes left running: {leftovers}"


def processes_mentioning(marker: str) -> list[int]:
    listing = subprocess.run(
        ["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True
    ).stdout
    own = os.getpid()
    pids = []
    for line in listing.splitlines():
        pid, _, args = line.strip().partition(" ")
        if marker in args and int(pid) != own:
            pids.append(int(pid))
    return pids


def wait_until(condition: Callable[[], bool], what: str, check: Callable[[], None]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        check()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def read_decisions(backend: LocalBackend) -> list[Decision]:
    """Every decision, read from the beginning by a group-less reader (one that never commits)."""
    total = sum(backend.end_offsets("decisions").values())
    reader = backend.consumer(["decisions"], group=None, start=StartFrom.earliest())
    records: list[Record] = []
    try:
        while len(records) < total:
            batch = reader.poll(1000, 1.0)
            assert batch, f"read {len(records)} of {total} decisions, then nothing more"
            records += batch
    finally:
        reader.close()
    return [Decision.model_validate_json(record.value) for record in records]


def decided(backend: LocalBackend) -> int:
    """How many events have a decision (by record key, the event_id: no parsing)."""
    return len(
        {
            r.key
            for p in backend.partitions("decisions")
            for r in backend.read_partition("decisions", p)
        }
    )


def publish(backend: LocalBackend, events: Sequence[Event]) -> None:
    producer = backend.producer()
    try:
        by_stream: defaultdict[str, list[OutRecord]] = defaultdict(list)
        for event in events:
            record = OutRecord(event.event_id, event.to_bytes())
            by_stream[STREAM_OF_EVENT_TYPE[event.event_type]].append(record)
        for stream, records in by_stream.items():
            producer.send(stream, records)
        producer.flush()
    finally:
        producer.close()


def test_sigkilling_the_decision_service_mid_run_loses_and_repeats_no_decision(
    tmp_path: Path, models: Path, env: dict[str, str], no_leftovers: None
) -> None:
    settings = DemoSettings(local_dir=tmp_path / "log")
    backend = LocalBackend(settings.local_dir, partitions=4)
    backend.ensure_streams(PIPELINE_STREAMS)
    backend.ensure_streams(COMPACTED_STREAMS, compacted=True)
    events = demo_events(seed=11, count=300, bad=0, start=utc_now()).valid
    expected = {event.event_id for event in events}
    chunks = [events[n : n + CHUNK] for n in range(0, len(events), CHUNK)]
    specs = pipeline_services(settings, str(models))

    try:
        with Orchestrator(specs, tmp_path / "logs", env=env, cwd=tmp_path) as services:
            services.start_all()
            for chunk in chunks[:3]:
                publish(backend, chunk)
            wait_until(lambda: decided(backend) > 0, "a first decision", services.check_running)
            assert services.kill("decision") == -signal.SIGKILL
            decided_before_kill = decided(backend)

            for chunk in chunks[3:8]:  # verdicts keep coming while no decision service runs
                publish(backend, chunk)
                time.sleep(0.05)
            services.start("decision")
            for chunk in chunks[8:]:
                publish(backend, chunk)
            wait_until(
                lambda: decided(backend) == len(expected), "every decision", services.check_running
            )
            exits = services.stop_all()
    finally:
        backend.close()

    backend = LocalBackend(settings.local_dir, partitions=4)
    try:
        decisions = read_decisions(backend)
    finally:
        backend.close()
    assert 0 < decided_before_kill < len(expected), "the kill did not land mid-run"
    assert exits == dict.fromkeys(exits, 0), exits
    revisions: defaultdict[str, list[int]] = defaultdict(list)
    for decision in decisions:
        revisions[decision.event_id].append(decision.revision)
    assert set(revisions) == expected
    duplicated = {
        key: n for key, n in Counter((d.event_id, d.revision) for d in decisions).items() if n > 1
    }
    assert duplicated == {}
    for event_id, seen in revisions.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), f"{event_id}: revisions {seen}"
    # A join in flight at the kill whose state was lost would end in a decision on a timeout,
    # never completed: its consumed verdicts are not redelivered.
    current = {d.event_id: d for d in sorted(decisions, key=lambda d: d.revision)}
    lacking = [d.event_id for d in current.values() if d.missing_checks and d.outcome != "remove"]
    assert lacking == [], "joins in flight at the kill were not restored"


def run_demo(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streamjury.cli.main", "demo", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_default_signals,  # it may be sent SIGINT
    )


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Its output once it exits; interrupted (so it stops its services) if it overruns."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        pytest.fail(f"the demo overran {timeout} s:\n{err[-3000:]}")


def outputs_left_in(run_dir: Path) -> tuple[list[Decision], list[DeadLetter]]:
    """The decisions and dead letters a demo run left in its local log."""
    backend = LocalBackend(run_dir)
    try:
        letters = [
            DeadLetter.model_validate_json(r.value)
            for p in backend.partitions("deadletter")
            for r in backend.read_partition("deadletter", p)
        ]
        return read_decisions(backend), letters
    finally:
        backend.close()


def test_the_demo_command_accounts_for_every_event_exactly(
    tmp_path: Path, env: dict[str, str], no_leftovers: None
) -> None:
    run_dir = tmp_path / "demo"

    process = run_demo(tmp_path, env, "--count", "300", "--local-dir", str(run_dir), "--json")
    out, err = finish(process, WAIT_S)

    assert process.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["ok"] is True
    assert summary["events"] == {"ride": 300, "upload": 300, "total": 600}
    assert summary["decisions"]["exactly_one_current"] is True
    assert summary["decisions"]["events"] == 600
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    # What the demo says, checked against the log it left behind.
    decisions, letters = outputs_left_in(run_dir)
    keys = Counter((d.event_id, d.revision) for d in decisions)
    assert len({event_id for event_id, _ in keys}) == 600
    assert set(keys.values()) == {1}
    assert len({letter.original for letter in letters}) == 5  # the default --bad
    assert summary["dead_letters"]["records"] == len(letters)
    assert sorted(p.name for p in (run_dir / "logs").iterdir()) == [
        f"{name}.log"
        for name in sorted(["copyright", "decision", "duration", "nsfw", "tip", "violence"])
    ]


def test_the_demo_with_co_located_checks_accounts_for_every_event_exactly(
    tmp_path: Path, env: dict[str, str], no_leftovers: None
) -> None:
    run_dir = tmp_path / "demo"

    process = run_demo(
        tmp_path, env, "--count", "200", "--local-dir", str(run_dir), "--co-locate", "--json"
    )
    out, err = finish(process, WAIT_S)

    assert process.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["ok"] is True, summary["problems"]
    assert summary["decisions"]["exactly_one_current"] is True
    assert summary["decisions"]["events"] == 400
    decisions, letters = outputs_left_in(run_dir)
    assert set(Counter((d.event_id, d.revision) for d in decisions).values()) == {1}
    assert {(d.event_type, v.check) for d in decisions for v in d.verdicts} == {
        ("ride", "duration"),
        ("ride", "tip"),
        ("upload", "copyright"),
        ("upload", "nsfw"),
        ("upload", "violence"),
    }
    # One process per stream: a malformed record is dead-lettered once, by that process.
    assert len(letters) == 5 == summary["dead_letters"]["records"]
    assert {letter.stage for letter in letters} <= {
        "consumer:duration+tip",
        "consumer:copyright+nsfw+violence",
    }
    assert sorted(p.name for p in (run_dir / "logs").iterdir()) == [
        "copyright+nsfw+violence.log",
        "decision.log",
        "duration+tip.log",
    ]


def test_ctrl_c_stops_every_service_cleanly(
    tmp_path: Path, env: dict[str, str], no_leftovers: None
) -> None:
    progress = tmp_path / "progress.txt"
    with progress.open("w") as stderr:
        process = subprocess.Popen(
            # --rate 50: slow enough to be interrupted mid-publish
            [
                sys.executable,
                "-m",
                "streamjury.cli.main",
                "demo",
                "--local-dir",
                "demo",
                "--rate",
                "50",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=restore_default_signals,  # Ctrl-C must not be ignored, as it may be here
        )

    def still_running() -> None:
        assert process.poll() is None, progress.read_text()

    try:
        wait_until(
            lambda: "publishing" in progress.read_text(), "the services to start", still_running
        )
        assert len(processes_mentioning(str(tmp_path))) >= 6
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
        code = process.wait(timeout=WAIT_S)

    assert code == 130, progress.read_text()
    assert "services stopped: all 6 exited 0" in progress.read_text()
    assert processes_mentioning(str(tmp_path)) == []
