"""The hostile corpus: records every consumer of a stream must dead-letter, and the tricky valid ones.

Fixed cases named after what they break, built from a real event so each differs from a valid
record in exactly one way; the property-based generators live in test_hostile_corpus.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streamjury.schemas import MAX_RECORD_BYTES, RideEvent, UploadEvent

RIDES = "rides"
UPLOADS = "uploads"


@dataclass(frozen=True, slots=True)
class Hostile:
    """A record no consumer of ``stream`` may accept: each must dead-letter it, with a reason."""

    name: str
    stream: str
    key: str
    payload: bytes


def _fields(event: RideEvent | UploadEvent) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(event.to_bytes())
    return fields


def _json(fields: Any) -> bytes:
    return json.dumps(fields).encode()


def hostile_records(ride: RideEvent, upload: UploadEvent, tag: str = "h") -> list[Hostile]:
    """One of each fixed hostile case, for both input streams where it applies.

    ``tag`` makes every payload unique, so each dead letter is traced to its case and run.
    """
    r, u = _fields(ride), _fields(upload)
    cases: list[tuple[str, str, bytes]] = []
    for stream, base in ((RIDES, r), (UPLOADS, u)):
        key = f"{tag}-{stream}"
        ident = {**base, "event_id": f"{key}-id"}
        near_limit = {**ident, "padding": "x" * (MAX_RECORD_BYTES - len(_json(ident)) - 20)}
        cases += [
            ("invalid UTF-8", stream, b"\xff\xfe\xfa not UTF-8 " + key.encode()),
            ("empty bytes", stream, b""),
            ("truncated JSON", stream, _json(ident)[:-7]),
            ("JSON scalar", stream, f'"{key}"'.encode()),
            ("JSON number", stream, f"{len(key)}".encode() + b" "),
            ("JSON array", stream, _json([ident])),
            ("JSON null", stream, b"null" + b" " * len(stream)),
            ("10k-deep nesting", stream, b"[" * 10_000 + key.encode() + b"]" * 10_000),
            ("NaN literal", stream, _json(ident).replace(b'"occurred_at"', b'"nan": NaN, "x"')),
            (
                "Infinity literal",
                stream,
                _json({k: v for k, v in ident.items() if k != "VendorID" and k != "uploader_id"})[
                    :-1
                ]
                + b', "infinity": Infinity}',
            ),
            ("unknown event_type", stream, _json({**ident, "event_type": "scooter"})),
            ("schema_version 2", stream, _json({**ident, "schema_version": 2})),
            ("schema_version 1.0", stream, _json({**ident, "schema_version": 1.0})),
            ("schema_version missing", stream, _json(_without(ident, "schema_version"))),
            ("missing event_id", stream, _json(_without(ident, "event_id") | {"k": key})),
            ("unknown field", stream, _json({**ident, "surge_multiplier": 1.5})),
            (
                "event time in year 1",
                stream,
                _json({**ident, "occurred_at": "0001-01-01T00:00:00Z"}),
            ),
            ("event time in 9999", stream, _json({**ident, "occurred_at": "9999-01-01T00:00:00Z"})),
            ("just over the size limit", stream, _json(near_limit) + b" " * 64),
            ("900 KB record", stream, _json({**ident, "padding": "p" * 900_000})),
        ]
        # a valid-looking record just under the limit: refused by its field limits, not its size
        cases.append(("just under the size limit", stream, _json(near_limit)))
    cases += [
        ("wrong type", RIDES, _json({**r, "event_id": f"{tag}-wt", "trip_distance": "far"})),
        ("wrong type", UPLOADS, _json({**u, "event_id": f"{tag}-wt", "tags": "cats"})),
        ("a ride on uploads", UPLOADS, _json({**r, "event_id": f"{tag}-ride-on-uploads"})),
        ("an upload on rides", RIDES, _json({**u, "event_id": f"{tag}-upload-on-rides"})),
    ]
    return [
        Hostile(name, stream, f"{tag}-{index}", payload)
        for index, (name, stream, payload) in enumerate(cases)
    ]


def _without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != name}
