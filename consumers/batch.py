"""The pure core of every model consumer: records in, verdicts and dead letters out, no I/O.

Shared by the streaming runtime and the AWS Lambda adapter, so both treat bad data the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from consumers.check import CheckModel, CheckSpec, Prediction
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    SCHEMA_VERSION,
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

    @classmethod
    def of_verdict(cls, record: Record, verdict: Verdict) -> RecordOutcome:
        """``RecordOutcome(record, verdict=verdict)`` in half the time, for the common case.

        A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
        writing the three slots directly costs 0.25 µs less, on every verdict of every batch.
        """
        outcome = _new_instance(cls)
        _set_outcome_record(outcome, record)
        _set_outcome_verdict(outcome, verdict)
        _set_outcome_dead_letter(outcome, None)
        return outcome


_new_instance = object.__new__
_set_outcome_record = vars(RecordOutcome)["record"].__set__
_set_outcome_verdict = vars(RecordOutcome)["verdict"].__set__
_set_outcome_dead_letter = vars(RecordOutcome)["dead_letter"].__set__


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

    produced_at = now()  # one batch, produced at one time
    scored_index: list[int] = []
    scored_events: list[AnyEvent] = []
    predictions: list[Prediction] = []
    for index, event, result in zip(
        valid_index, valid_events, _score(model, valid_events), strict=True
    ):
        if isinstance(result, str):
            outcomes[index] = _dead(records[index], f"{MODEL_ERROR}: {result}", stage)
        else:
            scored_index.append(index)
            scored_events.append(event)
            predictions.append(result)

    scored_records = [records[index] for index in scored_index]
    verdicts = _verdicts(spec, model, scored_events, predictions, scored_records, produced_at)
    for index, record, verdict in zip(scored_index, scored_records, verdicts, strict=True):
        if isinstance(verdict, Verdict):
            outcomes[index] = RecordOutcome.of_verdict(record, verdict)
        else:
            reason = f"{MODEL_ERROR}: invalid prediction: {verdict}"
            outcomes[index] = _dead(record, reason, stage)
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
    """A verdict, or why the Verdict schema refused the prediction, for every scored event.

    Validating the model's output is what turns a NaN or an out-of-range score into a dead
    letter instead of a verdict that breaks the decision service.
    """
    if not events:
        return []
    if len(events) >= _TRUSTED_FROM:
        trusted = _trusted_verdicts(spec, model, events, predictions, records, produced_at)
        if trusted is not None:
            return trusted
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


# -- the fast path: verdicts from values that are already known to be valid ------------------
#
# Validating a whole Verdict costs ~4 µs an event, most of it re-checking values this process
# validated already. Every field of a verdict comes from one of four places, each checked once:
#   - the event (id, type, occurred_at): the event schema enforced the very constraints the
#     Verdict schema declares for them (a test pins that the declarations are identical);
#   - the batch (check, model, produced_at): the first verdict is validated in full;
#   - the record (stream, partition, offset): each distinct partition once, offsets as a column;
#   - the model (score, value, label, details): each a column, in one pydantic call per column
#     with the Verdict field's own declaration, so a NaN or a score of 1.5 is still refused.
# If any check fails, the batch takes the fully validated path above, which finds the culprits.

M = TypeVar("M", bound=BaseModel)
_PREDICTION_FIELDS = ("score", "value", "label", "details")
_TRUSTED_FROM = 8
"""The checks below cost ~10 µs a batch: below this many verdicts, validating each is cheaper."""


def _field_list_adapter(model: type[BaseModel], name: str) -> TypeAdapter[list[Any]]:
    """Validates a list of values of ``model``'s field ``name`` exactly as ``model`` would."""
    field = model.model_fields[name]
    item = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(list[item], config=model.model_config)  # type: ignore[valid-type]


_COLUMN_ADAPTERS = {name: _field_list_adapter(Verdict, name) for name in _PREDICTION_FIELDS}
_OFFSETS_ADAPTER = _field_list_adapter(SourcePosition, "offset")


def _trusted_verdicts(
    spec: CheckSpec,
    model: CheckModel,
    events: Sequence[AnyEvent],
    predictions: Sequence[Prediction],
    records: Sequence[Record],
    produced_at: datetime,
) -> list[Verdict] | None:
    """The verdicts, built without validating each one, or None if any value needs a look."""
    try:
        first = Verdict.model_validate(
            _verdict_fields(spec, model, events[0], predictions[0], records[0], produced_at)
        )
        columns = [
            adapter.validate_python(list(map(attrgetter(name), predictions)))
            for name, adapter in _COLUMN_ADAPTERS.items()
        ]
        offsets = _OFFSETS_ADAPTER.validate_python([record.offset for record in records])
        for stream, partition in {(record.stream, record.partition) for record in records}:
            SourcePosition(stream=stream, partition=partition, offset=0)
    except ValidationError:
        return None
    # Fields that are the same for the whole batch, as the first verdict's validation left them.
    schema_version, check, model_name, model_version, produced_at = (
        first.schema_version,
        first.check,
        first.model_name,
        first.model_version,
        first.produced_at,
    )
    verdicts = [first]
    for event, record, offset, score, value, label, details in zip(
        events[1:], records[1:], offsets[1:], *(column[1:] for column in columns), strict=True
    ):
        source = {"stream": record.stream, "partition": record.partition, "offset": offset}
        fields = {
            "schema_version": schema_version,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "check": check,
            "model_name": model_name,
            "model_version": model_version,
            "score": score,
            "value": value,
            "label": label,
            "details": details,
            "event_occurred_at": event.occurred_at,
            "produced_at": produced_at,
            "source": _assemble(SourcePosition, source),
        }
        verdicts.append(_assemble(Verdict, fields))
    return verdicts


_set_attribute = object.__setattr__  # a frozen model refuses its own __setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {
    model: set(model.model_fields) for model in (Verdict, SourcePosition)
}


def _assemble(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values``: every one of its fields, each already valid.

    This is what pydantic's own validator does once every value has passed: set the instance
    ``__dict__`` and BaseModel's three bookkeeping slots (written through their slot
    descriptors, a third cheaper than ``object.__setattr__``). Half the cost of validating
    again, and a fifth of ``model_construct``'s, which re-derives every default in Python.
    """
    instance = _new_instance(cls)
    _set_attribute(instance, "__dict__", values)
    _set_fields_set(instance, _ALL_FIELDS[cls].copy())  # all set; a copy each, as pydantic does
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance
