"""``streamjury tail``: raw values for pipes, readable lines on request, never a commit."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from streamjury.cli.tail import summarise
from streamjury.schemas import DeadLetter, Decision, SourcePosition, Verdict
from streamjury.streams.local import LocalBackend
from tests.unit.cli.conftest import Run
from tests.unit.cli.support import REPO, SAMPLES

RIDES = SAMPLES / "rides.jsonl"
T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def test_no_follow_from_the_beginning_prints_every_value_then_stops(run: Run) -> None:
    run("produce", "--file", str(RIDES))

    result = run("tail", "rides", "--from-beginning", "--no-follow")

    assert result.code == 0, result.err
    assert result.out.encode() == RIDES.read_bytes()


def test_no_follow_from_the_end_prints_nothing(run: Run) -> None:
    run("produce", "--file", str(RIDES))

    result = run("tail", "rides", "--no-follow")

    assert result.code == 0, result.err
    assert result.out == ""


def test_limit_stops_after_that_many_records(run: Run) -> None:
    run("produce", "--file", str(RIDES))

    result = run("tail", "rides", "--from-beginning", "--no-follow", "--limit", "7")

    assert result.out.encode() == b"".join(RIDES.read_bytes().splitlines(keepends=True)[:7])


def test_following_with_a_limit_returns_once_it_has_enough(run: Run) -> None:
    run("produce", "--file", str(RIDES))

    result = run("tail", "rides", "--from-beginning", "--limit", "12")

    assert result.code == 0, result.err
    lines = result.out.encode().splitlines()
    assert len(lines) == 12
    assert set(lines) <= set(RIDES.read_bytes().splitlines())


def test_pretty_lines_show_position_key_and_a_summary(run: Run) -> None:
    run("produce", "--file", str(RIDES), "--count", "3")

    result = run("tail", "rides", "--from-beginning", "--no-follow", "--pretty")

    lines = result.out.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert re.match(r"^\d+@\d+  ride-\d+-\d+  ride \d+→\d+ [\d.]+ mi \$[\d.]+ at ", line), line


def test_tail_leaves_committed_positions_alone(run: Run, local_dir: Path) -> None:
    run("produce", "--file", str(RIDES))
    backend = LocalBackend(local_dir)
    member = backend.consumer(["rides"], group="tip")
    member.commit(member.poll(max_records=40, timeout=5))
    member.close()
    before = backend.committed("rides", "tip")

    run("tail", "rides", "--from-beginning", "--limit", "100")
    run("tail", "rides", "--from-beginning", "--no-follow")

    assert before
    assert backend.committed("rides", "tip") == before
    backend.close()


def test_summaries_name_the_kind_of_record() -> None:
    source = SourcePosition(stream="rides", partition="0", offset=1)
    verdict = Verdict(
        event_id="ride-1",
        event_type="ride",
        check="duration",
        model_name="m",
        model_version="1",
        value=12.5,
        event_occurred_at=T0,
        produced_at=T0,
        source=source,
    )
    decision = Decision(
        event_id="upload-1",
        event_type="upload",
        outcome="review",
        reasons=["nsfw 0.7"],
        event_occurred_at=T0,
        decided_at=T0,
    )
    dead = DeadLetter.of(b"junk", "not an event", "consumer:duration", source)

    assert summarise(verdict.to_bytes()).endswith("duration value=12.5")
    assert "review (revision 1) nsfw 0.7" in summarise(decision.to_bytes())
    assert "from consumer:duration: not an event" in summarise(dead.to_bytes())
    assert summarise(b"\xffnot json") == "\ufffdnot json"


def test_a_reader_that_goes_away_ends_tail_quietly(run: Run, local_dir: Path) -> None:
    run("produce", "--file", str(RIDES))  # about 90 KB: more than a pipe buffer holds
    command = [sys.executable, "-m", "streamjury.cli.main", "tail", "rides", "--from-beginning"]

    with subprocess.Popen(
        [*command, "--no-follow", "--local-dir", str(local_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)

    assert first == RIDES.read_bytes().splitlines(keepends=True)[0]
    assert code == 0, errors
    assert "Traceback" not in errors
