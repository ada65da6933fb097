"""``streamjury record`` and ``replay``: slices to files, files back to streams, byte for byte."""

from __future__ import annotations

from pathlib import Path

from streamjury.streams.local import LocalBackend
from tests.unit.cli.conftest import Run
from tests.unit.cli.support import SAMPLES, stored

RIDES = SAMPLES / "rides.jsonl"
UPLOADS = SAMPLES / "uploads.jsonl"


def test_recording_a_produced_file_gives_the_file_back(run: Run, tmp_path: Path) -> None:
    run("produce", "--file", str(RIDES))
    out = tmp_path / "recorded.jsonl"

    result = run("record", "rides", "-o", str(out))

    assert result.code == 0, result.err
    assert out.read_bytes() == RIDES.read_bytes()
    assert "recorded 300 records of rides" in result.err


def test_record_writes_to_stdout_by_default(run: Run) -> None:
    run("produce", "--file", str(UPLOADS), "--count", "5")

    result = run("record", "uploads")

    assert result.code == 0, result.err
    assert result.out.encode() == b"".join(UPLOADS.read_bytes().splitlines(keepends=True)[:5])


def test_record_does_not_move_any_groups_committed_positions(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    run("produce", "--file", str(RIDES))
    backend = LocalBackend(local_dir)
    member = backend.consumer(["rides"], group="duration")
    member.commit(member.poll(max_records=50, timeout=5))
    member.close()
    before = backend.committed("rides", "duration")

    result = run("record", "rides", "-o", str(tmp_path / "out.jsonl"))

    assert result.code == 0, result.err
    assert before  # the group did commit something
    assert backend.committed("rides", "duration") == before
    backend.close()


def test_an_offset_slice_records_only_those_offsets(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    run("produce", "--file", str(RIDES))
    out = tmp_path / "slice.jsonl"

    result = run("record", "rides", "--from", "0:10,2:20", "--to", "0:15,2:22", "-o", str(out))

    assert result.code == 0, result.err
    expected = {
        record.value
        for record in stored(local_dir, "rides")
        if (record.partition == "0" and 10 <= record.offset < 15)
        or (record.partition == "2" and 20 <= record.offset < 22)
    }
    assert out.read_bytes().splitlines() != []
    assert set(out.read_bytes().splitlines()) == expected
    assert len(out.read_bytes().splitlines()) == 7


def test_record_replay_record_round_trip_is_byte_identical(run: Run, tmp_path: Path) -> None:
    run("produce", "--file", str(RIDES))
    first = tmp_path / "first.jsonl"
    run("record", "rides", "--from", "0:7,1:3,2:11,3:0", "-o", str(first))
    second_log = tmp_path / "second-log"

    replayed = run("replay", str(first), "--speed", "max", "--local-dir", str(second_log))
    second = tmp_path / "second.jsonl"
    run("record", "rides", "-o", str(second), "--local-dir", str(second_log))

    assert replayed.code == 0, replayed.err
    assert 0 < len(first.read_bytes().splitlines()) < 300
    assert second.read_bytes() == first.read_bytes()


def test_replay_at_a_speed_sends_every_event_as_is(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    lines = UPLOADS.read_bytes().splitlines()[:40]  # about 2 s of events: 20 ms at 100x
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")

    result = run("replay", str(events), "--speed", "100x")

    assert result.code == 0, result.err
    assert sorted(record.value for record in stored(local_dir, "uploads")) == sorted(lines)
    assert "sent 40 events (rides=0, uploads=40)" in result.err


def test_replay_refuses_a_file_with_invalid_lines(
    run: Run, local_dir: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(RIDES.read_bytes().splitlines()[0] + b"\n{}\n")

    result = run("replay", str(events), "--speed", "max")

    assert result.code == 2
    assert len(result.error_lines) == 1
    assert "  line 2: " in result.err
    assert stored(local_dir, "rides") == []
