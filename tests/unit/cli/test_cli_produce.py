"""``streamjury produce``: synthetic events, events files, invalid lines and the summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streamjury.schemas import parse_event
from tests.unit.cli.conftest import Run
from tests.unit.cli.support import SAMPLES, stored

SUMMARY = re.compile(
    r"^sent (?P<n>[\d,]+) events \(rides=(?P<rides>[\d,]+), uploads=(?P<uploads>[\d,]+)\) "
    r"in \d+\.\d\d s, ([\d,]+|-) events/s$",
    re.MULTILINE,
)


def sample_lines(name: str) -> list[bytes]:
    return (SAMPLES / name).read_bytes().splitlines()


def test_produce_rides_sends_count_valid_rides_keyed_by_event_id(run: Run, local_dir: Path) -> None:
    result = run("produce", "rides", "--count", "120", "--batch-size", "50")

    assert result.code == 0, result.err
    records = stored(local_dir, "rides")
    assert len(records) == 120
    events = [parse_event(record.value) for record in records]
    assert all(event.event_type == "ride" for event in events)
    assert [record.key for record in records] == [event.event_id for event in events]


def test_the_same_seed_sends_the_same_events(run: Run, local_dir: Path) -> None:
    run("produce", "uploads", "--count", "5", "--seed", "7")
    run("produce", "uploads", "--count", "5", "--seed", "7")

    events = [parse_event(record.value) for record in stored(local_dir, "uploads")]
    ids = sorted(event.event_id for event in events)
    assert ids == sorted([f"upload-7-{n}" for n in range(5)] * 2)


def test_produce_prints_a_one_line_summary(run: Run) -> None:
    result = run("produce", "uploads", "--count", "30")

    match = SUMMARY.search(result.err)
    assert match is not None, result.err
    assert (match["n"], match["rides"], match["uploads"]) == ("30", "0", "30")


def test_a_file_is_sent_byte_for_byte(run: Run, local_dir: Path, tmp_path: Path) -> None:
    line = json.dumps(json.loads(sample_lines("rides.jsonl")[0]), indent=None).encode()
    events = tmp_path / "events.jsonl"
    events.write_bytes(line + b"\n")

    result = run("produce", "--file", str(events))

    assert result.code == 0, result.err
    assert [record.value for record in stored(local_dir, "rides")] == [line]


def test_a_mixed_file_sends_each_event_to_its_stream(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    rides, uploads = sample_lines("rides.jsonl")[:30], sample_lines("uploads.jsonl")[:20]
    mixed = [line for pair in zip(rides, uploads, strict=False) for line in pair] + rides[20:]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(mixed) + b"\n")

    result = run("produce", "--file", str(events))

    assert result.code == 0, result.err
    assert sorted(r.value for r in stored(local_dir, "rides")) == sorted(rides)
    assert sorted(r.value for r in stored(local_dir, "uploads")) == sorted(uploads)
    match = SUMMARY.search(result.err)
    assert match is not None
    assert (match["rides"], match["uploads"]) == ("30", "20")


def test_count_limits_a_file(run: Run, local_dir: Path) -> None:
    result = run("produce", "--file", str(SAMPLES / "rides.jsonl"), "--count", "10")

    assert result.code == 0, result.err
    assert sorted(r.value for r in stored(local_dir, "rides")) == sorted(
        sample_lines("rides.jsonl")[:10]
    )


def test_a_file_with_invalid_lines_is_refused_and_nothing_is_sent(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    good = sample_lines("rides.jsonl")[:3]
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"\n".join([good[0], b"{not json", good[1], b'{"event_type":"ride"}', good[2]])
    )

    result = run("produce", "--file", str(events))

    assert result.code == 2
    assert len(result.error_lines) == 1
    assert re.search(r"^  line 2: .*Invalid JSON", result.err, re.MULTILINE)
    assert re.search(r"^  line 4: .*event_id: Field required", result.err, re.MULTILINE)
    assert "Traceback" not in result.err
    assert stored(local_dir, "rides") == []


def test_the_listing_of_invalid_lines_is_capped(run: Run, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"[]\n" * 50)

    result = run("produce", "--file", str(events))

    listed = [line for line in result.err.splitlines() if line.startswith("  line ")]
    assert len(listed) == 20
    assert "  and 30 more" in result.err.splitlines()


def test_skip_invalid_sends_the_valid_lines_and_writes_the_rejects(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    good = sample_lines("uploads.jsonl")[:2]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([good[0], b"oops", good[1]]) + b"\n")

    result = run("produce", "--file", str(events), "--skip-invalid")

    assert result.code == 0, result.err
    assert sorted(r.value for r in stored(local_dir, "uploads")) == sorted(good)
    rejects = [json.loads(line) for line in (tmp_path / "events.jsonl.rejects.jsonl").open()]
    assert [(entry["line"], entry["original"]) for entry in rejects] == [(2, "oops")]
    assert "Invalid JSON" in rejects[0]["reason"]


def test_rejects_go_where_asked(run: Run, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")
    target = tmp_path / "elsewhere.jsonl"

    result = run("produce", "--file", str(events), "--skip-invalid", "--rejects", str(target))

    assert result.code == 0, result.err
    assert json.loads(target.read_bytes())["line"] == 1
    assert not (tmp_path / "events.jsonl.rejects.jsonl").exists()


def test_flags_win_over_environment_variables(
    run: Run, local_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_PRODUCE_COUNT", "3")
    monkeypatch.setenv("STREAMJURY_PRODUCE_SEED", "5")

    run("produce", "rides", "--seed", "9")

    ids = sorted(parse_event(r.value).event_id for r in stored(local_dir, "rides"))
    assert ids == sorted(f"ride-9-{n}" for n in range(3))
