"""Specification of how the summary is shown: the same rows as plain lines or a table, or JSON."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from streamjury.demo.render import render_json, render_plain, render_table, summary_rows
from streamjury.demo.summary import Published, Summary, summarize
from streamjury.schemas import Decision

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def a_summary(decided: int) -> Summary:
    events = {f"up-{n}": "upload" for n in range(3)}
    decisions = [
        Decision(
            event_id=f"up-{n}",
            event_type="upload",
            outcome="approve",
            event_occurred_at=T0,
            decided_at=T0 + timedelta(milliseconds=250),
        )
        for n in range(decided)
    ]
    return summarize(Published(events, first_publish=T0), decisions, verdicts=9)


def test_plain_lines_are_aligned_labels_ending_with_the_result() -> None:
    out = io.StringIO()

    render_plain(a_summary(decided=3), out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "events in     3 (uploads 3) + 0 malformed"
    assert lines[-1] == "result        ok: every one of 3 events has exactly one current decision"
    assert any(line.startswith("latency       p50 250 ms") for line in lines)


def test_the_table_shows_the_same_rows() -> None:
    console = Console(file=io.StringIO(), width=200)

    render_table(a_summary(decided=2), console)

    text = console.file.getvalue()  # type: ignore[attr-defined]
    for label, value in summary_rows(a_summary(decided=2)):
        assert label in text
        assert value in text


def test_json_carries_the_run_and_the_verdict() -> None:
    out = io.StringIO()

    render_json(a_summary(decided=2), out, {"backend": "local", "directory": "d"})

    data = json.loads(out.getvalue())
    assert data["run"] == {"backend": "local", "directory": "d"}
    assert data["ok"] is False
    assert data["headline"] == "1 of 3 events have no decision (e.g. up-2)"
