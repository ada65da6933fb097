"""Builds the configured backend; the only place that knows every transport module.

Transports are imported lazily so a local run never imports confluent-kafka or boto3.
"""

from __future__ import annotations

from streamjury.errors import ConfigError
from streamjury.settings import BackendSettings
from streamjury.streams.base import Backend


def open_backend(settings: BackendSettings) -> Backend:
    """A ready backend for ``settings.backend``; the caller closes it."""
    if settings.backend == "local":
        from streamjury.streams.local import LocalBackend

        return LocalBackend(
            settings.local_dir,
            partitions=settings.local_partitions,
            synchronous=settings.local_sync,
        )
    if settings.backend == "memory":
        from streamjury.streams.memory import MemoryBackend

        return MemoryBackend(partitions=settings.local_partitions)
    if settings.backend == "kafka":
        from streamjury.streams.kafka import KafkaBackend

        return KafkaBackend(settings.kafka, overrides=settings.kafka.extra)
    if settings.backend == "kinesis":
        from streamjury.streams.kinesis import KinesisBackend

        return KinesisBackend(settings.kinesis, local_dir=settings.local_dir)
    raise ConfigError(f"unknown backend {settings.backend!r}: use local, memory, kafka or kinesis")
