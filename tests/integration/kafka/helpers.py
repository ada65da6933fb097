"""Small helpers shared by the Kafka tests: producing, draining, raw reads, Kafka's murmur2.

Raw reads use confluent-kafka directly, so a test can check what is physically in a topic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streamjury.streams.base import Backend, OutRecord, Record, StreamConsumer
from tests.signals import restore_default_signals


def produce(backend: Backend, stream: str, records: Sequence[OutRecord]) -> None:
    producer = backend.producer()
    try:
        producer.send(stream, records)
        producer.flush()
    finally:
        producer.close()


def drain(consumer: StreamConsumer, count: int, *, wait_s: float = 15.0) -> list[Record]:
    """Poll until ``count`` records arrived or ``wait_s`` passed."""
    records: list[Record] = []
    deadline = time.monotonic() + wait_s
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll(count - len(records), 0.2))
    return records


def wait_until(condition: Callable[[], bool], *, timeout: float, step: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def read_raw(
    bootstrap: str, stream: str, *, isolation: str, idle_s: float = 1.5, limit_s: float = 30.0
) -> list[tuple[int, bytes | None, bytes | None]]:
    """(partition, key, value) of every record physically readable at ``isolation`` level,
    read until ``idle_s`` of silence: proves absence as well as presence."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "log_level": 3,
        }
    )
    metadata = consumer.list_topics(stream, timeout=10)
    count = len(metadata.topics[stream].partitions)
    consumer.assign([TopicPartition(stream, p, -2) for p in range(count)])
    found: list[tuple[int, bytes | None, bytes | None]] = []
    started = last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s and time.monotonic() - started < limit_s:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error() is not None:
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                continue
            last = time.monotonic()
            found.append((message.partition(), message.key(), message.value()))
    finally:
        consumer.close()
    return found


def java_partition(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner picks for ``key`` (Utils.murmur2)."""
    m, r = 0x5BD1E995, 24
    length = len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(key[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = key[length & ~3 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


REPO = Path(__file__).resolve().parents[3]


class Process:
    """A child process whose output lines are collected by a thread, so a test can wait for
    a line with a timeout, SIGKILL it, and show its output when something goes wrong."""

    def __init__(
        self, args: Sequence[str], *, name: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            list(args),
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=restore_default_signals,  # it is signalled: SIGINT/SIGTERM not ignored
        )
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def output(self, last: int = 40) -> str:
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n" + "\n".join(self.lines[-last:])

    def wait_for(self, text: str, *, timeout: float, count: int = 1) -> None:
        """Wait until ``count`` output lines contain ``text``; fail showing the output if not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(text in line for line in self._lines) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.popen.poll() is not None and not self._reader.is_alive()
                ):
                    raise AssertionError(f"{self.name}: no {text!r} line\n{self.output()}")
                self._changed.wait(min(remaining, 0.5))

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def kill(self) -> None:
        """SIGKILL: no clean-up code runs, as when a machine dies."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (a graceful stop), SIGKILL if it does not exit in time; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.popen.wait(timeout=10))

    def wait(self, timeout: float) -> int:
        try:
            return int(self.popen.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not exit in {timeout}s\n{self.output()}"
            ) from None


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def out_records(keys: Sequence[str], tag: str = "v") -> list[OutRecord]:
    return [OutRecord(key, f"{key}:{tag}".encode()) for key in keys]
