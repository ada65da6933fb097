"""The ``streamjury`` command: a root group whose subcommands load lazily from their own modules.

Errors a user can fix print one line and exit 2; no traceback reaches the terminal. Whatever is
printed is redacted first (``streamjury.redaction``): an error quoting a setting never shows a
secret in it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback

import click
from pydantic_settings import SettingsError

from streamjury import __version__
from streamjury.errors import ConfigError, StreamjuryError
from streamjury.redaction import redact, remember_environ
from streamjury.settings import describe_settings_error

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
    "quality": ("streamjury.cli.quality", "quality"),
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
    remember_environ()
    try:
        code = cli.main(args=argv, prog_name="streamjury", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("streamjury: aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group run bare: its help, no "error"
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = (
            f" (see 'streamjury {exc.ctx.command_path.split(' ', 1)[1]} --help')"
            if (exc.ctx is not None and " " in exc.ctx.command_path)
            else ""
        )
        fail(f"{exc.format_message()}{hint}", 2)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except ConfigError as exc:
        fail(str(exc), 2)
    except SettingsError as exc:
        fail(f"invalid settings: {describe_settings_error(exc)}", 2)
    except StreamjuryError as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # a bug: its traceback helps, but redacted like everything else
        click.echo(redact(traceback.format_exc()), err=True, nl=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def fail(message: str, code: int) -> None:
    """Print ``streamjury: error: MESSAGE`` (redacted) and exit with ``code``."""
    click.echo(f"streamjury: error: {redact(message)}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
