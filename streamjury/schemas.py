"""Wire schemas: every record on every stream is one of these models, as JSON, keyed by event_id.

Validation is strict on purpose: a record that is not exactly right goes to the dead-letter stream.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Json,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from streamjury.errors import InvalidEvent

SCHEMA_VERSION: Final = 1
MAX_RECORD_BYTES = 64 * 1024
"""Larger events are refused before parsing: no legitimate event comes close."""
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
"""The parse limit for our own outputs: decisions embed verdicts, dead letters embed originals."""
MAX_DEAD_LETTER_BYTES = 4 * 1024 * 1024 - 64 * 1024
"""The default size of an encoded dead letter: under MAX_OUTPUT_BYTES, so it can be read back.
Each backend's sink caps it lower (``BackendSettings.deadletter_limit``)."""

SchemaVersion = Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]
"""A strict int, not ``Literal[1]``: a Literal compares by equality, so JSON ``1.0`` passed it."""
EventId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
LocationId = Annotated[int, Field(ge=1, le=265)]
"""NYC TLC taxi zones are 1..263; 264 and 265 are the TLC's 'unknown' and 'outside NYC' zones."""
Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
"""A 64-bit perceptual hash as 16 lowercase hex characters."""
ShortText = Annotated[str, Field(max_length=200)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
CheckName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
DetailValue = str | float | int | bool | None
M = TypeVar("M", bound="WireModel")


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the only kind the schemas accept)."""
    return datetime.now(UTC)


class WireModel(BaseModel):
    """Strict base: no coercion from strings, no unknown fields, no NaN or infinity."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        allow_inf_nan=False,
        frozen=True,
        str_max_length=10_000,
    )

    def to_bytes(self) -> bytes:
        """Compact JSON, straight from pydantic-core's serializer (no str round trip)."""
        return self.__pydantic_serializer__.to_json(self)


class SourcePosition(WireModel):
    """Where a record came from, so an output can be traced back to its input."""

    stream: str = Field(max_length=255)
    partition: str = Field(max_length=128)
    offset: int = Field(ge=0)

    def __str__(self) -> str:
        return f"{self.stream}/{self.partition}@{self.offset}"


class EventBase(WireModel):
    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: EventId
    occurred_at: AwareDatetime


class RideEvent(EventBase):
    """What a ride-hailing app knows at pickup, named as in the public NYC TLC trip records."""

    event_type: Literal["ride"] = "ride"
    VendorID: int = Field(ge=1, le=7)
    pickup_datetime: AwareDatetime
    PULocationID: LocationId
    DOLocationID: LocationId
    trip_distance: float = Field(ge=0.0, le=500.0)
    passenger_count: int = Field(ge=0, le=9)
    payment_type: int = Field(ge=0, le=6)
    """TLC codes: 0 flex fare, 1 credit card, 2 cash, 3 no charge, 4 dispute, 5 unknown, 6 voided."""
    fare_amount: float = Field(ge=0.0, le=10_000.0)


class UploadEvent(EventBase):
    """A video upload's metadata, as the moderation checks see it."""

    event_type: Literal["upload"] = "upload"
    uploader_id: str = Field(min_length=1, max_length=64)
    title: ShortText
    description: str = Field(max_length=5_000)
    tags: list[Tag] = Field(max_length=30)
    duration_seconds: float = Field(gt=0.0, le=86_400.0)
    content_fingerprint: Fingerprint
    uploader_account_age_days: int = Field(ge=0, le=36_500)
    uploader_prior_strikes: int = Field(ge=0, le=1_000)


Event = Annotated[RideEvent | UploadEvent, Field(discriminator="event_type")]


_NO_ARM = {"arm"}


class Verdict(WireModel):
    """One model's output for one event."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: EventId
    event_type: Literal["ride", "upload"]
    check: CheckName
    model_name: str = Field(max_length=128)
    model_version: str = Field(max_length=128)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    """A probability, for classifier checks."""
    value: float | None = None
    """A predicted quantity, for regression checks (minutes, dollars)."""
    label: str | None = Field(default=None, max_length=128)
    details: dict[str, DetailValue] = Field(default_factory=dict, max_length=16)
    event_occurred_at: AwareDatetime
    produced_at: AwareDatetime
    source: SourcePosition
    arm: Literal["live", "canary"] | None = None
    """Which arm of a canary rollout scored the event; absent when no canary runs."""

    def to_bytes(self) -> bytes:
        """As ``WireModel.to_bytes``, leaving ``arm`` out when unset: readers from before the
        field existed (which refuse unknown fields) keep reading verdicts of non-canary runs."""
        if self.arm is None:
            return self.__pydantic_serializer__.to_json(self, exclude=_NO_ARM)
        return self.__pydantic_serializer__.to_json(self)

    @property
    def verdict_key(self) -> tuple[str, str]:
        """Identity for de-duplication: one verdict per check per event."""
        return (self.event_id, self.check)


class RideCompleted(WireModel):
    """Ground truth, published when a ride ends: what the duration and tip checks predicted.

    Goes to the ``outcomes`` stream (never ``rides``), so no consumer mistakes it for a ride.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: EventId
    """The ride's own event id: the key that joins it with that ride's verdicts."""
    event_type: Literal["ride_completed"] = "ride_completed"
    occurred_at: AwareDatetime
    """When the ride ended (pickup plus duration): later in event time than the ride."""
    duration_minutes: float = Field(ge=0)
    tip_amount: float = Field(ge=0)


