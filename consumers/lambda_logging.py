"""Lambda context on every log line: request id, function name, cold start, shard and sequences.

One JSON format everywhere: the project's own ``JsonFormatter``, fed by a filter that reads the
current invocation from a context variable (the same field names Powertools Logger uses).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from streamjury.logs import configure_logging, install_redaction


@dataclass(frozen=True, slots=True)
class InvocationFields:
    """What each log line of one invocation says about it."""

    function_name: str
    function_request_id: str
    cold_start: bool
    check: str
    shard_id: str | None = None
    sequence_first: str | None = None
    sequence_last: str | None = None
    service: str = "lambda"


_CURRENT: contextvars.ContextVar[InvocationFields | None] = contextvars.ContextVar(
    "streamjury_lambda_invocation", default=None
)


@contextmanager
def invocation_fields(fields: InvocationFields) -> Iterator[None]:
    """Within the block, every log record carries ``fields`` (nested calls restore the outer)."""
    token = _CURRENT.set(fields)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_fields() -> InvocationFields | None:
    return _CURRENT.get()


class LambdaContextFilter(logging.Filter):
    """Copies the current invocation's fields onto each record (never overwriting ``extra=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _CURRENT.get()
        if fields is not None:
            for name, value in asdict(fields).items():
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


def install_context_filter(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (the root by default), once each, before
    the redaction (also added if missing: a caller's own handlers must not leak secrets)."""
    handlers = (logger or logging.getLogger()).handlers
    for handler in handlers:
        if not any(isinstance(f, LambdaContextFilter) for f in handler.filters):
            handler.filters.insert(0, LambdaContextFilter())
    install_redaction(logger)


def configure_function_logging(level: str) -> None:
    """A cold start's logging: JSON lines on stderr (CloudWatch Logs), with Lambda context.

    Replaces the Lambda runtime's text handler, so every line is one JSON object.
    """
    configure_logging(level, json_lines=True)
    install_context_filter()


def describe(fields: InvocationFields) -> dict[str, Any]:
    """The fields as a dict without the empty ones (for tests and the EMF metadata)."""
    return {k: v for k, v in asdict(fields).items() if v is not None}
