"""``streamjury consume CHECK``: run one model check over its input stream until stopped.

Flags map onto ``ConsumerSettings``; the service itself is assembled in ``consumers.app``.
"""

from __future__ import annotations

from typing import Any

import click

from streamjury.cli.options import backend_options, build_settings
from streamjury.ops.options import metrics_port_option


@click.command()
@click.argument("check")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Most records scored in one model call.  [env var: STREAMJURY_CONSUMER_BATCH_SIZE; default: 500]",
)
@click.option(
    "--batch-timeout-ms",
    type=click.IntRange(min=1),
    default=None,
    help="How long a batch waits to fill.  [env var: STREAMJURY_CONSUMER_BATCH_TIMEOUT_MS; default: 50]",
)
@click.option(
    "--group",
    default=None,
    help="Consumer group.  [env var: STREAMJURY_CONSUMER_GROUP; default: streamjury-CHECK]",
)
@click.option(
    "--from-beginning/--from-latest",
    "from_beginning",
    default=None,
    help="Where a new group starts; a known group resumes.  [env var: STREAMJURY_CONSUMER_START; "
    "default: --from-beginning]",
)
@click.option(
    "--models",
    default=None,
    metavar="DIR|s3://BUCKET/PREFIX",
    help="Trained models.  [env var: STREAMJURY_MODELS; default: .streamjury/models]",
)
@backend_options
@metrics_port_option
def consume(
    check: str,
    batch_size: int | None,
    batch_timeout_ms: int | None,
    group: str | None,
    from_beginning: bool | None,
    models: str | None,
    backend_flags: dict[str, Any],
    http_port: int | None,
) -> None:
    """Score CHECK's input stream in micro-batches, writing verdicts and dead letters.

    Runs until SIGINT or SIGTERM, then finishes its batch, commits and exits 0.
    """
    from consumers.app import serve
    from consumers.registry import get_check
    from consumers.settings import ConsumerSettings

    get_check(check)  # an unknown check is a one-line error naming the known ones
    start = None if from_beginning is None else ("earliest" if from_beginning else "latest")
    settings = build_settings(
        ConsumerSettings,
        backend_flags,
        check=check,
        batch_size=batch_size,
        batch_timeout_ms=batch_timeout_ms,
        group=group,
        start=start,
        models=models,
        http_port=http_port,
    )
    serve(settings)
