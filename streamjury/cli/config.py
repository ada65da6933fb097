"""``streamjury config show|env SERVICE``: the settings a service would run with, secrets masked.

Reads the same pydantic-settings models the services read, from this process' environment, so
``docker compose run --rm duration config show consume`` shows exactly what the container gets.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.table import Table

from streamjury.cli.options import describe_settings_error
from streamjury.errors import ConfigError
from streamjury.masking import mask_settings
from streamjury.ops.envvars import EnvVar, env_vars


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Where a service's settings model lives, and whether it is built for one check."""

    module: str
    name: str
    needs_check: bool = False

    def model(self) -> type[BaseSettings]:
        settings_type = getattr(importlib.import_module(self.module), self.name)
        if not (isinstance(settings_type, type) and issubclass(settings_type, BaseSettings)):
            raise TypeError(f"{self.module}.{self.name} is not a pydantic-settings model")
        return settings_type


SERVICES: dict[str, ServiceSettings] = {
    "consume": ServiceSettings("consumers.settings", "ConsumerSettings", needs_check=True),
    "decide": ServiceSettings("decision.settings", "DecisionSettings"),
    "quality": ServiceSettings("decision.quality.settings", "QualitySettings"),
    "produce": ServiceSettings("producers.settings", "ProducerSettings"),
    "lambda": ServiceSettings("streamjury.cli.lambda_cli", "RunnerSettings", needs_check=True),
    "models": ServiceSettings("models.store", "ModelSettings"),
}
"""The command a setting belongs to -> its settings model."""

CHECK_OPTION = click.option(
    "--check",
    default=None,
    metavar="NAME",
    help="The check, for consume and lambda.  [env var: STREAMJURY_CHECK]",
)
SERVICE_ARGUMENT = click.argument("service", type=click.Choice(list(SERVICES)))


@click.group()
def config() -> None:
    """Inspect the configuration services read from their environment."""


@config.command("show")
@SERVICE_ARGUMENT
@CHECK_OPTION
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table with each value's source, or the settings as one JSON object.",
)
def show(service: str, check: str | None, output: str) -> None:
    """Print the effective settings of SERVICE (env vars over defaults); secrets are masked."""
    spec = SERVICES[service]
    settings = load(spec, check)
    values = mask_settings(settings)
    if output == "json":
        click.echo(json.dumps(values, indent=2, sort_keys=False))
        return
    variables = env_vars(type(settings))
    table = Table(title=f"Effective settings of '{service}'")
    for header in ("setting", "value", "source"):
        table.add_column(header)
    for path, value in flatten(values):
        source = "flag --check" if path == "check" and check is not None else None
        table.add_row(path, _display(value), source or source_of(path, variables, os.environ))
    Console().print(table)


@config.command("env")
@SERVICE_ARGUMENT
def env(service: str) -> None:
    """List the environment variables SERVICE reads, and the setting each one sets."""
    table = Table(title=f"Environment variables of '{service}'")
    for header in ("variable", "setting", "secret"):
        table.add_column(header)
    for var in env_vars(SERVICES[service].model()):
        table.add_row(var.name, var.path, "yes" if var.secret else "")
    Console().print(table)


def load(spec: ServiceSettings, check: str | None) -> BaseSettings:
    """The service's settings from the environment, ``check`` given as a flag would be."""
    settings_type = spec.model()
    overrides: dict[str, Any] = {}
    if spec.needs_check:
        if check is None and not os.environ.get("STREAMJURY_CHECK"):
            raise ConfigError(
                "this service runs one check: pass --check NAME or set STREAMJURY_CHECK"
            )
        if check is not None:
            overrides["check"] = check
    try:
        return settings_type(**overrides)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid settings: {describe_settings_error(exc, settings_type)}"
        ) from exc


def flatten(values: Mapping[str, Any], parent: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every leaf of nested dicts, in order."""
    for key, value in values.items():
        path = f"{parent}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, f"{path}.")
        else:
            yield path, value


def source_of(path: str, variables: list[EnvVar], environ: Mapping[str, str]) -> str:
    """The env var that set ``path`` (first match wins, as in pydantic), else ``default``."""
    present = {name.upper() for name in environ}
    for var in variables:
        # a dict-valued setting (``kafka.extra``) is shown one key per row, all from one var
        if (var.path == path or path.startswith(f"{var.path}.")) and var.name in present:
            return f"env {var.name}"
    return "default"


def _display(value: Any) -> str:
    return "-" if value is None else json.dumps(value) if not isinstance(value, str) else value
