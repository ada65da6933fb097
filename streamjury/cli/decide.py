"""``streamjury decide``: run the decision service, joining verdicts into decisions under a policy.

Stops cleanly on SIGTERM or Ctrl-C after writing and committing the batch in hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from streamjury.cli.options import backend_options, build_settings
from streamjury.ops.options import metrics_port_option


@click.command()
@click.option(
    "--deadletter-max-bytes",
    type=click.IntRange(min=4_096),
    default=None,
    help="Largest dead letter written; a bigger original is cut to fit (sha256 and length kept).  "
    "[env var: STREAMJURY_DEADLETTER_MAX_BYTES; default: the backend's limit]",
)
@backend_options
@click.option(
    "--policy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Decision policy TOML.  [env var: STREAMJURY_DECISION_POLICY; default: the shipped one]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Most verdicts per micro-batch.  [env var: STREAMJURY_DECISION_BATCH_SIZE; default: 2000]",
)
@click.option(
    "--batch-timeout-ms",
    type=click.IntRange(min=1),
    default=None,
    help="Longest wait for a batch.  [env var: STREAMJURY_DECISION_BATCH_TIMEOUT_MS; default: 200]",
)
@click.option(
    "--retention-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds a decided event is kept for duplicates and late verdicts.  "
    "[env var: STREAMJURY_DECISION_RETENTION_S; default: 3600]",
)
@click.option(
    "--group",
    default=None,
    help="Consumer group.  [env var: STREAMJURY_DECISION_GROUP; default: PREFIXstreamjury-decision]",
)
@click.option(
    "--instance",
    type=click.IntRange(min=0),
    default=None,
    help="This instance's slot, stable across restarts (the writer id comes from it).  "
    "[env var: STREAMJURY_DECISION_INSTANCE; default: 0]",
)
@click.option("--check", is_flag=True, help="Validate the policy, print it, and exit.")
@metrics_port_option
def decide(
    backend_flags: dict[str, Any],
    policy: Path | None,
    batch_size: int | None,
    batch_timeout_ms: int | None,
    retention_s: float | None,
    group: str | None,
    instance: int | None,
    check: bool,
    deadletter_max_bytes: int | None,
    http_port: int | None,
) -> None:
    """Join the verdicts of each event into one decision under a policy, until SIGTERM or Ctrl-C."""
    from decision.app import run_decision_service
    from decision.policy import load_policy
    from decision.settings import DecisionSettings

    settings = build_settings(
        DecisionSettings,
        backend_flags,
        policy=policy,
        batch_size=batch_size,
        batch_timeout_ms=batch_timeout_ms,
        retention_s=retention_s,
        group=group,
        instance=instance,
        deadletter_max_bytes=deadletter_max_bytes,
        http_port=http_port,
    )
    if check:
        loaded = load_policy(settings.policy)
        click.echo(f"policy ok: {settings.policy or 'the default policy'}")
        click.echo(loaded.model_dump_json(indent=2))
        return
    run_decision_service(settings)
