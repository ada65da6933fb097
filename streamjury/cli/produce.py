"""``streamjury produce``: publish seeded synthetic events, or the events of a JSON Lines file.

Also holds what ``replay`` shares with it: loading an events file, the progress display, and
running a publisher against the configured backend.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from producers.jsonl import (
    FileCheck,
    check_file,
    default_rejects_path,
    describe_rejects,
    to_outgoing,
    valid_events,
    write_rejects,
)
from producers.publisher import (
    BatchCallback,
    Outgoing,
    Pacing,
    Publisher,
    PublishStats,
    SteadyRate,
    Unpaced,
)
from producers.settings import ProducerSettings
from streamjury.cli.options import backend_options, build_settings
from streamjury.clock import Clock, SystemClock
from streamjury.errors import ConfigError
from streamjury.settings import BackendSettings
from streamjury.streams.base import OutRecord
from streamjury.streams.factory import open_backend
from streamjury.streams.names import EVENT_STREAMS, OUTCOMES, RIDES, UPLOADS, StreamNames

if TYPE_CHECKING:
    from producers.synthetic import LabelledRide, LabelledUpload

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BackendSettings)

PROGRESS_LOG_INTERVAL_S = 5.0
"""Without a terminal, progress is a log line this often instead of a bar."""


@click.command()
@click.argument("kind", required=False, type=click.Choice([RIDES, UPLOADS]))
@click.option(
    "--file",
    "events_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Send the events of this JSON Lines file instead (rides and uploads may be mixed).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="How many events to send.  [env var: STREAMJURY_PRODUCE_COUNT; default: 1000, or a whole file]",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help="Events per second, steady; 0 is as fast as possible.  [env var: STREAMJURY_PRODUCE_RATE]",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the synthetic generator.  [env var: STREAMJURY_PRODUCE_SEED; default: 0]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Records per send and flush.  [env var: STREAMJURY_PRODUCE_BATCH_SIZE; default: 500]",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Send a file's valid lines and write the invalid ones to the rejects file.",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where --skip-invalid writes invalid lines.  [default: FILE.rejects.jsonl]",
)
@click.option(
    "--with-outcomes",
    is_flag=True,
    help="With rides: also publish each ride's ride_completed (actual duration and tip) to the "
    "outcomes stream, at the ride's end in event time.",
)
@backend_options
def produce(
    kind: str | None,
    events_file: Path | None,
    count: int | None,
    rate: float | None,
    seed: int | None,
    batch_size: int | None,
    skip_invalid: bool,
    rejects_path: Path | None,
    with_outcomes: bool,
    backend_flags: dict[str, Any],
) -> None:
    """Publish seeded synthetic rides or uploads, or the events of a JSON Lines --file.

    Events go to their stream (rides or uploads) keyed by event_id. A file with invalid lines
    is refused before anything is sent, unless --skip-invalid.
    """
    if (kind is None) == (events_file is None):
        raise click.UsageError("say what to send: rides, uploads, or --file FILE (one of them)")
    if events_file is None and (skip_invalid or rejects_path is not None):
        raise click.UsageError("--skip-invalid and --rejects only apply to --file")
    if events_file is not None and seed is not None:
        raise click.UsageError("--seed only applies to synthetic events, not to --file")
    if with_outcomes and kind != RIDES:
        raise click.UsageError("--with-outcomes only applies to rides")
    if rejects_path is not None and not skip_invalid:
        raise click.UsageError("--rejects needs --skip-invalid")
    clock = SystemClock()
    settings = build_settings(
        ProducerSettings, backend_flags, seed=seed, count=count, rate=rate, batch_size=batch_size
    )
    if events_file is None:
        assert kind is not None
        total = settings.count
        items = synthetic_events(
            kind, settings.seed, total, clock, StreamNames(settings.stream_prefix), with_outcomes
        )
        label = f"{kind} (seed {settings.seed})"
    else:
        # Only the --count flag limits a file: a STREAMJURY_PRODUCE_COUNT meant for synthetic runs won't.
        items, total = file_events(
            events_file, count, skip_invalid, rejects_path, StreamNames(settings.stream_prefix)
        )
        label = events_file.name
    stats = publish(settings, clock, items, steady_pacing(settings), total=total, label=label)
    click.echo(summary(stats, StreamNames(settings.stream_prefix)), err=True)


def steady_pacing(settings: ProducerSettings) -> Pacing:
    if settings.rate > 0:
        return SteadyRate(settings.rate, burst=settings.batch_size)
    return Unpaced()


def synthetic_events(
    kind: str,
    seed: int,
    count: int,
    clock: Clock,
    names: StreamNames,
    with_outcomes: bool = False,
) -> Iterator[Outgoing]:
    """``count`` generated events of ``kind``, starting now, drawn lazily (and with
    ``with_outcomes``, each ride's outcome to ``outcomes`` once its end time comes)."""
    from producers.synthetic import iter_rides, iter_uploads  # numpy: only when generating

    if with_outcomes:
        from producers.synthetic import with_outcomes as merged

        for item in merged(itertools.islice(iter_rides(seed, clock.now()), count)):
            target = names.outcomes if item.event_type == "ride_completed" else names.rides
            yield Outgoing(target, OutRecord(item.event_id, item.to_bytes()), item.occurred_at)
        return

    generated: Iterator[LabelledRide | LabelledUpload] = (
        iter_rides(seed, clock.now()) if kind == RIDES else iter_uploads(seed, clock.now())
    )
    stream = names.physical(kind)
    for labelled in itertools.islice(generated, count):
        event = labelled.event
        yield Outgoing(stream, OutRecord(event.event_id, event.to_bytes()), event.occurred_at)


def file_events(
    path: Path,
    count: int | None,
    skip_invalid: bool,
    rejects_path: Path | None,
    names: StreamNames,
) -> tuple[Iterator[Outgoing], int]:
    """The events of a checked file (at most ``count``) and how many there will be."""
    checked = load_event_file(path, skip_invalid, rejects_path)
    total = checked.valid_total if count is None else min(checked.valid_total, count)
    known_rejects = {reject.number for reject in checked.rejects}
    lines = itertools.islice(valid_events(path, known_rejects), total)
    return to_outgoing(lines, names), total


def load_event_file(path: Path, skip_invalid: bool, rejects_path: Path | None) -> FileCheck:
    """Check every line; refuse the file if any is invalid, unless told to skip them."""
    checked = check_file(path)
    if not checked.rejects:
        return checked
    if not skip_invalid:
        listing = "".join(f"\n  {line}" for line in describe_rejects(checked.rejects))
        raise ConfigError(
            f"{path}: {len(checked.rejects)} invalid line(s), nothing was sent "
            f"(--skip-invalid sends the valid ones):{listing}"
        )
    target = rejects_path or default_rejects_path(path)
    write_rejects(target, checked.rejects)
    click.echo(f"skipping {len(checked.rejects)} invalid line(s): written to {target}", err=True)
    return checked


def publish(
    settings: ProducerSettings,
    clock: Clock,
    items: Iterable[Outgoing],
    pacing: Pacing,
    *,
    total: int | None,
    label: str,
) -> PublishStats:
    """Send ``items`` to the configured backend in batches, showing progress; close everything."""
    with ExitStack() as stack:
        backend = stack.enter_context(closing(open_backend(settings)))
        backend.ensure_streams(
            StreamNames(settings.stream_prefix).physical(name)
            for name in (*EVENT_STREAMS, OUTCOMES)
        )
        producer = stack.enter_context(closing(backend.producer()))
        on_batch = stack.enter_context(progress_display(total, label))
        publisher = Publisher(producer, clock, batch_size=settings.batch_size, on_batch=on_batch)
        return publisher.publish(items, pacing)


@contextmanager
def progress_display(total: int | None, label: str) -> Iterator[BatchCallback]:
    """A live bar with throughput when stderr is a terminal; an occasional log line otherwise."""
    if not sys.stderr.isatty():
        yield _ProgressLog(label)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[throughput]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total, throughput="")

        def update(stats: PublishStats) -> None:
            throughput = f"{stats.events_per_second:,.0f} events/s" if stats.seconds > 0 else ""
            progress.update(task, completed=stats.sent, throughput=throughput)

        yield update


class _ProgressLog:
    """Logs progress at most every PROGRESS_LOG_INTERVAL_S seconds of the run."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._next_at = PROGRESS_LOG_INTERVAL_S

    def __call__(self, stats: PublishStats) -> None:
        if stats.seconds >= self._next_at:
            self._next_at = stats.seconds + PROGRESS_LOG_INTERVAL_S
            log.info(
                "%s: sent %d events, %.0f events/s",
                self._label,
                stats.sent,
                stats.events_per_second,
            )


def summary(stats: PublishStats, names: StreamNames) -> str:
    """``sent N events (rides=…, uploads=…) in X s, Y events/s``."""
    per_stream = {names.logical(stream): sent for stream, sent in stats.per_stream.items()}
    shown = (*EVENT_STREAMS, OUTCOMES) if OUTCOMES in per_stream else EVENT_STREAMS
    counts = ", ".join(f"{name}={per_stream.get(name, 0):,}" for name in shown)
    speed = f"{stats.events_per_second:,.0f}" if stats.seconds > 0 else "-"
    return f"sent {stats.sent:,} events ({counts}) in {stats.seconds:.2f} s, {speed} events/s"