Outcome = Literal["estimate", "approve", "review", "remove", "incomplete"]


class RideEstimate(WireModel):
    eta_minutes: float
    expected_tip: float
    flags: list[str] = Field(default_factory=list)


class Decision(WireModel):
    """The joined outcome for one event; a higher ``revision`` supersedes a lower one."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: EventId
    event_type: Literal["ride", "upload"]
    outcome: Outcome
    reasons: list[str] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    missing_checks: list[str] = Field(default_factory=list)
    estimate: RideEstimate | None = None
    revision: int = Field(default=1, ge=1)
    event_occurred_at: AwareDatetime
    decided_at: AwareDatetime


class DeadLetter(WireModel):
    """A record we could not process, with why, where, and as much of the original as fits.

    A dead letter must always fit its sink, or the record behind it could never be committed
    and its partition would stall: ``of`` keeps the original whole when the encoded letter fits
    ``max_bytes``, else its first part (``original_truncated``). ``original_sha256`` and
    ``original_length`` always describe the whole original, so a cut one is still identified.
    """

    model_config = ConfigDict(str_max_length=None)

    schema_version: SchemaVersion = SCHEMA_VERSION
    original_b64: str
    original_truncated: bool = False
    """True when only the first part of the original is kept (see ``original_length``)."""
    original_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    original_length: int | None = Field(default=None, ge=0)
    """Bytes in the whole original; None only in letters written before these fields existed."""
    reason: str = Field(max_length=2_000)
    stage: str = Field(max_length=128)
    """Which service refused it, e.g. ``consumer:duration``."""
    source: SourcePosition | None = None
    failed_at: AwareDatetime

    @field_validator("original_b64")
    @classmethod
    def _must_be_base64(cls, value: str) -> str:
        base64.b64decode(value, validate=True)
        return value

    @classmethod
    def of(
        cls,
        original: bytes,
        reason: str,
        stage: str,
        source: SourcePosition | None = None,
        *,
        max_bytes: int = MAX_DEAD_LETTER_BYTES,
    ) -> DeadLetter:
        """The dead letter of ``original``, at most ``max_bytes`` once encoded (``to_bytes``)."""
        envelope = cls(
            original_b64="",
            original_truncated=False,  # "false" is the longer: the measure is an upper bound
            original_sha256=hashlib.sha256(original).hexdigest(),
            original_length=len(original),
            reason=reason[:2_000],
            stage=stage,
            source=source,
            failed_at=utc_now(),
        )
        room = max(max_bytes - len(envelope.to_bytes()), 0)
        keep = room // 4 * 3  # base64 turns every 3 bytes into 4 ASCII characters
        kept = original if len(original) <= keep else original[:keep]
        return envelope.model_copy(
            update={
                "original_b64": base64.b64encode(kept).decode("ascii"),
                "original_truncated": len(kept) < len(original),
            }
        )

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)


_EVENT_ADAPTER: TypeAdapter[RideEvent | UploadEvent] = TypeAdapter(Event)
_EVENTS_ADAPTER: TypeAdapter[list[RideEvent | UploadEvent]] = TypeAdapter(list[Json[Event]])
"""Each item parsed as JSON on its own, then validated as ``Event``: a batch in one call."""


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """How far an event's ``occurred_at`` may lie from now, in the past and in the future.

    An event from year 1 or 9999 is a bug upstream, not an event: it would skew latency figures
    and anything that reasons in event time, so it is dead-lettered with the reason instead.
    The default past bound is wide so replays of recorded streams (``tests/data``) still pass.
    """

    max_age_s: float = 10 * 365 * 86_400.0
    max_lead_s: float = 86_400.0
    _max_age: timedelta = field(init=False, repr=False, compare=False)
    _max_lead: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_age_s <= 0 or self.max_lead_s < 0:
            raise ValueError(f"event time window must not be empty: {self}")
        # Built once: ``refusal`` runs for every event read.
        object.__setattr__(self, "_max_age", timedelta(seconds=self.max_age_s))
        object.__setattr__(self, "_max_lead", timedelta(seconds=self.max_lead_s))

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest ``occurred_at`` the window allows around ``now``."""
        return now - self._max_age, now + self._max_lead

    def refusal(self, occurred_at: datetime, now: datetime) -> str | None:
        """Why ``occurred_at`` is outside the window around ``now``, else None."""
        earliest, latest = self.bounds(now)
        if earliest <= occurred_at <= latest:
            return None
        if occurred_at < earliest:
            return (
                f"occurred_at: {occurred_at.isoformat()} is more than {_span(self.max_age_s)} "
                f"before now ({now.isoformat()})"
            )
        return (
            f"occurred_at: {occurred_at.isoformat()} is more than {_span(self.max_lead_s)} "
            f"after now ({now.isoformat()})"
        )


