"""bench.stage_latency: each first decision is split at its last verdict; the GC timing runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.stage_latency import stages
from models.store import ensure_trained
from streamjury.schemas import Decision, SourcePosition, Verdict

START = datetime(2026, 1, 1, tzinfo=UTC)


def verdict(check: str, after_ms: int) -> Verdict:
    return Verdict(
        event_id="up-1",
        event_type="upload",
        check=check,
        model_name=check,
        model_version="1",
        score=0.1,
        event_occurred_at=START,
        produced_at=START + timedelta(milliseconds=after_ms),
        source=SourcePosition(stream="uploads", partition="0", offset=0),
    )


def decision(revision: int, decided_ms: int, *verdicts: Verdict) -> Decision:
    return Decision(
        event_id="up-1",
        event_type="upload",
        outcome="approve",
        verdicts=list(verdicts),
        revision=revision,
        event_occurred_at=START,
        decided_at=START + timedelta(milliseconds=decided_ms),
    )


def test_the_first_decision_is_split_at_its_last_verdict() -> None:
    first = decision(1, 90, verdict("nsfw", 20), verdict("copyright", 50))
    amended = decision(2, 500, verdict("nsfw", 20), verdict("copyright", 400))

    found = stages([first, amended])

    assert found == {
        "event -> last verdict": [50.0],
        "last verdict -> decided": [40.0],
        "total": [90.0],
    }


@pytest.mark.slow
def test_the_gc_timing_runs_in_a_child_with_a_model_loaded(tmp_path: Path) -> None:
    ensure_trained(tmp_path, rows=300)
    command = [sys.executable, "-m", "bench.stage_latency", "--models", str(tmp_path)]

    done = subprocess.run(
        [*command, "--gc-check", "duration"], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("duration ")
    assert "after gc.freeze()" in done.stdout
