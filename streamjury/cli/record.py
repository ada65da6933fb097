"""``streamjury record`` copies a slice of a stream to JSON Lines; ``replay`` publishes one back.

Recording reads without a consumer group, so no service's committed position moves; a recorded
events file is also valid input for ``produce --file``.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, BinaryIO

import click

from producers.recorder import BOUND_HELP, Bound, atomic_output, record_stream, write_values
from producers.replay import SPEED_HELP, EventTimePacing, parse_speed
from producers.settings import ProducerSettings
from streamjury.cli.options import STREAM_NAME, backend_options, build_settings
from streamjury.cli.produce import file_events, publish, summary
from streamjury.cli.tail import quiet_broken_pipe
from streamjury.clock import Clock, SystemClock
from streamjury.errors import ConfigError
from streamjury.settings import BackendSettings
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

log = logging.getLogger(__name__)

STDOUT = "-"


class SpeedType(click.ParamType):
    """``--speed``: a positive factor, or ``max`` (converted to None: no pacing)."""

    name = "speed"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        try:
            return parse_speed(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.argument("stream", metavar="STREAM", type=STREAM_NAME)
@click.option(
    "--from",
    "from_",
    default="earliest",
    show_default=True,
    metavar="POSITION",
    help=f"First record: {BOUND_HELP}. Times without an offset are UTC.",
)
@click.option(
    "--to",
    default="latest",
    show_default=True,
    metavar="POSITION",
    help="Stop before this position (same forms as --from); 'latest' is the end right now.",
)
@click.option(
    "-o",
    "--output",
    default=STDOUT,
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write, one record value per line; '-' is stdout.",
)
@backend_options
def record(stream: str, from_: str, to: str, output: Path, backend_flags: dict[str, Any]) -> None:
    """Copy the records of STREAM between --from and --to to a JSON Lines file.

    Reads without a consumer group (nothing is committed) and stops at the end offsets of the
    moment it starts. Records keep each partition's order and are merged across partitions by
    time (event time for rides and uploads), so a recorded events file replays faithfully.
    """
    clock = SystemClock()
    start = _bound(from_, "--from", clock)
    stop = _bound(to, "--to", clock)
    settings = build_settings(BackendSettings, backend_flags)
    physical = StreamNames(settings.stream_prefix).physical(stream)
    with ExitStack() as stack:
        backend = stack.enter_context(closing(open_backend(settings)))
        records = record_stream(backend, physical, stream, start, stop)
        if str(output) == STDOUT:
            stack.enter_context(quiet_broken_pipe())
            out: BinaryIO = sys.stdout.buffer
        else:
            out = stack.enter_context(atomic_output(output))
        written = write_values(records, out)
        out.flush()
    target = "stdout" if str(output) == STDOUT else str(output)
    click.echo(f"recorded {written:,} records of {stream} to {target}", err=True)


@click.command()
@click.argument(
    "events_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--speed",
    type=SpeedType(),
    default="1",
    show_default=True,
    help=f"Replay speed: {SPEED_HELP}.",
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
    help="Send the valid lines and write the invalid ones to the rejects file.",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where --skip-invalid writes invalid lines.  [default: FILE.rejects.jsonl]",
)
@backend_options
def replay(
    events_file: Path,
    speed: float | None,
    batch_size: int | None,
    skip_invalid: bool,
    rejects_path: Path | None,
    backend_flags: dict[str, Any],
) -> None:
    """Publish the events of a recorded FILE again, paced by their occurred_at.

    Each event goes to its stream keyed by event_id, as the line's exact bytes; the gaps between
    events are replayed divided by --speed. A file with invalid lines is refused.
    """
    if rejects_path is not None and not skip_invalid:
        raise click.UsageError("--rejects needs --skip-invalid")
    clock = SystemClock()
    settings = build_settings(ProducerSettings, backend_flags, batch_size=batch_size)
    items, total = file_events(
        events_file, None, skip_invalid, rejects_path, StreamNames(settings.stream_prefix)
    )
    label = f"{events_file.name} at {'max speed' if speed is None else f'{speed:g}x'}"
    stats = publish(settings, clock, items, EventTimePacing(speed), total=total, label=label)
    click.echo(summary(stats, StreamNames(settings.stream_prefix)), err=True)


def _bound(text: str, option: str, clock: Clock) -> Bound:
    try:
        return Bound.parse(text, clock)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from exc
