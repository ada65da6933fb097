"""Fixtures for the producer tests: a memory backend with the event streams, a fake clock, and
a producer that records when each flush happened on that clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamjury.clock import FakeClock
from streamjury.streams.memory import MemoryBackend
from tests.unit.producers.doubles import TimedProducer

STREAMS = ("rides", "uploads")


@pytest.fixture
def backend() -> Iterator[MemoryBackend]:
    memory = MemoryBackend(partitions=4)
    memory.ensure_streams(STREAMS)
    yield memory
    memory.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def producer(backend: MemoryBackend, clock: FakeClock) -> TimedProducer:
    return TimedProducer(backend.producer(), clock)
