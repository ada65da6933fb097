"""What a batch of records became (a verdict or a dead letter each) and the records to publish.

The streaming runtime and the Lambda adapter both publish from here, so they key alike.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from datetime import datetime
from typing import Any, Protocol

from streamjury.schemas import DeadLetter, SourcePosition, Verdict
from streamjury.streams.base import OutRecord, Record


class VerdictRows(Protocol):
    """A batch's verdicts as rows, each built into a model only when asked for."""

    def verdict(self, index: int) -> Verdict: ...

    def event_id(self, index: int) -> str: ...

    def event_occurred_at(self, index: int) -> datetime: ...


class RecordOutcome:
    """What one input record became: exactly one of a verdict or a dead letter.

    The Lambda adapter maps these back to its inputs for a partial batch response.

    A verdict from the fast path (``deferred``) comes as its wire bytes and a row of its batch:
    its model is built the first time ``verdict`` is read (a canary, a shadow, the Lambda
    adapter). Writing it and counting it never need the model, so the streaming runtime's
    common path builds none. Immutable.
    """

    __slots__ = ("_row", "_rows", "_verdict", "dead_letter", "encoded", "record")

    record: Record
    dead_letter: DeadLetter | None
    encoded: bytes | None
    """``verdict.to_bytes()``, when the batch that made the verdict wrote its bytes already
    (``consumers.verdict_bytes``); a changed verdict (a canary's arm) is a new outcome without."""
    _verdict: Verdict | None
    _rows: VerdictRows | None
    _row: int

    def __init__(
        self,
        record: Record,
        verdict: Verdict | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        _set(self, "record", record)
        _set(self, "dead_letter", dead_letter)
        _set(self, "encoded", None)
        _set(self, "_verdict", verdict)
        _set(self, "_rows", None)
        _set(self, "_row", 0)

    @classmethod
    def deferred(cls, record: Record, encoded: bytes, rows: VerdictRows, row: int) -> RecordOutcome:
        """A verdict outcome whose model is row ``row`` of ``rows``, built when first read.

        Writes the slots through their descriptors: a third of ``__init__``'s cost, on every
        verdict of every batch."""
        outcome = _new(cls)
        _set_record(outcome, record)
        _set_dead_letter(outcome, None)
        _set_encoded(outcome, encoded)
        _set_verdict(outcome, None)
        _set_rows(outcome, rows)
        _set_row(outcome, row)
        return outcome

    @property
    def verdict(self) -> Verdict | None:
        rows = self._rows
        if rows is not None:
            _set(self, "_verdict", rows.verdict(self._row))
            _set(self, "_rows", None)
        return self._verdict

    @property
    def is_verdict(self) -> bool:
        """True for a verdict outcome, without building a deferred verdict's model."""
        return self._rows is not None or self._verdict is not None

    @property
    def verdict_key(self) -> str:
        """The verdict's event id: the key it is published under. Only for a verdict outcome."""
        rows = self._rows
        if rows is not None:
            return rows.event_id(self._row)
        assert self._verdict is not None, "a dead letter has no verdict key"
        return self._verdict.event_id

    @property
    def event_occurred_at(self) -> datetime:
        """When the verdict's event happened, for end-to-end metrics. Only for a verdict."""
        rows = self._rows
        if rows is not None:
            return rows.event_occurred_at(self._row)
        assert self._verdict is not None, "a dead letter has no event time"
        return self._verdict.event_occurred_at

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _key(self) -> tuple[Record, Verdict | None, DeadLetter | None]:
        return (self.record, self.verdict, self.dead_letter)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"RecordOutcome(record={self.record!r}, verdict={self.verdict!r}, "
            f"dead_letter={self.dead_letter!r})"
        )


_new = object.__new__
_set = object.__setattr__  # the class refuses its own __setattr__
_set_record, _set_dead_letter, _set_encoded, _set_verdict, _set_rows, _set_row = (
    vars(RecordOutcome)[name].__set__
    for name in ("record", "dead_letter", "encoded", "_verdict", "_rows", "_row")
)


@dataclass(frozen=True, slots=True)
class OutputRecords:
    """A batch's records to publish, each list with the input index every record came from."""

    verdicts: list[OutRecord]
    verdict_inputs: list[int]
    dead_letters: list[OutRecord]
    dead_letter_inputs: list[int]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Everything a batch produced; ``outcomes`` is in input order, one per input record."""

    outcomes: list[RecordOutcome]

    @property
    def verdicts(self) -> list[Verdict]:
        """Every verdict's model (building any deferred one)."""
        return [o.verdict for o in self.outcomes if o.verdict is not None]

    def verdict_outcomes(self) -> list[RecordOutcome]:
        """The outcomes that are verdicts, none of them built into a model: what the metrics
        read (their ``event_occurred_at``)."""
        return [o for o in self.outcomes if o.is_verdict]

    @property
    def dead_letters(self) -> list[DeadLetter]:
        return [o.dead_letter for o in self.outcomes if o.dead_letter is not None]

    def output_records(self) -> OutputRecords:
        """Verdicts keyed by event id, dead letters by ``dead_letter_key``, in input order."""
        verdicts: list[OutRecord] = []
        verdict_inputs: list[int] = []
        letters: list[OutRecord] = []
        letter_inputs: list[int] = []
        for index, outcome in enumerate(self.outcomes):
            encoded = outcome.encoded  # the fast path's verdicts: bytes, no model
            if encoded is not None:
                verdicts.append(OutRecord(outcome.verdict_key, encoded))
                verdict_inputs.append(index)
            elif outcome.verdict is not None:
                verdicts.append(OutRecord(outcome.verdict.event_id, outcome.verdict.to_bytes()))
                verdict_inputs.append(index)
            elif outcome.dead_letter is not None:
                key = dead_letter_key(outcome.record)
                letters.append(OutRecord(key, outcome.dead_letter.to_bytes()))
                letter_inputs.append(index)
        return OutputRecords(verdicts, verdict_inputs, letters, letter_inputs)


def source_of(record: Record) -> SourcePosition:
    """Where ``record`` was read, stamped on everything made from it."""
    return SourcePosition(stream=record.stream, partition=record.partition, offset=record.offset)


def dead_letter_key(record: Record) -> str:
    """The key a dead letter is published under: its input's key, else the input's position.

    Every transport needs a non-empty key (Kinesis refuses an empty partition key), and a
    record that could not be parsed has no event id to fall back on.
    """
    return record.key or str(source_of(record))
