"""Errors raised by the local development servers (Kafka, kinesis-local, moto).

A single exception type lets tests and the CLI report a dev server failure clearly.
"""

from __future__ import annotations


class DevServerError(RuntimeError):
    """A local dev server could not be installed, started, or stopped.

    The message should say what was tried and include the tail of the server log,
    because these failures are otherwise opaque (a port that never answers).
    """
