"""Events from a JSON Lines file: one event per line, checked before anything is sent.

Each valid line is sent as its own bytes, not re-serialised, so what lands on a stream is
exactly what the file holds; invalid lines are reported by line number with the reason.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from producers.publisher import Outgoing
from streamjury.errors import ConfigError, InvalidEvent, StreamjuryError
from streamjury.schemas import RideEvent, UploadEvent, parse_event
from streamjury.streams.base import OutRecord
from streamjury.streams.names import STREAM_OF_EVENT_TYPE, StreamNames

log = logging.getLogger(__name__)

REJECTS_SUFFIX = ".rejects.jsonl"
LISTED_REJECTS = 20
"""How many invalid lines an error message lists before it says 'and N more'."""


@dataclass(frozen=True, slots=True)
class EventLine:
    """A valid line: its 1-based number, its exact bytes (no line ending) and the parsed event."""

    number: int
    raw: bytes
    event: RideEvent | UploadEvent


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """An invalid line and why ``parse_event`` refused it."""

    number: int
    reason: str
    raw: bytes

    def to_json_line(self) -> bytes:
        """The rejects-file form: the line as text (undecodable bytes replaced) and the reason."""
        original = self.raw.decode("utf-8", errors="replace")
        entry = {"line": self.number, "reason": self.reason, "original": original}
        return json.dumps(entry, ensure_ascii=False).encode() + b"\n"


@dataclass(slots=True)
class FileCheck:
    """The result of checking a whole file: valid events per type, and every invalid line."""

    path: Path
    valid: Counter[str] = field(default_factory=Counter)
    rejects: list[RejectedLine] = field(default_factory=list)

    @property
    def valid_total(self) -> int:
        return sum(self.valid.values())


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Every non-blank line with its 1-based number, without its line ending (LF or CRLF)."""
    try:
        with path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                raw = line.removesuffix(b"\n").removesuffix(b"\r")
                if raw.strip():
                    yield number, raw
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def check_line(number: int, raw: bytes) -> EventLine | RejectedLine:
    try:
        return EventLine(number, raw, parse_event(raw))
    except InvalidEvent as exc:
        return RejectedLine(number, exc.reason, raw)


def check_file(path: Path) -> FileCheck:
    """Validate every line without keeping the events, so big files need little memory."""
    result = FileCheck(path)
    for number, raw in numbered_lines(path):
        checked = check_line(number, raw)
        if isinstance(checked, EventLine):
            result.valid[checked.event.event_type] += 1
        else:
            result.rejects.append(checked)
    log.debug("%s: %d valid lines, %d invalid", path, result.valid_total, len(result.rejects))
    return result


def valid_events(path: Path, known_rejects: Collection[int] = ()) -> Iterator[EventLine]:
    """The valid lines of a file already checked; ``known_rejects`` are the line numbers to skip.

    Lines are validated again as they are read: a line that turns invalid since the check
    means the file changed underneath us, and it is never sent.
    """
    for number, raw in numbered_lines(path):
        checked = check_line(number, raw)
        if isinstance(checked, EventLine):
            yield checked
        elif number not in known_rejects:
            raise StreamjuryError(
                f"{path} changed while it was being sent: line {number} is now invalid "
                f"({checked.reason}); events before it were sent"
            )


def to_outgoing(lines: Iterable[EventLine], names: StreamNames) -> Iterator[Outgoing]:
    """Each event to its type's stream, keyed by ``event_id``, as the line's exact bytes."""
    for line in lines:
        stream = names.physical(STREAM_OF_EVENT_TYPE[line.event.event_type])
        record = OutRecord(key=line.event.event_id, value=line.raw)
        yield Outgoing(stream, record, line.event.occurred_at)


def describe_rejects(rejects: Sequence[RejectedLine], limit: int = LISTED_REJECTS) -> list[str]:
    """Readable lines ``line N: reason`` for the first ``limit`` rejects, then 'and N more'."""
    listed = [f"line {reject.number}: {reject.reason}" for reject in rejects[:limit]]
    if len(rejects) > limit:
        listed.append(f"and {len(rejects) - limit} more")
    return listed


def default_rejects_path(path: Path) -> Path:
    return path.with_name(path.name + REJECTS_SUFFIX)


def write_rejects(path: Path, rejects: Iterable[RejectedLine]) -> None:
    """One JSON object per invalid line: ``{"line": N, "reason": ..., "original": ...}``."""
    try:
        with path.open("wb") as file:
            for reject in rejects:
                file.write(reject.to_json_line())
    except OSError as exc:
        raise ConfigError(f"cannot write the rejects file {path}: {exc.strerror or exc}") from exc
