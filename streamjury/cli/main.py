"""The ``streamjury`` command: a root group whose subcommands load lazily from their own modules.

Errors a user can fix print one line and exit 2; no traceback reaches the terminal.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from streamjury import __version__
from streamjury.errors import ConfigError, StreamjuryError

log = logging.getLogger(__name__)

COMMANDS: dict[str, tuple[str, str]] = {
    "produce": ("streamjury.cli.produce", "produce"),
    "record": ("streamjury.cli.record", "record"),
    "replay": ("streamjury.cli.record", "replay"),
    "tail": ("streamjury.cli.tail", "tail"),
    "streams": ("streamjury.cli.streams", "streams"),
    "train": ("streamjury.cli.models", "train"),
    "models": ("streamjury.cli.models", "models"),
    "consume": ("streamjury.cli.consume", "consume"),
    "decide": ("streamjury.cli.decide", "decide"),
    "demo": ("streamjury.cli.demo", "demo"),
    "dev": ("streamjury.cli.dev", "dev"),
    "lambda": ("streamjury.cli.lambda_cli", "lambda_group"),
    "deploy": ("streamjury.cli.deploy", "deploy"),
    "config": ("streamjury.cli.config", "config"),
}
"""name -> (module, attribute): adding a command is one line here and one module."""


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used, so ``--help`` and startup stay fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet on this branch
            raise
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamjury")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    envvar="STREAMJURY_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log verbosity.",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """Streaming ML inference: produce events, run model consumers, join verdicts into decisions."""
    from streamjury.logs import configure_logging

    configure_logging(log_level.upper())
    ctx.ensure_object(dict)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps every error to a one-line message and an exit code."""
    try:
        code = cli.main(args=argv, prog_name="streamjury", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("streamjury: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = (
            f" (see 'streamjury {exc.ctx.command_path.split(' ', 1)[1]} --help')"
            if (exc.ctx is not None and " " in exc.ctx.command_path)
            else ""
        )
        click.echo(f"streamjury: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"streamjury: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"streamjury: error: {exc}", err=True)
        sys.exit(2)
    except StreamjuryError as exc:
        click.echo(f"streamjury: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
