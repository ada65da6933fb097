"""``streamjury train`` and ``streamjury models list|promote|rollback``: build versions of the five
models, see them with their aliases, move an alias. Rich tables; errors are one line.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from models.aliases import DEFAULT_ALIAS, AliasBook
from models.aliasing import AliasChange
from models.manifest import VERSIONS_FOLDER, Manifest
from models.mlflow_blobs import MLFLOW_DEFAULT, is_mlflow
from models.store import ModelSettings, ModelStore
from models.train import DEFAULT_ROWS, MIN_ROWS, train_all
from streamjury.cli.compare import compare_command
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
@click.option(
    "--promote",
    is_flag=True,
    help="Also point the production alias at the new versions (live consumers switch to them).",
)
@click.option(
    "--mlflow",
    "to_mlflow",
    is_flag=True,
    help="Register the new versions in the MLflow registry at MLFLOW_TRACKING_URI "
    "(STREAMJURY_MODELS=mlflow:PREFIX names them PREFIX<model>; default mlflow:).",
)
def train(
    data: Path | None, out: Path | None, rows: int, seed: int, promote: bool, to_mlflow: bool
) -> None:
    """Train the duration, tip, copyright, nsfw and violence models as new versions.

    The production alias stays where it is (unless --promote, or a model had no version yet):
    try a version with 'streamjury consume CHECK --model-alias VERSION', then promote it.
    """
    if to_mlflow:
        _train_into_mlflow(data, out, rows, seed, promote)
        return
    settings = with_overrides(ModelSettings, models=str(out) if out is not None else None)
    store = ModelStore.from_settings(settings)
    if not store.is_local:
        raise click.UsageError(
            f"models are trained into a local folder, not {settings.models}: pass --out DIR"
            + (" (or --mlflow to register them)" if is_mlflow(settings.models) else "")
        )
    started = time.perf_counter()
    manifests = train_all(
        Path(settings.models), rows=rows, seed=seed, tlc_data=data, promote=promote
    )
    elapsed = time.perf_counter() - started
    console = _console()
    console.print(_metrics_table(manifests, title=f"Models trained into {settings.models}"))
    console.print(f"{len(manifests)} models in {elapsed:.1f} s")


def _train_into_mlflow(
    data: Path | None, out: Path | None, rows: int, seed: int, promote: bool
) -> None:
    """Train into a local folder (``--out`` or a temporary one), then register every version."""
    settings = ModelSettings()
    location = settings.models if is_mlflow(settings.models) else MLFLOW_DEFAULT
    store = ModelStore(location)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="streamjury-train-") as staging:
        folder = out if out is not None else Path(staging)
        manifests = train_all(folder, rows=rows, seed=seed, tlc_data=data)
        for manifest in manifests:
            store.upload_version(folder / manifest.name / VERSIONS_FOLDER / manifest.version)
            if promote:
                store.promote(manifest.name, manifest.version)
            else:
                store.adopt_first(manifest.name, manifest.version)
    elapsed = time.perf_counter() - started
    console = _console()
    console.print(_metrics_table(manifests, title=f"Models registered in {location}"))
    console.print(f"{len(manifests)} models in {elapsed:.1f} s")


@click.group()
def models() -> None:
    """Inspect model versions and move their aliases."""


LOCATION = click.option(
    "--models",
    "location",
    default=None,
    metavar="DIR|s3://BUCKET/PREFIX|mlflow:[PREFIX]",
    help="Where the models are.  [env var: STREAMJURY_MODELS; default: .streamjury/models]",
)
ALIAS = click.option(
    "--alias",
    default=DEFAULT_ALIAS,
    show_default=True,
    help="The alias to move; consumers serving it switch between batches.",
)


models.add_command(compare_command)


@models.command("list")
@LOCATION
def list_models(location: str | None) -> None:
    """Show every version of each model: aliases, creation time, held-out metric, artifact hash."""
    settings = with_overrides(ModelSettings, models=location)
    store = ModelStore.from_settings(settings)
    rows = [(name, store.versions(name), store.aliases(name)) for name in store.names()]
    console = _console()
    if not rows:
        console.print(f"No models in {settings.models}: run 'streamjury train'.")
        return
    console.print(_inventory_table(rows, title=f"Models in {settings.models}"))


@models.command()
@click.argument("name")
@click.argument("version")
@ALIAS
@LOCATION
def promote(name: str, version: str, alias: str, location: str | None) -> None:
    """Point NAME's alias at VERSION, after checking VERSION's artifact against its manifest."""
    store = ModelStore.from_settings(with_overrides(ModelSettings, models=location))
    _print_change(store.promote(name, version, alias))


@models.command()
@click.argument("name")
@ALIAS
@LOCATION
def rollback(name: str, alias: str, location: str | None) -> None:
    """Point NAME's alias back at the version it named before its last move."""
    store = ModelStore.from_settings(with_overrides(ModelSettings, models=location))
    _print_change(store.rollback(name, alias))


def _print_change(change: AliasChange) -> None:
    was = f" (was {change.before})" if change.before and change.before != change.after else ""
    _console().print(f"{change.name}: {change.alias} -> {change.after}{was}")


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


def _inventory_table(rows: list[tuple[str, list[Manifest], AliasBook]], title: str) -> Table:
    table = Table(title=title)
    for header in ("model", "version", "aliases", "created (UTC)", "metric (baseline)", "sha256"):
        table.add_column(header, no_wrap=header != "metric (baseline)")
    for name, versions, book in rows:
        legacy_live = book.target(DEFAULT_ALIAS) is None
        for manifest in reversed(versions):  # newest first
            metric, value, baseline = _headline(manifest)
            aliases = book.pointing_at(manifest.version)
            if legacy_live and manifest is versions[-1] and not aliases:
                aliases = [f"({DEFAULT_ALIAS})"]
            table.add_row(
                name,
                manifest.version,
                ", ".join(aliases),
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
