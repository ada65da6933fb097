"""``streamjury dev``: run the real servers the tests use, by hand, without Docker.

A thin front for the dev-server modules, so users need not know their script paths.
"""

from __future__ import annotations

import sys

import click

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.group()
def dev() -> None:
    """Local development servers: a pinned Apache Kafka broker and kinesis-local."""


@dev.command(context_settings=PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kafka(args: tuple[str, ...]) -> None:
    """Apache Kafka from Maven Central jars: `install`, or `start [--port N]` in the foreground."""
    from streamjury.devservers.kafka import main

    sys.exit(main(list(args) or ["--help"]))


@dev.command(context_settings=PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kinesis(args: tuple[str, ...]) -> None:
    """kinesis-local from npm: `install`, or `start [--port N]` in the foreground."""
    from streamjury.devservers.kinesis import main

    sys.exit(main(list(args) or ["--help"]))