DEFAULT_EVENT_TIME_WINDOW: Final = EventTimeWindow()


def _span(seconds: float) -> str:
    return f"{seconds / 86_400:g} days" if seconds >= 86_400 else f"{seconds:g}s"


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """One readable line: ``field.path: message; ...`` for the first few problems."""
    parts = []
    for error in exc.errors(include_url=False)[:limit]:
        location = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{location}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _check_size(raw: bytes, limit: int) -> None:
    if len(raw) > limit:
        raise InvalidEvent(f"record is {len(raw)} bytes, over the {limit} byte limit")


def parse_event(
    raw: bytes,
    *,
    window: EventTimeWindow = DEFAULT_EVENT_TIME_WINDOW,
    now: datetime | None = None,
) -> RideEvent | UploadEvent:
    """Decode and validate one event, or raise InvalidEvent with a readable reason.

    ``now`` (default: the current time) anchors the event time ``window``.
    """
    _check_size(raw, MAX_RECORD_BYTES)
    try:
        event = _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from exc
    _check_versioned(event)
    refusal = window.refusal(event.occurred_at, utc_now() if now is None else now)
    if refusal is not None:
        raise InvalidEvent(refusal)
    return event


def parse_events(
    raws: Sequence[bytes],
    *,
    window: EventTimeWindow = DEFAULT_EVENT_TIME_WINDOW,
    now: datetime | None = None,
) -> list[RideEvent | UploadEvent | InvalidEvent]:
    """``parse_event`` for each of ``raws``: the event, or the InvalidEvent it raises.

    Validating item by item costs ~1.8 µs an event more than one pydantic call for the whole
    batch (each item still parsed as JSON on its own, so no record can run into the next). The
    records that call refuses, and any over the size limit, go through ``parse_event`` one by
    one, so every refusal keeps ``parse_event``'s reason.
    """
    now = utc_now() if now is None else now
    results: list[RideEvent | UploadEvent | InvalidEvent | None] = [None] * len(raws)
    alone = {index for index, raw in enumerate(raws) if len(raw) > MAX_RECORD_BYTES}
    together = [index for index in range(len(raws)) if index not in alone]
    try:
        events = _EVENTS_ADAPTER.validate_python([raws[index] for index in together])
    except ValidationError as exc:
        refused = {error["loc"][0] for error in exc.errors(include_url=False) if error["loc"]}
        alone.update(together[position] for position in refused if isinstance(position, int))
        together = [index for index in together if index not in alone]
        try:
            events = _EVENTS_ADAPTER.validate_python([raws[index] for index in together])
        except ValidationError:  # not expected: then every record goes on its own
            alone.update(together)
            together, events = [], []
    earliest, latest = window.bounds(now)
    for index, event in zip(together, events, strict=True):
        # both event schemas have a schema_version: said on the wire, or refused as
        # _check_versioned refuses it
        if earliest <= event.occurred_at <= latest and (
            "schema_version" in event.__pydantic_fields_set__
        ):
            results[index] = event
        else:
            alone.add(index)
    for index in alone:
        try:
            results[index] = parse_event(raws[index], window=window, now=now)
        except InvalidEvent as exc:
            results[index] = exc
    return results  # type: ignore[return-value]  # every index was filled above


def parse_model(model: type[M], raw: bytes, *, max_bytes: int = MAX_OUTPUT_BYTES) -> M:
    """Decode and validate any wire model, or raise InvalidEvent with a readable reason."""
    _check_size(raw, max_bytes)
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from exc
    _check_versioned(parsed)
    return parsed


def _check_versioned(parsed: WireModel) -> None:
    """A record read from a stream must say its schema version; only code may use the default."""
    if "schema_version" in type(parsed).__pydantic_fields__ and (
        "schema_version" not in parsed.__pydantic_fields_set__
    ):
        raise InvalidEvent("schema_version: Field required")
