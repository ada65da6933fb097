"""Specification of the demo's output watch: what is still outstanding, as records arrive."""

from __future__ import annotations

from streamjury.demo.watch import OutputWatch
from streamjury.schemas import DeadLetter, SourcePosition
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from streamjury.streams.names import StreamNames

NAMES = StreamNames("")


def backend_with_streams() -> MemoryBackend:
    backend = MemoryBackend(partitions=2)
    backend.ensure_streams([NAMES.decisions, NAMES.deadletter])
    return backend


def decide(backend: MemoryBackend, *event_ids: str) -> None:
    producer = backend.producer()
    producer.send(NAMES.decisions, [OutRecord(e, b"{}") for e in event_ids])
    producer.flush()


def letter(backend: MemoryBackend, stage: str, original: bytes) -> None:
    source = SourcePosition(stream="rides", partition="0", offset=0)
    value = DeadLetter.of(original, "bad", stage, source=source).to_bytes()
    producer = backend.producer()
    producer.send(NAMES.deadletter, [OutRecord("k", value)])
    producer.flush()


def test_outstanding_falls_as_decisions_and_dead_letters_arrive() -> None:
    backend = backend_with_streams()
    events = {"a", "b", "c"}
    letters = {("consumer:tip", b"junk")}
    with OutputWatch(backend, NAMES) as watch:
        assert watch.outstanding(events, letters) == 4
        decide(backend, "a", "b", "x")
        watch.poll(0.1)
        assert watch.outstanding(events, letters) == 2
        letter(backend, "consumer:tip", b"junk")
        decide(backend, "c")
        watch.poll(0.1)
        watch.poll(0.1)
        assert watch.outstanding(events, letters) == 0


def test_asking_about_other_events_counts_afresh_with_what_already_arrived() -> None:
    backend = backend_with_streams()
    first = {"a", "b"}
    with OutputWatch(backend, NAMES) as watch:
        assert watch.outstanding(first) == 2
        decide(backend, "a", "c")
        watch.poll(0.1)
        assert watch.outstanding(first) == 1
        assert watch.outstanding({"a", "c", "d"}) == 1  # a new question: only d is missing
        assert watch.outstanding(first) == 1
