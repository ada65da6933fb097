"""Logging set-up for entry points: readable lines in a terminal, JSON lines otherwise.

Modules only call ``logging.getLogger(__name__)``; handlers are configured here, once, and every
handler redacts the secrets the process knows (``streamjury.redaction``) from what it writes.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from streamjury.redaction import redact, remember_environ

CONTEXT_FIELDS = (
    "service",
    "check",
    "stream",
    "partition",
    "position",
    "function_name",
    "function_request_id",
    "cold_start",
    "shard_id",
    "sequence_first",
    "sequence_last",
)
"""Extra attributes copied into JSON log lines when a call passes them via ``extra=`` (the
Lambda ones are set by ``consumers.lambda_logging`` for every line of an invocation)."""


class RedactingFilter(logging.Filter):
    """Rewrites a record's text (message, traceback, stack, context fields) with secrets masked.

    A handler filter, so it sees every record the handler writes whatever logger made it, and
    works with any formatter (a library's, the Lambda runtime's): the record it passes on
    carries only redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Add a ``RedactingFilter`` to every handler of ``logger`` (the root by default), once each."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for containers and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_text:
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool | None = None) -> None:
    """Install one stderr handler; JSON unless stderr is a terminal (or ``json_lines`` says).

    The environment's secrets are remembered first, so even a settings error logged before any
    settings loaded is redacted.
    """
    remember_environ()
    use_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler = logging.StreamHandler(sys.stderr)
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    handler.addFilter(RedactingFilter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
