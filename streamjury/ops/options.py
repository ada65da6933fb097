"""The ``--metrics-port`` flag of every long-running command, mapped onto ``OpsSettings``.

A command adds ``@metrics_port_option`` and passes ``http_port`` on to its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def metrics_port_option(command: F) -> F:
    """Adds ``--metrics-port PORT``; the function receives it as ``http_port`` (None if unset)."""
    return click.option(
        "--metrics-port",
        "http_port",
        type=click.IntRange(0, 65_535),
        default=None,
        metavar="PORT",
        help="Serve /healthz, /readyz and /metrics on PORT; 0 serves nothing.  "
        "[env var: STREAMJURY_HTTP_PORT; default: 0]",
    )(command)
