"""``streamjury train`` and ``streamjury models list``: build the five models, see what is deployed.

Both print rich tables; errors a user can fix are one line (the root command formats them).
"""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from models.manifest import Manifest
from models.store import ModelSettings, ModelStore
from models.train import DEFAULT_ROWS, MIN_ROWS, train_all
from streamjury.settings import with_overrides

SHA_PREFIX = 12
PIPED_WIDTH = 140


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NYC TLC trip records (.parquet or .csv) for the ride models.  [default: synthetic]",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write the models into.  [env var: STREAMJURY_MODELS; "
    "default: .streamjury/models]",
)
@click.option(
    "--rows",
    type=click.IntRange(min=MIN_ROWS),
    default=DEFAULT_ROWS,
    show_default=True,
    help="Rows per data set (rides, uploads), a fifth of them held out for the metrics.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def train(data: Path | None, out: Path | None, rows: int, seed: int) -> None:
    """Train the duration, tip, copyright, nsfw and violence models and save them with manifests."""
    settings = with_overrides(ModelSettings, models=str(out) if out is not None else None)
    store = ModelStore.from_settings(settings)
    if not store.is_local:
        raise click.UsageError(
            f"models are trained into a local folder, not {settings.models}: pass --out DIR"
        )
    started = time.perf_counter()
    manifests = train_all(Path(settings.models), rows=rows, seed=seed, tlc_data=data)
    elapsed = time.perf_counter() - started
    console = _console()
    console.print(_metrics_table(manifests, title=f"Models trained into {settings.models}"))
    console.print(f"{len(manifests)} models in {elapsed:.1f} s")


@click.group()
def models() -> None:
    """Inspect trained models."""


@models.command("list")
@click.option(
    "--models",
    "location",
    default=None,
    metavar="DIR|s3://BUCKET/PREFIX",
    help="Where the models are.  [env var: STREAMJURY_MODELS; default: .streamjury/models]",
)
def list_models(location: str | None) -> None:
    """Show each model's version, creation time, headline metric and artifact hash."""
    settings = with_overrides(ModelSettings, models=location)
    manifests = ModelStore.from_settings(settings).manifests()
    console = _console()
    if not manifests:
        console.print(f"No models in {settings.models}: run 'streamjury train'.")
        return
    console.print(_inventory_table(manifests, title=f"Models in {settings.models}"))


def _metrics_table(manifests: list[Manifest], title: str) -> Table:
    table = Table(title=title)
    for header in ("model", "version", "metric", "held-out", "baseline", "train rows"):
        table.add_column(header, justify="right" if header != "model" else "left")
    for manifest in manifests:
        metric, value, baseline = _headline(manifest)
        table.add_row(
            manifest.name, manifest.version, metric, value, baseline, str(manifest.training_rows)
        )
    return table


def _inventory_table(manifests: list[Manifest], title: str) -> Table:
    table = Table(title=title)
    for header in ("model", "version", "created (UTC)", "metric (baseline)", "sha256"):
        table.add_column(header, no_wrap=header != "metric (baseline)")
    for manifest in manifests:
        metric, value, baseline = _headline(manifest)
        table.add_row(
            manifest.name,
            manifest.version,
            manifest.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            f"{metric} {value} ({baseline})",
            manifest.sha256[:SHA_PREFIX],
        )
    return table


def _console() -> Console:
    """A terminal's own width; piped output wide enough that versions are never cut."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


def _headline(manifest: Manifest) -> tuple[str, str, str]:
    """Name, held-out value and baseline of the manifest's first metric, formatted."""
    metric = manifest.headline
    if metric is None:
        return ("-", "-", "-")
    return (metric.name, f"{metric.value:.3f}", f"{metric.baseline:.3f}")
