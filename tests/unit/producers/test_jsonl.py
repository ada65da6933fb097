"""Events files: every line is checked, invalid ones are reported by number, valid ones are sent
as their exact bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from producers.jsonl import (
    EventLine,
    check_file,
    describe_rejects,
    to_outgoing,
    valid_events,
    write_rejects,
)
from streamjury.errors import StreamjuryError
from streamjury.schemas import parse_event
from streamjury.streams.names import StreamNames

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "tests" / "data"


@pytest.fixture
def ride_line() -> bytes:
    return (SAMPLES / "rides.jsonl").read_bytes().splitlines()[0]


@pytest.fixture
def upload_line() -> bytes:
    return (SAMPLES / "uploads.jsonl").read_bytes().splitlines()[0]


def write_lines(path: Path, *lines: bytes, ending: bytes = b"\n") -> Path:
    path.write_bytes(b"".join(line + ending for line in lines))
    return path


def test_check_reports_invalid_lines_by_number_with_the_parse_reason(
    tmp_path: Path, ride_line: bytes
) -> None:
    wrong_vendor = ride_line.replace(b'"VendorID":', b'"VendorID":9', 1)
    path = write_lines(tmp_path / "events.jsonl", ride_line, b"not json", wrong_vendor)

    checked = check_file(path)

    assert [(reject.number, reject.raw) for reject in checked.rejects] == [
        (2, b"not json"),
        (3, wrong_vendor),
    ]
    assert "Invalid JSON" in checked.rejects[0].reason
    assert "VendorID" in checked.rejects[1].reason
    assert checked.valid == {"ride": 1}


def test_line_numbers_count_blank_lines_which_are_skipped(tmp_path: Path, ride_line: bytes) -> None:
    path = write_lines(tmp_path / "events.jsonl", b"", ride_line, b"   ", b"{}")

    checked = check_file(path)

    assert checked.valid_total == 1
    assert [reject.number for reject in checked.rejects] == [4]


def test_valid_lines_keep_their_exact_bytes(tmp_path: Path, ride_line: bytes) -> None:
    data = json.loads(ride_line)
    unusual = json.dumps(dict(reversed(data.items()))).encode()  # spaces, reversed key order
    path = write_lines(tmp_path / "events.jsonl", unusual)

    lines = list(valid_events(path))

    assert unusual != ride_line
    assert [line.raw for line in lines] == [unusual]
    assert lines[0].event == parse_event(ride_line)


def test_crlf_line_endings_are_not_part_of_the_line(tmp_path: Path, ride_line: bytes) -> None:
    path = write_lines(tmp_path / "events.jsonl", ride_line, ride_line, ending=b"\r\n")

    assert [line.raw for line in valid_events(path)] == [ride_line, ride_line]


def test_a_line_that_turns_invalid_after_the_check_is_never_sent(
    tmp_path: Path, ride_line: bytes
) -> None:
    path = write_lines(tmp_path / "events.jsonl", ride_line, ride_line)
    checked = check_file(path)
    write_lines(path, ride_line, b"{broken")

    lines = valid_events(path, {reject.number for reject in checked.rejects})

    assert next(lines).number == 1
    with pytest.raises(StreamjuryError, match="changed while it was being sent: line 2"):
        next(lines)


def test_known_rejects_are_skipped(tmp_path: Path, ride_line: bytes) -> None:
    path = write_lines(tmp_path / "events.jsonl", b"{broken", ride_line)
    checked = check_file(path)

    lines = list(valid_events(path, {reject.number for reject in checked.rejects}))

    assert [line.number for line in lines] == [2]


def test_listing_of_rejects_stops_at_the_limit_and_counts_the_rest(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "events.jsonl", *[b"[]"] * 25)

    listing = describe_rejects(check_file(path).rejects, limit=20)

    assert len(listing) == 21
    assert listing[0].startswith("line 1: ")
    assert listing[19].startswith("line 20: ")
    assert listing[-1] == "and 5 more"


def test_rejects_file_holds_line_number_reason_and_original(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "events.jsonl", b'{"event_type": "ride"}', b"\xff oops")
    target = tmp_path / "rejects.jsonl"

    write_rejects(target, check_file(path).rejects)

    entries = [json.loads(line) for line in target.read_bytes().splitlines()]
    assert [entry["line"] for entry in entries] == [1, 2]
    assert entries[0]["original"] == '{"event_type": "ride"}'
    assert entries[1]["original"] == "\ufffd oops"
    assert all(entry["reason"] for entry in entries)


def test_events_go_to_their_type_stream_keyed_by_event_id(
    tmp_path: Path, ride_line: bytes, upload_line: bytes
) -> None:
    path = write_lines(tmp_path / "events.jsonl", upload_line, ride_line)
    names = StreamNames(prefix="test.")

    sent = list(to_outgoing(valid_events(path), names))

    assert [item.stream for item in sent] == ["test.uploads", "test.rides"]
    assert [item.record.key for item in sent] == [
        parse_event(upload_line).event_id,
        parse_event(ride_line).event_id,
    ]
    assert [item.record.value for item in sent] == [upload_line, ride_line]
    assert sent[1].occurred_at == parse_event(ride_line).occurred_at


@pytest.mark.parametrize("name", ["rides.jsonl", "uploads.jsonl"])
def test_sample_streams_are_valid_events_in_event_time_order(name: str) -> None:
    lines = list(valid_events(SAMPLES / name))

    assert check_file(SAMPLES / name).rejects == []
    assert len(lines) >= 200
    assert all(isinstance(line, EventLine) for line in lines)
    times = [line.event.occurred_at for line in lines]
    assert times == sorted(times)


def test_sample_streams_are_what_the_seeded_generator_makes() -> None:
    script = REPO / "scripts" / "make-sample-streams"

    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
