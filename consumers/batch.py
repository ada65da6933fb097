"""The pure core of every model consumer: records in, verdicts and dead letters out, no I/O.

Shared by the streaming runtime and the Lambda adapter, so both treat bad data the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from consumers.check import CheckModel, CheckSpec, Prediction, checks_name
from consumers.outcomes import BatchResult, RecordOutcome, source_of
from consumers.verdict_fastpath import TRUSTED_FROM, trusted_verdicts
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    MAX_DEAD_LETTER_BYTES,
    SCHEMA_VERSION,
    DeadLetter,
    RideEvent,
    UploadEvent,
    Verdict,
    describe_validation_error,
    parse_events,
    utc_now,
)
from streamjury.streams.base import Record

log = logging.getLogger(__name__)

AnyEvent = RideEvent | UploadEvent
MODEL_ERROR = "model error"
"""Prefix of the dead-letter reason when the model, not the record, failed."""
_VERDICT_LIST: TypeAdapter[list[Verdict]] = TypeAdapter(list[Verdict])
"""Validates a whole batch of verdicts in one pydantic call, cheaper than one call per verdict."""


def process_batch(
    spec: CheckSpec,
    model: CheckModel,
    records: Sequence[Record],
    *,
    stage: str,
    now: Callable[[], datetime] = utc_now,
    deadletter_max_bytes: int = MAX_DEAD_LETTER_BYTES,
) -> BatchResult:
    """Validate every record, score the valid ones in one vectorised call, never raise on data.

    A record that is not a valid event of ``spec.event_type`` becomes a dead letter; so does an
    event the model fails on (isolated by bisection, so the rest of the batch still gets verdicts)
    and one whose prediction the Verdict schema refuses (a NaN, a score above 1). Every dead
    letter fits ``deadletter_max_bytes`` (its sink's limit), its original cut if need be.
    """
    return process_checks(
        [(spec, model)], records, stage=stage, now=now, deadletter_max_bytes=deadletter_max_bytes
    )


def process_checks(
    checks: Sequence[tuple[CheckSpec, CheckModel]],
    records: Sequence[Record],
    *,
    stage: str,
    now: Callable[[], datetime] = utc_now,
    deadletter_max_bytes: int = MAX_DEAD_LETTER_BYTES,
) -> BatchResult:
    """``process_batch`` for several checks of one event type, parsing each record once.

    A record that is no valid event becomes one dead letter (``stage``), not one per check; a
    model failure or a refused prediction dead-letters that check's outcome only, under the
    check's own stage (``consumer:<check>``) when there are several. Outcomes come check by
    check, each check's in input order.
    """
    event_types = {spec.event_type for spec, _ in checks}
    if len(event_types) != 1:
        raise ValueError(f"checks scored together must read one event type, not {event_types}")
    [event_type] = event_types

    def _dead(record: Record, reason: str, stage: str) -> RecordOutcome:
        letter = DeadLetter.of(
            record.value, reason, stage, source=source_of(record), max_bytes=deadletter_max_bytes
        )
        return RecordOutcome(record, dead_letter=letter)

    names = checks_name([spec.name for spec, _ in checks])
    who = f"check {names!r}" if len(checks) == 1 else f"check set {names!r}"
    refused: dict[int, RecordOutcome] = {}
    valid_records: list[Record] = []
    valid_events: list[AnyEvent] = []
    read_at = now()  # the event-time window's anchor: one clock read per batch, not per event
    parsed = parse_events([record.value for record in records], now=read_at)
    for index, (record, event) in enumerate(zip(records, parsed, strict=True)):
        if isinstance(event, InvalidEvent):
            refused[index] = _dead(record, event.reason, stage)
        elif event.event_type != event_type:
            reason = f"event_type: {who} reads {event_type} events, got {event.event_type}"
            refused[index] = _dead(record, reason, stage)
        else:
            valid_records.append(record)
            valid_events.append(event)

    scored: list[RecordOutcome] = []
    for spec, model in checks:
        check_stage = stage if len(checks) == 1 else f"consumer:{spec.name}"
        scored.extend(
            outcome if isinstance(outcome, RecordOutcome) else _dead(record, outcome, check_stage)
            for record, outcome in zip(
                valid_records,
                _score_check(spec, model, valid_records, valid_events, now),
                strict=True,
            )
        )
    if len(checks) > 1 or not refused:
        return BatchResult([*refused.values(), *scored])
    in_order = iter(scored)  # one check: back into input order, as the Lambda adapter needs
    return BatchResult(
        [refused[index] if index in refused else next(in_order) for index in range(len(records))]
    )


def _score_check(
    spec: CheckSpec,
    model: CheckModel,
    records: Sequence[Record],
    events: Sequence[AnyEvent],
    now: Callable[[], datetime],
) -> list[RecordOutcome | str]:
    """Each valid event's verdict outcome, or the reason it is a dead letter instead."""
    produced_at = now()  # one batch, produced at one time (after scoring)
    results: list[RecordOutcome | str] = []
    scored_at: list[int] = []
    scored_events: list[AnyEvent] = []
    predictions: list[Prediction] = []
    for index, result in enumerate(_score(model, events)):
        if isinstance(result, str):
            results.append(f"{MODEL_ERROR}: {result}")
        else:
            results.append("")  # replaced below
            scored_at.append(index)
            scored_events.append(events[index])
            predictions.append(result)
    scored_records = [records[index] for index in scored_at]
    trusted = None
    if len(scored_events) >= TRUSTED_FROM:
        first = _verdict_fields(
            spec, model, scored_events[0], predictions[0], scored_records[0], produced_at
        )
        trusted = trusted_verdicts(first, scored_events, predictions, scored_records)
    if trusted is not None and trusted.encoded is not None:
        # The fast path: every one a verdict with its bytes; models are built only if read.
        rows, deferred = trusted.rows, RecordOutcome.deferred
        for row, (index, record, data) in enumerate(
            zip(scored_at, scored_records, trusted.encoded, strict=True)
        ):
            results[index] = deferred(record, data, rows, row)
        return results
    verdicts = (
        trusted.verdicts
        if trusted is not None
        else _verdicts(spec, model, scored_events, predictions, scored_records, produced_at)
    )
    for index, record, verdict in zip(scored_at, scored_records, verdicts, strict=True):
        if isinstance(verdict, Verdict):
            results[index] = RecordOutcome(record, verdict=verdict)
        else:
            results[index] = f"{MODEL_ERROR}: invalid prediction: {verdict}"
    return results


def _score(model: CheckModel, events: Sequence[AnyEvent]) -> list[Prediction | str]:
    """The prediction, or the text of the error the model raised, for every event in order.

    One ``predict`` call for the whole batch; only if it fails is the batch bisected, so a poison
    event costs about 2·log2(n) extra calls and dead-letters nobody but itself.
    """
    scored: list[Prediction | str] = []
    failures = 0
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
                failures += 1
            else:
                middle = (start + stop) // 2
                stack.extend([(middle, stop), (start, middle)])  # the left half is popped first
            continue
        scored.extend(predictions)
    if failures:
        log.warning(
            "model %s %s failed on %d of %d events; they go to the dead-letter stream",
            model.name,
            model.version,
            failures,
            len(events),
        )
    return scored


def _verdicts(
    spec: CheckSpec,
    model: CheckModel,
    events: Sequence[AnyEvent],
    predictions: Sequence[Prediction],
    records: Sequence[Record],
    produced_at: datetime,
) -> Sequence[Verdict | str]:
    """A verdict, or why the Verdict schema refused the prediction, for every scored event,
    each validated in full: the path of batches the fast path declined.

    Validating the model's output is what turns a NaN or an out-of-range score into a dead
    letter instead of a verdict that breaks the decision service.
    """
    fields = [
        _verdict_fields(spec, model, event, prediction, record, produced_at)
        for event, prediction, record in zip(events, predictions, records, strict=True)
    ]
    return _validate_verdicts(fields)


def _verdict_fields(
    spec: CheckSpec,
    model: CheckModel,
    event: AnyEvent,
    prediction: Prediction,
    record: Record,
    produced_at: datetime,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
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
    """Verdicts built in one pydantic call; if one is refused, each alone to find which."""
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
