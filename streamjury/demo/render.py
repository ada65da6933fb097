"""Shows a demo summary: a rich table in a terminal, aligned plain lines otherwise, or JSON.

The rows are built once, so the table and the plain lines always say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console
from rich.table import Table

from streamjury.demo.summary import Summary

Rows = list[tuple[str, str]]
LABEL_WIDTH = 14


def summary_rows(summary: Summary) -> Rows:
    """(label, value) pairs, in reading order."""
    account = summary.decisions
    events = ", ".join(f"{kind}s {n:,}" for kind, n in summary.events.items())
    outcomes = ", ".join(f"{outcome} {n:,}" for outcome, n in summary.outcomes.items()) or "none"
    return [
        (
            "events in",
            f"{sum(summary.events.values()):,} ({events}) + {summary.malformed} malformed",
        ),
        ("verdicts", f"{summary.verdicts:,}"),
        ("decisions", f"{account.records:,} for {len(account.current):,} events: {outcomes}"),
        ("incomplete", f"{summary.incomplete:,} (a timeout left them without an answer)"),
        ("partial", f"{summary.partial:,} (decided before every check reported: early removals)"),
        ("amendments", f"{summary.amendments:,} (current decision is a revision > 1)"),
        ("dead letters", _dead_letters(summary)),
        ("throughput", _throughput(summary)),
        ("latency", _latency(summary)),
        ("result", summary.headline),
    ]


def _dead_letters(summary: Summary) -> str:
    letters = summary.dead_letters
    if letters.missing or letters.unexpected:
        return (
            f"{letters.records:,} ({letters.missing:,} expected ones missing, "
            f"{letters.unexpected:,} unexpected)"
        )
    if summary.malformed:
        return f"{letters.records:,} (each malformed record, from every consumer of its stream)"
    return f"{letters.records:,}"


def _throughput(summary: Summary) -> str:
    if summary.throughput is None or summary.elapsed_s is None:
        return "-"
    samples = summary.latency.samples if summary.latency else 0
    return (
        f"{summary.throughput:,.0f} events/s ({samples:,} events, first publish to last "
        f"decision in {summary.elapsed_s:.2f} s)"
    )


def _latency(summary: Summary) -> str:
    latency = summary.latency
    if latency is None:
        return "-"
    return (
        f"p50 {latency.p50_ms:,.0f} ms, p95 {latency.p95_ms:,.0f} ms, "
        f"p99 {latency.p99_ms:,.0f} ms, max {latency.max_ms:,.0f} ms "
        "(occurred_at to first decision's decided_at, one machine's wall clock)"
    )


def render_plain(summary: Summary, out: TextIO) -> None:
    for label, value in summary_rows(summary):
        out.write(f"{label:<{LABEL_WIDTH}}{value}\n")


def render_table(summary: Summary, console: Console) -> None:
    table = Table(title="streamjury demo", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(summary):
        style = "" if label != "result" else ("green" if summary.ok else "bold red")
        table.add_row(label, value, style=style)
    console.print(table)


def render_json(summary: Summary, out: TextIO, run: Mapping[str, str] | None = None) -> None:
    """The summary as one JSON object; ``run`` (backend, directory...) goes under ``"run"``."""
    json.dump({"run": dict(run or {}), **summary.as_dict()}, out, indent=2)
    out.write("\n")
