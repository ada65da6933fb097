"""``streamjury dev kafka|kinesis`` run the real servers: started as a user would, then stopped.

Each server is driven through the CLI in a child process and answered with a real client.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 240.0


def streamjury(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamjury.cli.main", *args]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@contextmanager
def running(*args: str) -> Iterator[subprocess.Popen[str]]:
    """The command as a child with default signal handling; killed if the test leaves it up."""
    child = subprocess.Popen(
        streamjury(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        restore_signals=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def wait_for_line(child: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    """The first stdout line matching ``pattern``; fails if the child exits first."""
    assert child.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            _, err = child.communicate(timeout=30)
            pytest.fail(f"exited with {child.returncode} before {pattern!r}: {err}")
        found = re.search(pattern, line)
        if found:
            return found
    pytest.fail(f"no line matching {pattern!r} within {STARTUP_TIMEOUT_S}s")


@pytest.mark.parametrize("server", ["kafka", "kinesis"])
def test_install_is_free_once_the_server_is_in_the_cache(server: str) -> None:
    done = subprocess.run(
        streamjury("dev", server, "install"),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert re.search(r" in \S+ \(\d+\.\ds\)$", done.stdout.strip()), done.stdout


@pytest.mark.kinesis
def test_dev_kinesis_start_serves_the_kinesis_api_until_interrupted() -> None:
    with running("dev", "kinesis", "start") as child:
        endpoint = wait_for_line(child, r"kinesis-local ready: (http://\S+)").group(1)
        client = boto3.client(
            "kinesis",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_stream(StreamName="dev-cli", ShardCount=1)
        names = client.list_streams()["StreamNames"]

        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)

    assert names == ["dev-cli"]
    assert child.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.kafka
def test_dev_kafka_start_serves_a_broker_until_terminated(tmp_path: Path) -> None:
    from confluent_kafka.admin import AdminClient

    with running("dev", "kafka", "start", "--work-dir", str(tmp_path / "kafka")) as child:
        bootstrap = wait_for_line(child, r"bootstrap\.servers=(\S+)").group(1)
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)

        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)

    assert len(metadata.brokers) == 1
    assert child.returncode == 0, err
    assert "stopping Kafka" in err
    assert (tmp_path / "kafka" / "server.properties").exists()  # --work-dir is kept
