"""What a batch of records became (a verdict or a dead letter each) and the records to publish.

The streaming runtime and the Lambda adapter both publish from here, so they key alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamjury.schemas import DeadLetter, SourcePosition, Verdict
from streamjury.streams.base import OutRecord, Record


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What one input record became: exactly one of a verdict or a dead letter.

    The Lambda adapter maps these back to its inputs for a partial batch response.
    """

    record: Record
    verdict: Verdict | None = None
    dead_letter: DeadLetter | None = None
    encoded: bytes | None = field(default=None, compare=False, repr=False)
    """``verdict.to_bytes()``, when the batch that made the verdict wrote its bytes already
    (``consumers.verdict_bytes``); a changed verdict (a canary's arm) is a new outcome without."""


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
        return [o.verdict for o in self.outcomes if o.verdict is not None]

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
            verdict = outcome.verdict
            if verdict is not None:
                encoded = outcome.encoded
                if encoded is None:
                    encoded = verdict.to_bytes()
                verdicts.append(OutRecord(verdict.event_id, encoded))
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
