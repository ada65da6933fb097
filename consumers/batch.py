"""The pure core of every model consumer: records in, verdicts and dead letters out, no I/O.

Shared by the streaming runtime and the AWS Lambda adapter, so both treat bad data the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from consumers.check import CheckModel, CheckSpec, Prediction
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    DeadLetter,
    RideEvent,
    SourcePosition,
    UploadEvent,
    Verdict,
    describe_validation_error,
    parse_event,
    utc_now,
)
from streamjury.streams.base import Record

log = logging.getLogger(__name__)

AnyEvent = RideEvent | UploadEvent
MODEL_ERROR = "model error"
"""Prefix of the dead-letter reason when the model, not the record, failed."""
_VERDICT_LIST: TypeAdapter[list[Verdict]] = TypeAdapter(list[Verdict])
"""Validates a whole batch of verdicts in one pydantic call, cheaper than one call per verdict."""


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What one input record became: exactly one of a verdict or a dead letter.

    The Lambda adapter maps these back to its inputs for a partial batch response.
    """

    record: Record
    verdict: Verdict | None = None
    dead_letter: DeadLetter | None = None


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


def source_of(record: Record) -> SourcePosition:
    """Where ``record`` was read, stamped on everything made from it."""
    return SourcePosition(stream=record.stream, partition=record.partition, offset=record.offset)


def process_batch(
    spec: CheckSpec,
    model: CheckModel,
    records: Sequence[Record],
    *,
    stage: str,
    now: Callable[[], datetime] = utc_now,
) -> BatchResult:
    """Validate every record, score the valid ones in one vectorised call, never raise on data.

    A record that is not a valid event of ``spec.event_type`` becomes a dead letter; so does an
    event the model fails on (isolated by bisection, so the rest of the batch still gets verdicts)
    and one whose prediction the Verdict schema refuses (a NaN, a score above 1).
    """
    outcomes: list[RecordOutcome | None] = [None] * len(records)
    valid_index: list[int] = []
    valid_events: list[AnyEvent] = []
    for index, record in enumerate(records):
        try:
            event = _decode(record.value, spec)
        except InvalidEvent as exc:
            outcomes[index] = _dead(record, exc.reason, stage)
        else:
            valid_index.append(index)
            valid_events.append(event)

    produced_at = now()
    scored_index: list[int] = []
    fields: list[dict[str, Any]] = []
    for index, event, result in zip(
        valid_index, valid_events, _score(model, valid_events), strict=True
    ):
        if isinstance(result, str):
            outcomes[index] = _dead(records[index], f"{MODEL_ERROR}: {result}", stage)
        else:
            scored_index.append(index)
            fields.append(_verdict_fields(spec, model, event, result, records[index], produced_at))

    for index, verdict in zip(scored_index, _validate_verdicts(fields), strict=True):
        if isinstance(verdict, Verdict):
            outcomes[index] = RecordOutcome(records[index], verdict=verdict)
        else:
            reason = f"{MODEL_ERROR}: invalid prediction: {verdict}"
            outcomes[index] = _dead(records[index], reason, stage)
    return BatchResult([outcome for outcome in outcomes if outcome is not None])


def _decode(raw: bytes, spec: CheckSpec) -> AnyEvent:
    event = parse_event(raw)
    if event.event_type != spec.event_type:
        raise InvalidEvent(
            f"event_type: check {spec.name!r} reads {spec.event_type} events, "
            f"got {event.event_type}"
        )
    return event


def _dead(record: Record, reason: str, stage: str) -> RecordOutcome:
    letter = DeadLetter.of(record.value, reason, stage, source=source_of(record))
    return RecordOutcome(record, dead_letter=letter)


def _score(model: CheckModel, events: Sequence[AnyEvent]) -> list[Prediction | str]:
    """The prediction, or the text of the error the model raised, for every event in order.

    One ``predict`` call for the whole batch; only if it fails is the batch bisected, so a poison
    event costs about 2·log2(n) extra calls and dead-letters nobody but itself.
    """
    scored: list[Prediction | str] = []
    stack: list[tuple[int, int]] = [(0, len(events))] if events else []
    while stack:
        start, stop = stack.pop()
        chunk = events[start:stop]
        try:
            predictions = model.predict(chunk)
            if len(predictions) != len(chunk):
                raise ValueError(
                    f"predict returned {len(predictions)} predictions for {len(chunk)} events"
                )
        except Exception as exc:
            if stop - start == 1:
                scored.append(f"{type(exc).__name__}: {exc}")
            else:
                middle = (start + stop) // 2
                stack.extend([(middle, stop), (start, middle)])  # the left half is popped first
            continue
        scored.extend(predictions)
    failures = sum(isinstance(result, str) for result in scored)
    if failures:
        log.warning(
            "model %s %s failed on %d of %d events; they go to the dead-letter stream",
            model.name,
            model.version,
            failures,
            len(events),
        )
    return scored


def _verdict_fields(
    spec: CheckSpec,
    model: CheckModel,
    event: AnyEvent,
    prediction: Prediction,
    record: Record,
    produced_at: datetime,
) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "check": spec.name,
        "model_name": model.name,
        "model_version": model.version,
        "score": prediction.score,
        "value": prediction.value,
        "label": prediction.label,
        "details": prediction.details,
        "event_occurred_at": event.occurred_at,
        "produced_at": produced_at,
        "source": {"stream": record.stream, "partition": record.partition, "offset": record.offset},
    }


def _validate_verdicts(fields: list[dict[str, Any]]) -> list[Verdict | str]:
    """Verdicts built in one pydantic call; if one is refused, each alone to find which.

    Validating the model's output is what turns a NaN or an out-of-range score into a dead
    letter instead of a verdict that breaks the decision service.
    """
    try:
        return list(_VERDICT_LIST.validate_python(fields))
    except ValidationError:
        pass
    checked: list[Verdict | str] = []
    for item in fields:
        try:
            checked.append(Verdict.model_validate(item))
        except ValidationError as exc:
            checked.append(describe_validation_error(exc))
    return checked
