"""``streamjury demo``: the whole pipeline, as separate processes, on any backend, in one command.

Flags map onto ``DemoSettings``; the run itself is ``streamjury.demo.run``.
"""

from __future__ import annotations

import logging
import secrets
import sys
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from streamjury.cli.options import backend_options, build_settings
from streamjury.errors import ConfigError
from streamjury.schemas import describe_validation_error

if TYPE_CHECKING:
    from streamjury.demo.run import RunPlan
    from streamjury.demo.summary import Summary


@click.command()
@click.option(
    "--count",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Rides to publish, and as many uploads.  [env var: STREAMJURY_DEMO_COUNT; default: 2000]",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help="Events per second over both streams; 0 is as fast as possible.  "
    "[env var: STREAMJURY_DEMO_RATE; default: 0]",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the synthetic events.  [env var: STREAMJURY_DEMO_SEED; default: 0]",
)
@click.option(
    "--bad",
    type=click.IntRange(0, 10_000),
    default=None,
    help="Malformed records to mix in, to show dead-lettering.  "
    "[env var: STREAMJURY_DEMO_BAD; default: 5]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds to wait, after the last publish, for every decision.  "
    "[env var: STREAMJURY_DEMO_TIMEOUT_S; default: 120]",
)
@click.option(
    "--models",
    default=None,
    metavar="DIR|s3://BUCKET/PREFIX",
    help="Trained models, trained there first if missing.  [env var: STREAMJURY_MODELS; "
    "default: .streamjury/models]",
)
@click.option(
    "--co-locate",
    "co_locate",
    is_flag=True,
    default=None,
    help="Run each stream's checks in one consumer process (duration+tip, "
    "copyright+nsfw+violence) instead of one process per check.  "
    "[env var: STREAMJURY_DEMO_CO_LOCATE]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@backend_options
def demo(
    count: int | None,
    rate: float | None,
    seed: int | None,
    bad: int | None,
    timeout: float | None,
    models: str | None,
    co_locate: bool | None,
    as_json: bool,
    backend_flags: dict[str, Any],
) -> None:
    """Run the whole pipeline once and account for every event.

    Trains the models if they are missing; starts the five consumers (two with --co-locate) and
    the decision service as separate processes (in a fresh .streamjury/demo-* directory on the local backend, under a
    unique stream prefix on Kafka or Kinesis); publishes COUNT rides and COUNT uploads plus BAD
    malformed records; waits for every decision; stops the services; prints a summary.

    Exits 0 only if every event got exactly one current decision. Ctrl-C stops every service.
    """
    from streamjury.clock import SystemClock
    from streamjury.demo.errors import DemoFailed
    from streamjury.demo.run import plan_run, run_demo
    from streamjury.demo.settings import DemoSettings
    from streamjury.demo.signals import stop_signals_interrupt

    try:
        settings = build_settings(
            DemoSettings,
            backend_flags,
            count=count,
            rate=rate,
            seed=seed,
            bad=bad,
            timeout_s=timeout,
            models=models,
            co_locate=co_locate,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid demo settings: {describe_validation_error(exc)}") from exc
    clock = SystemClock()
    plan = plan_run(settings, clock.now(), secrets.token_hex(2))
    log_level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    with stop_signals_interrupt():
        summary = run_demo(plan, clock, _say, log_level=log_level)
    _show(summary, plan, as_json)
    if not summary.ok:
        raise DemoFailed(summary.headline)


def _say(line: str) -> None:
    click.echo(f"demo: {line}", err=True)


def _show(summary: Summary, plan: RunPlan, as_json: bool) -> None:
    from rich.console import Console

    from streamjury.demo.render import render_json, render_plain, render_table

    if as_json:
        run = {
            "backend": plan.settings.backend,
            "directory": str(plan.run_dir),
            "stream_prefix": plan.settings.stream_prefix,
        }
        render_json(summary, sys.stdout, run)
    elif sys.stdout.isatty():
        render_table(summary, Console())
    else:
        render_plain(summary, sys.stdout)
