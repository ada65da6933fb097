"""The arrivals reader: when each key was first read, from its own thread."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from bench.arrivals import Arrivals
from streamjury.streams.base import OutRecord, Record, StartFrom
from streamjury.streams.memory import MemoryBackend


def reader(backend: MemoryBackend) -> Arrivals:
    backend.ensure_streams(["decisions"])
    ticks = itertools.count(100)
    consumer = backend.consumer(["decisions"], group=None, start=StartFrom.earliest())
    return Arrivals(consumer, clock=lambda: float(next(ticks)))


def test_notes_each_key_once_at_its_first_read() -> None:
    backend = MemoryBackend()
    with reader(backend) as arrivals:
        producer = backend.producer()
        producer.send("decisions", [OutRecord("a", b"1"), OutRecord("b", b"1")])
        producer.flush()
        first = arrivals.first_read({"a", "b"})
        producer.send("decisions", [OutRecord("a", b"2"), OutRecord("c", b"1")])
        producer.flush()

        later = arrivals.first_read({"a", "b", "c"})

    assert set(first) == {"a", "b"}
    assert later["a"] == first["a"]
    assert later["b"] == first["b"]
    assert later["c"] > first["a"]


def test_keys_never_read_are_left_out_after_the_timeout() -> None:
    backend = MemoryBackend()
    with reader(backend) as arrivals:
        assert arrivals.first_read({"never"}, timeout_s=0.2) == {}


class Broken:
    """A consumer whose poll fails, as a reader whose broker went away would."""

    closed = False

    def poll(self, max_records: int, timeout: float) -> Sequence[Record]:
        raise OSError("connection refused")

    def close(self) -> None:
        self.closed = True


def test_a_failing_reader_is_reported_not_waited_out() -> None:
    consumer = Broken()
    arrivals = Arrivals(consumer)  # type: ignore[arg-type]
    with arrivals, pytest.raises(RuntimeError, match="connection refused"):
        arrivals.first_read({"a"}, timeout_s=30)
    assert consumer.closed
