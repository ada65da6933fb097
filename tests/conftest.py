"""Session-wide fixtures: real servers started once per test run, stopped at its end.

Integration tests never mock a broker; they get these fixtures and use uuid-named streams.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker, start_kafka_for_tests
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer

MOTO_ACCOUNT_ID = "123456789012"
"""kinesis-local runs under moto's account id so stream ARNs match what moto's mappings check."""


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafkaBroker]:
    """A real single-node KRaft Apache Kafka broker on 127.0.0.1, from Maven Central jars."""
    broker = start_kafka_for_tests()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def kinesis_local() -> Iterator[LocalKinesis]:
    """A real Kinesis API (kinesis-local, the engine LocalStack uses) on 127.0.0.1."""
    with LocalKinesis(account_id=MOTO_ACCOUNT_ID, extra_env={"SHARD_LIMIT": "2000"}) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto in server mode: Lambda, IAM, S3, DynamoDB, SQS APIs that need no execution engine."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """The CLI and the Lambda entry point install their own root handler (and its filters); put
    the test session's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {handler: list(handler.filters) for handler in handlers}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for handler, kept in filters.items():
            handler.filters[:] = kept
