"""Helpers for the Lambda tests: saved AWS events, an in-memory sink, and a failing-sink wrapper.

The sinks stand in for the output streams; the handler under test is always the real one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consumers.lambda_sinks import RecordSink, Target
from streamjury.streams.base import OutRecord

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
TRAIN_ROWS = 300


def load_event(name: str) -> dict[str, Any]:
    """A saved Kinesis event from ``tests/events/<name>.json``, as Lambda would pass it."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


class MemorySink:
    """Keeps what is written, in order, like a stream with a single shard."""

    def __init__(self, name: str = "memory") -> None:
        self.target = Target("kinesis", name)
        self.records: list[OutRecord] = []

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        self.records.extend(records)
        return set()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in self.records]


class FailFromKey:
    """Wraps a real sink; from the first record keyed ``key`` on (in a put), nothing is written.

    Models a PutRecords whose tail stays throttled after retries, ``times`` times, then heals.
    """

    def __init__(self, inner: RecordSink, key: str, times: int = 1) -> None:
        self.inner = inner
        self.target = inner.target
        self.key = key
        self.remaining = times

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        keys = [record.key for record in records]
        if self.remaining <= 0 or self.key not in keys:
            return self.inner.put(records)
        self.remaining -= 1
        cut = keys.index(self.key)
        failed_here = self.inner.put(records[:cut])
        return failed_here | set(range(cut, len(records)))
