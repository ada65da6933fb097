"""Verdicts built from values already known to be valid, without validating each verdict again.

A batch's verdicts stay rows of those values (``TrustedRows``) until something reads one as a
model; what the streaming runtime writes are their bytes (``consumers.verdict_bytes``), so on
its common path no verdict model is built at all.

Writes pydantic's private slots, so it is pinned to the pydantic versions it was verified on;
outside them ``trusted_verdicts`` declines and every verdict takes the fully validated path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any, TypeVar

import pydantic
import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError

from consumers.check import Prediction
from consumers.verdict_bytes import SUPPORTED as ENCODABLE
from consumers.verdict_bytes import encode_verdicts
from streamjury.schemas import RideEvent, SourcePosition, UploadEvent, Verdict
from streamjury.streams.base import Record

log = logging.getLogger(__name__)

# Validating a whole Verdict costs ~4 µs an event, most of it re-checking values this process
# validated already. Every field of a verdict comes from one of four places, each checked once:
#   - the event (id, type, occurred_at): the event schema enforced the very constraints the
#     Verdict schema declares for them (a test pins that the declarations are identical);
#   - the batch (check, model, produced_at): the first verdict is validated in full;
#   - the record (stream, partition, offset): each distinct partition once, offsets as a column;
#   - the model (score, value, label, details): each a column, in one pydantic call per column
#     with the Verdict field's own declaration, so a NaN or a score of 1.5 is still refused.
# If any check fails, ``trusted_verdicts`` returns None and the caller validates every verdict.

VERIFIED_ON: Mapping[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "pydantic": ((2, 13), (2, 15)),
    "pydantic-core": ((2, 46), (2, 51)),
}
"""(lowest, first unverified) major.minor of each package the slot writing was verified on:
pydantic 2.14 / core 2.50 (the project's environment) and 2.13 / core 2.46 (the benchmark's,
where Quix Streams pins pydantic below 2.14), each with the property tests below.

To widen: install the new version, run tests/unit/consumers/test_verdict_fastpath.py (its
property test compares this path with full validation), then move the bound here."""
TRUSTED_FROM = 8
"""The checks below cost ~10 µs a batch: below this many verdicts, validating each is cheaper."""

AnyEvent = RideEvent | UploadEvent
M = TypeVar("M", bound=BaseModel)
_PREDICTION_FIELDS = ("score", "value", "label", "details")


def installed_versions() -> dict[str, str]:
    """The versions of the packages in ``VERIFIED_ON`` this process runs with."""
    return {"pydantic": pydantic.VERSION, "pydantic-core": pydantic_core.__version__}


def unverified(versions: Mapping[str, str]) -> list[str]:
    """``package version`` for each of ``versions`` outside ``VERIFIED_ON``; empty if all fit."""
    outside = []
    for package, (lowest, first_unverified) in VERIFIED_ON.items():
        version = versions.get(package, "")
        match = re.match(r"(\d+)\.(\d+)", version)
        major_minor = (int(match[1]), int(match[2])) if match else None
        if major_minor is None or not lowest <= major_minor < first_unverified:
            outside.append(f"{package} {version or '(missing)'}")
    return outside


_OUTSIDE = unverified(installed_versions())
try:  # BaseModel's bookkeeping slots, written directly by _assemble
    _set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
    _set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
    _set_private = BaseModel.__dict__["__pydantic_private__"].__set__
except (KeyError, AttributeError):
    _OUTSIDE.append("a pydantic BaseModel without its bookkeeping slots")
ENABLED = not _OUTSIDE
"""False outside the verified versions: every verdict is then validated in full (slower, same)."""
if _OUTSIDE:
    log.warning(
        "verdict fast path off: %s not verified (see consumers/verdict_fastpath.py)",
        ", ".join(_OUTSIDE),
    )


def _field_list_adapter(model: type[BaseModel], name: str) -> TypeAdapter[list[Any]]:
    """Validates a list of values of ``model``'s field ``name`` exactly as ``model`` would."""
    field = model.model_fields[name]
    item = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(list[item], config=model.model_config)  # type: ignore[valid-type]


_COLUMN_ADAPTERS = {name: _field_list_adapter(Verdict, name) for name in _PREDICTION_FIELDS}
_OFFSETS_ADAPTER = _field_list_adapter(SourcePosition, "offset")


@dataclass(frozen=True, slots=True)
class TrustedRows:
    """A batch's verdicts as rows of values each known valid; row ``i`` becomes a model only
    when ``verdict(i)`` is called (``RecordOutcome.deferred``)."""

    first: Verdict
    """Row 0, fully validated: the batch-wide fields (check, model, produced_at) come from it."""
    events: Sequence[AnyEvent]
    records: Sequence[Record]
    offsets: list[int]
    columns: list[list[Any]]
    """The validated score, value, label and details of every row."""

    def __len__(self) -> int:
        return len(self.events)

    def event_id(self, index: int) -> str:
        return self.events[index].event_id

    def event_occurred_at(self, index: int) -> datetime:
        return self.events[index].occurred_at

    def verdict(self, index: int) -> Verdict:
        if index == 0:
            return self.first
        first, event, record = self.first, self.events[index], self.records[index]
        score, value, label, details = (column[index] for column in self.columns)
        source = {
            "stream": record.stream,
            "partition": record.partition,
            "offset": self.offsets[index],
        }
        fields = {
            "schema_version": first.schema_version,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "check": first.check,
            "model_name": first.model_name,
            "model_version": first.model_version,
            "score": score,
            "value": value,
            "label": label,
            "details": details,
            "event_occurred_at": event.occurred_at,
            "produced_at": first.produced_at,
            "source": _assemble(SourcePosition, source),
            "arm": None,
        }
        return _assemble(Verdict, fields)


@dataclass(frozen=True, slots=True)
class TrustedVerdicts:
    """A batch's verdict rows and, unless the schema changed under ``verdict_bytes``, their
    wire bytes."""

    rows: TrustedRows
    encoded: list[bytes] | None

    @property
    def verdicts(self) -> list[Verdict]:
        """Every row's model."""
        return [self.rows.verdict(index) for index in range(len(self.rows))]


def trusted_verdicts(
    first_fields: dict[str, Any],
    events: Sequence[AnyEvent],
    predictions: Sequence[Prediction],
    records: Sequence[Record],
) -> TrustedVerdicts | None:
    """The verdicts as rows and their wire bytes, without validating or serialising each one,
    or None if any value needs a look.

    ``first_fields`` are the whole Verdict fields of the first event; the batch-wide ones
    (check, model, produced_at) are taken from it for every verdict. None also when the
    installed pydantic is not one this was verified on.
    """
    if not ENABLED or not events:
        return None
    try:
        first = Verdict.model_validate(first_fields)
        columns = [
            adapter.validate_python(list(map(attrgetter(name), predictions)))
            for name, adapter in _COLUMN_ADAPTERS.items()
        ]
        offsets = _OFFSETS_ADAPTER.validate_python([record.offset for record in records])
        for stream, partition in {(record.stream, record.partition) for record in records}:
            SourcePosition(stream=stream, partition=partition, offset=0)
    except ValidationError:
        return None
    rows = TrustedRows(first, events, records, offsets, columns)
    encoded = encode_verdicts(first, events, records, offsets, columns) if ENCODABLE else None
    return TrustedVerdicts(rows, encoded)


_new_instance = object.__new__
_set_attribute = object.__setattr__  # a frozen model refuses its own __setattr__
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {
    Verdict: set(Verdict.model_fields) - {"arm"},  # left at its default, as validation does
    SourcePosition: set(SourcePosition.model_fields),
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
