"""``streamjury consume CHECK [CHECK...]``: run model checks over their input stream until stopped.

Flags map onto ``ConsumerSettings``; the service itself is assembled in ``consumers.app``.
"""

from __future__ import annotations

from typing import Any

import click

from streamjury.cli.options import backend_options, build_settings, canary_options
from streamjury.ops.options import metrics_port_option


@click.command()
@click.argument("checks", nargs=-1, required=True, metavar="CHECK [CHECK...]")
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
    help="Consumer group.  [env var: STREAMJURY_CONSUMER_GROUP; default: PREFIXstreamjury-CHECK, "
    "PREFIXstreamjury-CHECK+CHECK for checks run together]",
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
@click.option(
    "--model-alias",
    default=None,
    metavar="ALIAS|VERSION",
    help="Which model version to serve; an alias is followed as it moves.  "
    "[env var: STREAMJURY_MODEL_ALIAS; default: production]",
)
@click.option(
    "--model-poll-s",
    type=click.FloatRange(min=0),
    default=None,
    help="How often the alias is re-read (0: only on SIGHUP).  "
    "[env var: STREAMJURY_MODEL_POLL_S; default: 30]",
)
@click.option(
    "--shadow",
    default=None,
    metavar="ALIAS|VERSION",
    help="Also score every batch with this model; its verdicts go to verdicts-shadow and decide "
    "nothing.  [env var: STREAMJURY_CONSUMER_SHADOW]",
)
@canary_options
@click.option(
    "--deadletter-max-bytes",
    type=click.IntRange(min=4_096),
    default=None,
    help="Largest dead letter written; a bigger original is cut to fit (sha256 and length kept).  "
    "[env var: STREAMJURY_DEADLETTER_MAX_BYTES; default: the backend's limit]",
)
@backend_options
@metrics_port_option
def consume(
    checks: tuple[str, ...],
    batch_size: int | None,
    batch_timeout_ms: int | None,
    group: str | None,
    from_beginning: bool | None,
    models: str | None,
    model_alias: str | None,
    model_poll_s: float | None,
    shadow: str | None,
    canary: str | None,
    canary_percent: float | None,
    deadletter_max_bytes: int | None,
    backend_flags: dict[str, Any],
    http_port: int | None,
) -> None:
    """Score CHECK's input stream in micro-batches, writing verdicts and dead letters.

    Several checks of one stream (``consume duration tip``) run in one process: each event is
    read and parsed once, each check still writes its own verdicts, and the process commits as
    one consumer group (PREFIXstreamjury-duration+tip).

    Runs until SIGINT or SIGTERM, then finishes its batch, commits and exits 0. When the
    model alias moves (or on SIGHUP) the new version is verified and swapped in between batches.
    """
    from consumers.app import serve
    from consumers.registry import get_check
    from consumers.settings import ConsumerSettings

    for check in checks:
        get_check(check)  # an unknown check is a one-line error naming the known ones
    start = None if from_beginning is None else ("earliest" if from_beginning else "latest")
    settings = build_settings(
        ConsumerSettings,
        backend_flags,
        check=",".join(checks),
        batch_size=batch_size,
        batch_timeout_ms=batch_timeout_ms,
        group=group,
        start=start,
        models=models,
        model_alias=model_alias,
        model_poll_s=model_poll_s,
        shadow=shadow,
        canary=canary,
        canary_percent=canary_percent,
        deadletter_max_bytes=deadletter_max_bytes,
        http_port=http_port,
    )
    serve(settings)
