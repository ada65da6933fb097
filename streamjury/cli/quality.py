"""``streamjury quality``: live MAE of every model version and arm, exported on /metrics.

Joins ``verdicts`` and ``verdicts-shadow`` with the ``outcomes`` stream (``produce rides
--with-outcomes``); stops cleanly on SIGTERM or Ctrl-C after committing the batch in hand.
"""

from __future__ import annotations

from typing import Any

import click

from streamjury.cli.options import backend_options, build_settings
from streamjury.ops.options import metrics_port_option


@click.command()
@backend_options
@click.option(
    "--window-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds an event waits for its outcome (or prediction); redeliveries within it are "
    "counted once.  [env var: STREAMJURY_QUALITY_WINDOW_S; default: 7200]",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Most events held in the window.  [env var: STREAMJURY_QUALITY_MAX_EVENTS; "
    "default: 500000]",
)
@click.option(
    "--group",
    default=None,
    help="Consumer group.  [env var: STREAMJURY_QUALITY_GROUP; default: PREFIXstreamjury-quality]",
)
@click.option(
    "--start",
    type=click.Choice(["earliest", "latest"]),
    default=None,
    help="Where a new group begins.  [env var: STREAMJURY_QUALITY_START; default: earliest]",
)
@metrics_port_option
def quality(
    backend_flags: dict[str, Any],
    window_s: float | None,
    max_events: int | None,
    group: str | None,
    start: str | None,
    http_port: int | None,
) -> None:
    """Join verdicts with ride outcomes: live MAE per check, model version and arm on /metrics."""
    from decision.quality.app import serve
    from decision.quality.settings import QualitySettings

    settings = build_settings(
        QualitySettings,
        backend_flags,
        window_s=window_s,
        max_events=max_events,
        group=group,
        start=start,
        http_port=http_port,
    )
    serve(settings)
