"""Fixtures of the Kafka backend tests: a backend on the session's broker, uuid-named streams.

The broker itself is the session-wide ``kafka_broker`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.settings import KafkaSettings
from streamjury.streams.kafka import KafkaBackend
from tests.integration.kafka.helpers import Process


@pytest.fixture
def kafka_settings(kafka_broker: LocalKafkaBroker) -> KafkaSettings:
    return KafkaSettings(bootstrap=kafka_broker.bootstrap_servers, client_id="streamjury-tests")


@pytest.fixture
def kafka_backend(kafka_settings: KafkaSettings) -> Iterator[KafkaBackend]:
    backend = KafkaBackend(kafka_settings)
    yield backend
    backend.close()


@pytest.fixture
def stream_prefix() -> str:
    """A fresh prefix per test, so no test ever sees another's topics or groups."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Child processes a test starts; any still running at teardown are SIGKILLed."""
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()
