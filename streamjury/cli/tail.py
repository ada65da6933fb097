"""``streamjury tail``: print a stream's records as they arrive, without joining any group.

A terminal gets one readable line per record; a pipe gets the raw values as JSON Lines.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import Any, BinaryIO, Protocol

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from producers.recorder import Bound, record_stream
from streamjury.cli.options import STREAM_NAME, backend_options, build_settings
from streamjury.settings import BackendSettings
from streamjury.streams.base import Backend, Record, StartFrom
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)

POLL_BATCH = 500
POLL_TIMEOUT_S = 1.0
SUMMARY_WIDTH = 120


@click.command()
@click.argument("stream", metavar="STREAM", type=STREAM_NAME)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record, not at the end.")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep waiting for new records, or stop at the current end.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N records.")
@click.option(
    "--pretty/--raw",
    default=None,
    help="One readable line per record, or the raw values.  [default: pretty in a terminal]",
)
@backend_options
def tail(
    stream: str,
    from_beginning: bool,
    follow: bool,
    limit: int | None,
    pretty: bool | None,
    backend_flags: dict[str, Any],
) -> None:
    """Print the records of STREAM as they arrive (Ctrl-C stops). Never commits anything."""
    settings = build_settings(BackendSettings, backend_flags)
    physical = StreamNames(settings.stream_prefix).physical(stream)
    show_pretty = sys.stdout.isatty() if pretty is None else pretty
    sink: Sink = PrettySink(Console(highlight=False)) if show_pretty else RawSink(sys.stdout.buffer)
    with ExitStack() as stack:
        stack.enter_context(quiet_broken_pipe())
        backend = stack.enter_context(closing(open_backend(settings)))
        if follow:
            batches = follow_records(backend, physical, from_beginning, limit)
        else:
            start = Bound("earliest" if from_beginning else "latest")
            records = record_stream(backend, physical, stream, start, Bound("latest"))
            batches = _batched(itertools.islice(records, limit))
        for batch in batches:
            sink.write(batch)


def follow_records(
    backend: Backend, stream: str, from_beginning: bool, limit: int | None
) -> Iterator[list[Record]]:
    """Batches from a group-less reader, in arrival order, until ``limit`` records (or forever)."""
    start = StartFrom.earliest() if from_beginning else StartFrom.latest()
    remaining = limit
    with closing(backend.consumer([stream], group=None, start=start)) as consumer:
        while remaining is None or remaining > 0:
            wanted = POLL_BATCH if remaining is None else min(POLL_BATCH, remaining)
            batch = consumer.poll(max_records=wanted, timeout=POLL_TIMEOUT_S)
            if batch:
                if remaining is not None:
                    remaining -= len(batch)
                yield batch


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """When whoever reads stdout goes away (``| head``), stop quietly, as Unix tools do."""
    try:
        yield
    except BrokenPipeError:
        # Python would fail again flushing stdout at exit: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None


class Sink(Protocol):
    def write(self, records: list[Record]) -> None: ...


class RawSink:
    """Each value as one line, flushed per batch so a pipe sees records as they arrive."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, records: list[Record]) -> None:
        for record in records:
            self._out.write(record.value)
            self._out.write(b"\n")
        self._out.flush()


class PrettySink:
    """One concise line per record: ``partition@offset  key  summary``."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def write(self, records: list[Record]) -> None:
        for record in records:
            self._console.print(pretty_line(record), soft_wrap=True)


def pretty_line(record: Record) -> Text:
    return Text.assemble(
        (f"{record.partition}@{record.offset}", "dim"),
        "  ",
        (record.key, "cyan"),
        "  ",
        Text.from_markup(summarise(record.value)),
    )


def summarise(value: bytes) -> str:
    """A short rich-markup summary of a record value: what kind of record it is and its gist."""
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return escape(_truncate(value.decode("utf-8", errors="replace")))
    if data.get("event_type") == "ride" and "fare_amount" in data:
        return escape(
            f"ride {data.get('PULocationID')}→{data.get('DOLocationID')} "
            f"{data.get('trip_distance')} mi ${data.get('fare_amount')} "
            f"at {data.get('occurred_at')}"
        )
    if data.get("event_type") == "upload" and "title" in data:
        return escape(
            f"upload {_truncate(str(data.get('title')), 60)!r} by {data.get('uploader_id')} "
            f"at {data.get('occurred_at')}"
        )
    if "check" in data and "model_name" in data:
        result = ", ".join(
            f"{name}={data[name]}"
            for name in ("score", "value", "label")
            if data.get(name) is not None
        )
        return f"[magenta]verdict[/] {escape(str(data['check']))} {escape(result)}"
    if "outcome" in data and "decided_at" in data:
        reasons = "; ".join(str(reason) for reason in data.get("reasons") or [])
        text = f"{data['outcome']} (revision {data.get('revision')}) {_truncate(reasons, 80)}"
        return f"[green]decision[/] {escape(text)}"
    if "stage" in data and "reason" in data:
        text = f"from {data['stage']}: {_truncate(str(data['reason']), 100)}"
        return f"[red]dead letter[/] {escape(text)}"
    return escape(_truncate(value.decode("utf-8", errors="replace")))


def _truncate(text: str, width: int = SUMMARY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _batched(records: Iterable[Record], size: int = POLL_BATCH) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
