"""``streamjury models compare CHECK``: shadow, canary arms and live quality, as tables and PNGs.

Reads ``verdicts-shadow`` (each record pairs the two verdicts of one event), ``verdicts`` and
``outcomes`` without a group.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from decision.model_compare import (
    BANDS,
    ArmFigures,
    Comparison,
    LiveQuality,
    compare,
    live_quality,
    per_arm,
)
from decision.policy import load_policy
from models.plot import arms_png, confusion_png, scatter_png
from models.shadow import ShadowVerdict
from streamjury.cli.options import backend_options, build_settings
from streamjury.errors import ConfigError
from streamjury.schemas import RideCompleted, Verdict, utc_now
from streamjury.settings import BackendSettings
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

PIPED_WIDTH = 160


@click.command("compare")
@click.argument("check")
@click.option(
    "--since-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Only pairs written in the last this many seconds.  [default: all]",
)
@click.option(
    "--policy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Decision policy TOML for 'decisions changed'.  [default: the shipped one]",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a PNG: live vs shadow values, or the confusion of policy bands; with a "
    "canary, the arms' policy bands and live MAE (to FILE, or FILE-arms.png beside a shadow's).",
)
@backend_options
def compare_command(
    check: str,
    since_s: float | None,
    policy: Path | None,
    plot: Path | None,
    backend_flags: dict[str, Any],
) -> None:
    """Agreement of CHECK's live and shadow models over the paired verdicts in verdicts-shadow."""
    settings = build_settings(BackendSettings, backend_flags)
    names = StreamNames(settings.stream_prefix)
    rules = load_policy(policy)
    cutoff = utc_now() - timedelta(seconds=since_s) if since_s is not None else None
    pairs = [
        ShadowVerdict.model_validate_json(raw) for raw in _read(settings, names.verdicts_shadow)
    ]
    pairs = [p for p in pairs if p.check == check and _within(p.live, cutoff)]
    verdicts = [
        v
        for v in map(Verdict.model_validate_json, _read(settings, names.verdicts))
        if v.check == check and _within(v, cutoff)
    ]
    arms = per_arm(verdicts, rules)
    outcomes = [RideCompleted.model_validate_json(raw) for raw in _read(settings, names.outcomes)]
    quality = live_quality(check, verdicts, pairs, outcomes)
    if not pairs and not arms and not quality:
        raise ConfigError(
            f"no shadow, canary or ground-truth figures for {check!r}: run 'streamjury consume "
            f"{check} --shadow ALIAS|VERSION' or '--canary ALIAS|VERSION', or produce rides "
            "--with-outcomes"
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)  # versions are never cut
    if arms:
        console.print(_arms_table(check, arms))
    if quality:
        console.print(_quality_table(check, quality))
    if arms and plot is not None:
        arms_plot = plot.with_name(f"{plot.stem}-arms{plot.suffix}") if pairs else plot
        _plot_arms(arms, quality, arms_plot)
        console.print(f"arms plot written to {arms_plot}")
    if not pairs:
        return
    result = compare(check, pairs, rules)
    console.print(_table(result))
    if plot is not None:
        if result.kind == "regression":
            live = [p.live.value or 0.0 for p in pairs]
            scatter_png(live, [p.shadow.value or 0.0 for p in pairs], plot)
        else:
            labels = [b for b in BANDS if any(b in key for key in result.confusion)]
            confusion_png(
                result.confusion, labels or sorted({k[0] for k in result.confusion}), plot
            )
        console.print(f"plot written to {plot}")


def _plot_arms(arms: list[ArmFigures], quality: list[LiveQuality], path: Path) -> None:
    """Each arm's policy bands (known bands in decision order) and each role's live MAE."""
    seen = {band for arm in arms for band in arm.bands}
    order = [b for b in BANDS if b in seen] + sorted(seen - set(BANDS))
    bands = [(arm.arm, arm.bands) for arm in arms]
    arms_png(bands, order, [(row.role, row.mae) for row in quality], path)


def _read(settings: BackendSettings, stream: str) -> list[bytes]:
    """Every record of ``stream`` (none if it does not exist), read without a group."""
    backend = open_backend(settings)
    try:
        if stream not in backend.list_streams():
            return []
        return [
            record.value
            for partition in backend.partitions(stream)
            for record in backend.read_partition(stream, partition)
        ]
    finally:
        backend.close()


def _within(verdict: Verdict, cutoff: datetime | None) -> bool:
    return cutoff is None or verdict.produced_at >= cutoff


def _quality_table(check: str, rows: list[LiveQuality]) -> Table:
    table = Table(title=f"{check}: live quality against ride_completed outcomes")
    for header in ("model", "version", "events", "MAE"):
        right = header in ("events", "MAE")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(row.role, row.version, str(row.events), f"{row.mae:.4f}")
    return table


def _arms_table(check: str, arms: list[ArmFigures]) -> Table:
    table = Table(title=f"{check}: canary arms")
    for header in ("arm", "events", "version", "mean prediction", "policy bands"):
        table.add_column(
            header, justify="right" if header in ("events", "mean prediction") else "left"
        )
    for arm in arms:
        bands = ", ".join(f"{name} {count}" for name, count in sorted(arm.bands.items()))
        table.add_row(
            arm.arm, str(arm.events), ", ".join(arm.versions), f"{arm.mean_prediction:.4f}", bands
        )
    return table


def _table(result: Comparison) -> Table:
    table = Table(title=f"{result.check}: live vs shadow over {result.pairs} events")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("live version", ", ".join(result.live_versions)),
        ("shadow version", ", ".join(result.shadow_versions)),
        ("live predict (ms/event)", f"{result.live_predict_ms:.4f}"),
        ("shadow predict (ms/event)", f"{result.shadow_predict_ms:.4f}"),
        ("decisions changed", f"{result.decisions_changed} of {result.pairs}"),
    ]
    if result.agreement is not None:
        rows.append(("agreement (policy bands)", f"{result.agreement:.1%}"))
        for (live, shadow), count in sorted(result.confusion.items()):
            rows.append((f"  live {live} / shadow {shadow}", str(count)))
    if result.mean_abs_diff is not None and result.mean_signed_diff is not None:
        rows.append(("mean |shadow - live|", f"{result.mean_abs_diff:.4f}"))
        rows.append(("mean (shadow - live)", f"{result.mean_signed_diff:+.4f}"))
    for name, value in rows:
        table.add_row(name, value)
    return table
