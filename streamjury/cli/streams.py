"""``streamjury streams``: create the pipeline's streams up front, and list what exists.

Services create what they need on start too; a one-shot ``create`` lets deployments fix partition
counts before any service runs (the compose file's initialiser does this).
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import click

from streamjury.cli.options import backend_options, build_settings
from streamjury.settings import BackendSettings
from streamjury.streams.factory import open_backend
from streamjury.streams.names import (
    COMPACTED_STREAMS,
    MODEL_LIFECYCLE_STREAMS,
    PIPELINE_STREAMS,
    StreamNames,
)


@click.group()
def streams() -> None:
    """Create and list the pipeline's streams."""


@streams.command()
@backend_options
def create(backend_flags: dict[str, Any]) -> None:
    """Create every stream (pipeline, shadow verdicts, decision changelog compacted) if missing."""
    settings = build_settings(BackendSettings, backend_flags)
    names = StreamNames(settings.stream_prefix)
    with closing(open_backend(settings)) as backend:
        plain = (*PIPELINE_STREAMS, *MODEL_LIFECYCLE_STREAMS)
        backend.ensure_streams([names.physical(name) for name in plain])
        backend.ensure_streams([names.physical(name) for name in COMPACTED_STREAMS], compacted=True)
        for name in (*plain, *COMPACTED_STREAMS):
            physical = names.physical(name)
            click.echo(f"{physical}\t{len(backend.partitions(physical))} partitions")


@streams.command(name="list")
@backend_options
def list_streams(backend_flags: dict[str, Any]) -> None:
    """List the streams that exist, with their partition counts and end offsets."""
    settings = build_settings(BackendSettings, backend_flags)
    with closing(open_backend(settings)) as backend:
        for name in sorted(backend.list_streams()):
            ends = backend.end_offsets(name)
            line = f"{name}\t{len(ends)} partitions"
            if settings.backend != "kinesis":  # Kinesis positions are sequence numbers, not counts
                line += f"\t{sum(ends.values())} records"
            click.echo(line)
