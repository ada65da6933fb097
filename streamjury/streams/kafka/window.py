"""What a KafkaProducer sent since its last flush, and which of those records were not written.

librdkafka reports only failed records, so success costs nothing per record; a failure is traced
back to its record by content, and only when there was one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamjury.streams.base import OutRecord

log = logging.getLogger(__name__)

Content = tuple[str, bytes | None, bytes | None]
"""(topic, key, value) of a record as librdkafka hands it back in a delivery report; an empty
key or value reads as None on both sides."""

Unwritten = tuple[tuple[int, ...], dict[str, tuple[int, ...]]]
"""Indices of the unwritten records in the window, and the same by stream (see PartialDeliveryError)."""


def content(stream: str, record: OutRecord) -> Content:
    """What librdkafka reports for ``record`` sent to ``stream`` (as ``Sender.send`` encodes it)."""
    return stream, record.key.encode() or None, record.value or None


@dataclass(slots=True)
class Sent:
    """One ``send``: its records, of which the first ``queued`` reached the current producer
    (the rest were never handed over, or went to a producer that died: certainly unwritten)."""

    stream: str
    records: Sequence[OutRecord]
    queued: int


class SendWindow:
    """The sends since the last flush; ``close`` turns the failure reports into indices.

    Keeps the callers' record sequences (a reference each, no per-record work) until the flush.
    """

    def __init__(self) -> None:
        self._sends: list[Sent] = []

    def add(self, stream: str, records: Sequence[OutRecord]) -> Sent:
        """A send about to be handed over whole; a tuple, so the caller may reuse its list."""
        sent = Sent(stream, tuple(records), len(records))
        self._sends.append(sent)
        return sent

    def lose_all(self) -> None:
        """Everything sent so far is unwritten: its producer died, and with only failures
        reported nothing tells which of its records were acknowledged before that."""
        for sent in self._sends:
            sent.queued = 0

    def close(self, failed: Iterable[Content]) -> Unwritten:
        """End the window: which records are unwritten, given the failure reports of the
        records that were queued.

        A failure is matched to the first not yet matched record with the same content
        (identical records are interchangeable). A failure that matches none (it would come
        from an earlier window) makes the whole window count as unwritten: a duplicate is
        possible then, a loss is not.
        """
        sends, self._sends = self._sends, []
        failures = list(failed)
        if not failures and all(sent.queued == len(sent.records) for sent in sends):
            return (), {}
        lost = self._match(sends, failures)
        if lost is None:
            log.warning(
                "%d delivery failures do not match the %d records sent since the last flush: "
                "reporting all of them as unwritten",
                len(failures),
                sum(len(sent.records) for sent in sends),
            )
            lost = set(range(sum(len(sent.records) for sent in sends)))
        return _indices(sends, lost)

    @staticmethod
    def _match(sends: list[Sent], failures: list[Content]) -> set[int] | None:
        """Window indices of the unwritten records; None if a failure matches no record."""
        lost: set[int] = set()
        queued: dict[Content, deque[int]] = {}
        start = 0
        for sent in sends:
            for place in range(sent.queued):
                key = content(sent.stream, sent.records[place])
                queued.setdefault(key, deque()).append(start + place)
            lost.update(range(start + sent.queued, start + len(sent.records)))
            start += len(sent.records)
        for failure in failures:
            candidates = queued.get(failure)
            if not candidates:
                return None
            lost.add(candidates.popleft())
        return lost


def _indices(sends: list[Sent], lost: set[int]) -> Unwritten:
    """``lost`` window indices, sorted, and the same per stream (indices among that stream's
    records of the window)."""
    by_stream: dict[str, list[int]] = {}
    seen: dict[str, int] = {}
    start = 0
    for sent in sends:
        offset = seen.get(sent.stream, 0)
        missing = [offset + n for n in range(len(sent.records)) if start + n in lost]
        if missing:
            by_stream.setdefault(sent.stream, []).extend(missing)
        seen[sent.stream] = offset + len(sent.records)
        start += len(sent.records)
    return tuple(sorted(lost)), {stream: tuple(indices) for stream, indices in by_stream.items()}
