"""The local backend shared by several OS processes: exact accounting, and recovery from SIGKILL.

Workers are ``local_log_worker.py`` subprocesses that log what they read to files.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.streams.base import OutRecord
from streamjury.streams.local import LocalBackend

WORKER = Path(__file__).with_name("local_log_worker.py")
STREAM = "events"
ReadLine = tuple[str, int, str]
"""(partition, offset, key) as a consumer worker logged it."""


def start_worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WORKER), *args])


def finish(worker: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    assert worker.wait(timeout=timeout_s) == 0


def read_log(path: Path) -> list[ReadLine]:
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    return [(partition, int(offset), key) for partition, offset, key in lines]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "log", partitions=4)
    backend.ensure_streams([STREAM])
    yield backend
    backend.close()


def test_producer_and_consumer_processes_account_for_every_record(
    backend: LocalBackend, tmp_path: Path
) -> None:
    directory = str(backend.directory)
    producers = [
        start_worker(
            "produce",
            directory,
            "--prefix",
            prefix,
            "--count",
            "1500",
            "--batch",
            "50",
            "--pause",
            "0.005",
        )
        for prefix in ("a", "b")
    ]
    outputs = {group: tmp_path / f"{group}.log" for group in ("first", "second")}
    consumers = [
        start_worker(
            "consume", directory, "--group", group, "--count", "3000", "--output", str(output)
        )
        for group, output in outputs.items()
    ]

    for worker in producers + consumers:
        finish(worker)

    expected = {f"{prefix}-{n}" for prefix in ("a", "b") for n in range(1500)}
    for output in outputs.values():
        reads = Counter(key for _, _, key in read_log(output))
        assert set(reads) == expected
        assert set(reads.values()) == {1}


def test_a_consumer_killed_mid_stream_loses_nothing_and_repeats_no_committed_record(
    backend: LocalBackend, tmp_path: Path
) -> None:
    keys = [f"event-{n}" for n in range(2000)]
    producer = backend.producer()
    producer.send(STREAM, [OutRecord(key, key.encode()) for key in keys])
    producer.close()
    before_kill, after_restart = tmp_path / "before.log", tmp_path / "after.log"
    victim = start_worker(
        "consume",
        str(backend.directory),
        "--count",
        "2000",
        "--batch",
        "50",
        "--pause",
        "0.02",
        "--output",
        str(before_kill),
    )
    deadline = time.monotonic() + 10.0
    while len(read_log(before_kill)) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.kill()  # SIGKILL: no close, no lease release, maybe a batch read but not committed
    victim.wait()
    committed_at_kill = backend.committed(STREAM, "group")
    remaining = 2000 - sum(committed_at_kill.values())

    restarted_at = time.monotonic()
    restarted = start_worker(
        "consume", str(backend.directory), "--count", str(remaining), "--output", str(after_restart)
    )
    finish(restarted)

    first_run, second_run = read_log(before_kill), read_log(after_restart)
    assert 0 < remaining < 2000  # the kill really came mid-stream
    assert {key for _, _, key in first_run + second_run} == set(keys)  # nothing lost
    assert all(offset >= committed_at_kill.get(p, 0) for p, offset, _ in second_run)
    assert len(second_run) == remaining == len({key for _, _, key in second_run})
    assert backend.committed(STREAM, "group") == backend.end_offsets(STREAM)
    assert time.monotonic() - restarted_at < 5.0  # the dead holder's lease did not delay it
