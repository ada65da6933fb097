"""The embedded default transport: a durable log in one SQLite file shared by many processes."""

from streamjury.streams.local.backend import LocalBackend

__all__ = ["LocalBackend"]
