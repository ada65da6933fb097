"""Reads the pipeline's outputs back without joining any group: live while waiting, whole at the end.

Waiting only needs to know which events have a decision, which the record key (the event_id)
tells without parsing; the final account re-reads every stream from the start of every partition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TypeVar

from streamjury.errors import InvalidEvent
from streamjury.schemas import DeadLetter, WireModel, parse_model
from streamjury.streams.base import Backend, Record, StartFrom
from streamjury.streams.names import StreamNames

M = TypeVar("M", bound=WireModel)
POLL_RECORDS = 2000


class OutputWatch:
    """Follows ``decisions`` and ``deadletter`` from their beginnings; never commits anything."""

    def __init__(self, backend: Backend, names: StreamNames) -> None:
        earliest = StartFrom.earliest()
        self._decisions = backend.consumer([names.decisions], group=None, start=earliest)
        try:
            self._dead_letters = backend.consumer([names.deadletter], group=None, start=earliest)
        except BaseException:
            self._decisions.close()
            raise
        self.decided: set[str] = set()
        """Event ids with at least one decision."""
        self.dead_letters: set[tuple[str, bytes]] = set()
        """(stage, original) of every dead letter."""
        self._asked: tuple[Collection[str], Collection[tuple[str, bytes]]] | None = None
        self._pending: set[str] = set()
        self._pending_letters: set[tuple[str, bytes]] = set()
        """What ``outstanding`` was last asked about and has not arrived: kept up to date as
        records arrive, so waiting for 100k events costs per record, not per poll."""

    def poll(self, timeout: float) -> None:
        """Read what has arrived, waiting at most ``timeout`` for a first decision."""
        for record in self._decisions.poll(POLL_RECORDS, timeout):
            self.decided.add(record.key)
            self._pending.discard(record.key)
        for record in self._dead_letters.poll(POLL_RECORDS, 0.0):
            try:
                letter = parse_model(DeadLetter, record.value)
            except InvalidEvent:
                continue  # the final account reads it again, and reports it
            self.dead_letters.add((letter.stage, letter.original))
            self._pending_letters.discard((letter.stage, letter.original))

    def outstanding(
        self, events: Collection[str], dead_letters: Collection[tuple[str, bytes]] = ()
    ) -> int:
        """How many of ``events`` lack a decision plus how many ``dead_letters`` are not in.

        Asked again about the same (unchanged) collections, it answers from what it kept; the
        harness asks after every poll, and a set difference over every event each time took
        half a core in the pipeline benchmark's as-fast-as-possible phase.
        """
        asked = self._asked
        if asked is None or asked[0] is not events or asked[1] is not dead_letters:
            self._asked = (events, dead_letters)
            self._pending = set(events) - self.decided
            self._pending_letters = set(dead_letters) - self.dead_letters
        return len(self._pending) + len(self._pending_letters)

    def close(self) -> None:
        try:
            self._decisions.close()
        finally:
            self._dead_letters.close()

    def __enter__(self) -> OutputWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_stream(backend: Backend, stream: str) -> Iterator[Record]:
    """Every record of ``stream``, partition by partition, from the start to the current end."""
    for partition in backend.partitions(stream):
        yield from backend.read_partition(stream, partition)


def read_models(backend: Backend, stream: str, model: type[M]) -> list[M]:
    """Every record of ``stream`` parsed as ``model``; one that does not parse is an error."""
    return [parse_model(model, record.value) for record in read_stream(backend, stream)]
