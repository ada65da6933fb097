"""What the demo publishes: seeded rides and uploads, interleaved, with a few malformed records.

``occurred_at`` is stamped as each event goes out (or at its slot, when paced), so the latency
the summary reports is the pipeline's, not the synthetic generator's made-up event times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic_core import to_json

from producers.publisher import Outgoing
from producers.synthetic import generate_rides, generate_uploads
from streamjury.clock import Clock
from streamjury.schemas import RideEvent, UploadEvent
from streamjury.streams.base import OutRecord
from streamjury.streams.names import RIDES, STREAM_OF_EVENT_TYPE, UPLOADS, StreamNames

Event = RideEvent | UploadEvent


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record no consumer can accept, on the logical stream it is sent to."""

    stream: str
    key: str
    payload: bytes


_OPEN = datetime(1, 1, 1, tzinfo=UTC)
"""A placeholder ``occurred_at`` no real event has, to find where the stamp goes."""
_OPEN_JSON = to_json(_OPEN)


@dataclass(frozen=True, slots=True)
class Unstamped:
    """An event serialised once, its ``occurred_at`` left open.

    Stamping is then a clock read and a join of bytes, so a publisher offering events as fast as
    it can spends its CPU sending them, not copying and serialising models (~5 µs an event, on the
    two cores the pipeline it measures runs on). The bytes are exactly the stamped model's.
    """

    event_id: str
    event_type: str
    head: bytes
    tail: bytes

    @classmethod
    def of(cls, event: Event) -> Unstamped:
        raw = event.model_copy(update={"occurred_at": _OPEN}).to_bytes()
        head, found, tail = raw.partition(_OPEN_JSON)
        if not found or _OPEN_JSON in tail:
            raise ValueError(f"event {event.event_id} has no single place for its occurred_at")
        return cls(event.event_id, event.event_type, head, tail)

    def to_bytes(self, occurred_at: datetime) -> bytes:
        return self.head + to_json(occurred_at) + self.tail


def unstamped(items: Sequence[Event | Malformed]) -> list[Unstamped | Malformed]:
    """Serialise the events ahead of publishing them; malformed records stay as they are."""
    return [item if isinstance(item, Malformed) else Unstamped.of(item) for item in items]


@dataclass(frozen=True)
class DemoEvents:
    """The run's input: warm-up events (one per type), then the timed mix."""

    warmup: list[Event]
    timed: list[Event | Malformed]

    @property
    def valid(self) -> list[Event]:
        return [*self.warmup, *(e for e in self.timed if not isinstance(e, Malformed))]

    @property
    def malformed(self) -> list[Malformed]:
        return [e for e in self.timed if isinstance(e, Malformed)]


def demo_events(seed: int, count: int, bad: int, start: datetime) -> DemoEvents:
    """``count`` rides and ``count`` uploads, alternating, with ``bad`` malformed records spread
    evenly among them; the first ride and upload are the warm-up."""
    rides = [labelled.event for labelled in generate_rides(seed, count, start)]
    uploads = [labelled.event for labelled in generate_uploads(seed, count, start)]
    mixed: list[Event | Malformed] = []
    for ride, upload in zip(rides[1:], uploads[1:], strict=True):
        mixed += [ride, upload]
    total = len(mixed) + bad
    for n in range(bad):  # the n-th lands at the middle of the n-th of ``bad`` equal slices
        mixed.insert((2 * n + 1) * total // (2 * bad), malformed_record(n, rides[0], uploads[0]))
    return DemoEvents(warmup=[rides[0], uploads[0]], timed=mixed)


def malformed_record(n: int, ride: RideEvent, upload: UploadEvent) -> Malformed:
    """The n-th of five kinds of broken record, each unique (so each dead letter is traceable)."""
    key = f"malformed-{n}"
    ride_fields = json.loads(ride.to_bytes())
    upload_fields = json.loads(upload.to_bytes())
    kind = n % 5
    if kind == 0:
        return Malformed(RIDES, key, f'{{"event_id": "{key}", "event_type": "ri'.encode())
    if kind == 1:
        return Malformed(UPLOADS, key, b"\xff\xfe not UTF-8: " + key.encode())
    if kind == 2:
        wrong_type = {**ride_fields, "event_id": key, "trip_distance": "far"}
        return Malformed(RIDES, key, json.dumps(wrong_type).encode())
    if kind == 3:
        missing = {k: v for k, v in upload_fields.items() if k != "content_fingerprint"}
        return Malformed(UPLOADS, key, json.dumps({**missing, "event_id": key}).encode())
    unknown = {"event_id": key, "event_type": "scooter", "occurred_at": ride_fields["occurred_at"]}
    return Malformed(RIDES if n % 2 == 0 else UPLOADS, key, json.dumps(unknown).encode())


def stamped(
    items: Sequence[Event | Unstamped | Malformed],
    names: StreamNames,
    clock: Clock,
    *,
    rate: float = 0.0,
    origin: datetime | None = None,
) -> Iterator[Outgoing]:
    """The items as records, each event's ``occurred_at`` set as it is drawn.

    Unpaced, that is now; paced at ``rate`` per second from ``origin``, it is the item's slot
    (never earlier than now), since the publisher sends no item before its slot.
    """
    streams = {kind: names.physical(stream) for kind, stream in STREAM_OF_EVENT_TYPE.items()}
    for index, item in enumerate(items):
        if isinstance(item, Malformed):
            yield Outgoing(names.physical(item.stream), OutRecord(item.key, item.payload))
            continue
        event = item if isinstance(item, Unstamped) else Unstamped.of(item)
        now = clock.now()
        if rate > 0 and origin is not None:
            now = max(now, origin + timedelta(seconds=index / rate))
        record = OutRecord(event.event_id, event.to_bytes(now))
        yield Outgoing(streams[event.event_type], record, now)


def expected_dead_letters(
    malformed: Sequence[Malformed], readers: Mapping[str, Sequence[str]]
) -> list[tuple[str, bytes]]:
    """(stage, original) of the dead letter every reader of each record's stream must write
    (``readers``: stream -> consumer names, ``consumer:<name>`` being each one's stage)."""
    return [
        (f"consumer:{check}", record.payload)
        for record in malformed
        for check in readers.get(record.stream, ())
    ]
