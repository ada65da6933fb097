"""CLI options shared by every command that touches a stream, and their mapping onto settings.

Flags default to None so that an unset flag leaves the env var (or the settings default) in force.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from streamjury.errors import ConfigError
from streamjury.settings import BackendSettings, KafkaSettings, KinesisSettings, with_overrides
from streamjury.streams.names import ALL_STREAMS

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=BackendSettings)
BACKEND_FLAGS = (
    "backend",
    "local_dir",
    "stream_prefix",
    "bootstrap",
    "kinesis_endpoint",
    "localstack",
)


def backend_options(command: F) -> F:
    """Adds --backend, --local-dir, --stream-prefix, --bootstrap, --kinesis-endpoint, --localstack.

    The decorated function receives them gathered in one ``backend_flags: dict`` argument.
    """

    @click.option(
        "--backend",
        type=click.Choice(["local", "memory", "kafka", "kinesis"]),
        default=None,
        help="Stream transport.  [env var: STREAMJURY_BACKEND; default: local]",
    )
    @click.option(
        "--local-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Directory of the embedded log.  [env var: STREAMJURY_LOCAL_DIR; default: .streamjury/log]",
    )
    @click.option(
        "--stream-prefix",
        default=None,
        help="Prefix of every stream name.  [env var: STREAMJURY_STREAM_PREFIX]",
    )
    @click.option(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT",
        help="Kafka bootstrap servers.  [env var: STREAMJURY_KAFKA_BOOTSTRAP]",
    )
    @click.option(
        "--kinesis-endpoint",
        default=None,
        metavar="URL",
        help="Kinesis endpoint URL.  [env var: AWS_ENDPOINT_URL_KINESIS or STREAMJURY_KINESIS_ENDPOINT_URL]",
    )
    @click.option(
        "--localstack/--no-localstack",
        default=None,
        help="Build AWS clients with localstack-client.  [env var: STREAMJURY_KINESIS_LOCALSTACK]",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["backend_flags"] = {name: kwargs.pop(name) for name in BACKEND_FLAGS}
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def canary_options(command: F) -> F:
    """``--canary`` and ``--canary-percent``, the same for a consumer and a Lambda run."""
    command = click.option(
        "--canary-percent",
        type=click.FloatRange(min=0, max=100),
        default=None,
        help="The canary's share of events.  "
        "[env var: STREAMJURY_CONSUMER_CANARY_PERCENT; default: 5]",
    )(command)
    return click.option(
        "--canary",
        default=None,
        metavar="ALIAS|VERSION",
        help="Give this model the live verdict of a share of events (by event id hash).  "
        "[env var: STREAMJURY_CONSUMER_CANARY]",
    )(command)


def build_settings(settings_type: type[S], backend_flags: dict[str, Any], **service: Any) -> S:
    """Settings from env vars, overridden by the backend flags and the service's own flags."""
    overrides: dict[str, Any] = {
        "backend": backend_flags.get("backend"),
        "local_dir": backend_flags.get("local_dir"),
        "stream_prefix": backend_flags.get("stream_prefix"),
    }
    kinesis: dict[str, Any] = {}
    if backend_flags.get("kinesis_endpoint") is not None:
        kinesis["endpoint_url"] = backend_flags["kinesis_endpoint"]
    if backend_flags.get("localstack") is not None:
        kinesis["localstack"] = backend_flags["localstack"]
    try:
        if backend_flags.get("bootstrap") is not None:
            overrides["kafka"] = KafkaSettings(bootstrap=backend_flags["bootstrap"])
        if kinesis:
            overrides["kinesis"] = KinesisSettings(**kinesis)
        return with_overrides(settings_type, **overrides, **service)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid settings: {describe_settings_error(exc, settings_type)}"
        ) from exc


def describe_settings_error(exc: ValidationError, settings_type: type[BaseSettings]) -> str:
    """Like ``describe_validation_error``, naming each field with the env var that sets it.

    Never quotes the value (it may be a password). An error raised by a nested model (the
    Kafka settings, read from ``STREAMJURY_KAFKA_*``) names that model's variable.
    """
    settings_type = _raising_model(exc, settings_type)
    prefix = str(settings_type.model_config.get("env_prefix", ""))
    problems = []
    for error in exc.errors(include_url=False)[:5]:
        name = str(error["loc"][0]) if error["loc"] else "settings"
        inner = ".".join(str(part) for part in error["loc"][1:])
        field = settings_type.model_fields.get(name)
        if field is not None:
            alias = field.validation_alias
            env_var = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
            name = f"{name} ({env_var} or its flag)"
        where = f"{name}, key {inner!r}" if inner else name
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _raising_model(exc: ValidationError, settings_type: type[BaseSettings]) -> type[BaseSettings]:
    """The settings model (``settings_type`` or one nested in it) whose validation failed."""
    if exc.title == settings_type.__name__:
        return settings_type
    for field in settings_type.model_fields.values():
        nested = field.annotation
        if (
            isinstance(nested, type)
            and issubclass(nested, BaseSettings)
            and nested.__name__ == exc.title
        ):
            return nested
    return settings_type


STREAM_NAME = click.Choice(list(ALL_STREAMS))
"""A click type for logical stream names: unknown names are a usage error naming the valid ones."""
