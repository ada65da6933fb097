"""How the Kafka backend turns KafkaSettings into client configs, and keeps secrets out of logs.

No broker needed: these only build configs and objects that have not connected yet.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from streamjury.masking import mask_config
from streamjury.settings import KafkaSettings
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.kafka.config import (
    PARTITIONER,
    TRANSACTIONAL_RETRY_BACKOFF_MS,
    KafkaClientConfigs,
)

SECRET = "correct-horse-battery-staple"


@pytest.fixture
def sasl_settings() -> KafkaSettings:
    return KafkaSettings(
        bootstrap="127.0.0.1:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password=SecretStr(SECRET),
    )


def test_the_password_reaches_the_client_config(sasl_settings: KafkaSettings) -> None:
    config = KafkaClientConfigs(sasl_settings).producer()

    assert config["sasl.password"] == SECRET
    assert config["sasl.username"] == "alice"
    assert config["security.protocol"] == "SASL_PLAINTEXT"


def test_a_masked_config_hides_the_password(sasl_settings: KafkaSettings) -> None:
    shown = mask_config(KafkaClientConfigs(sasl_settings).producer())

    assert SECRET not in repr(shown)
    assert shown["sasl.password"] == "**********"
    assert shown["sasl.username"] == "alice"


def test_the_backend_never_shows_or_logs_the_password(
    sasl_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="streamjury")

    backend = KafkaBackend(sasl_settings, overrides={"log_level": 0})
    shown = [repr(backend), str(backend.client_config("producer")), caplog.text]
    backend.close()

    assert all(SECRET not in text for text in shown)
    assert "**********" in repr(backend)


def test_every_producer_uses_the_java_compatible_partitioner() -> None:
    configs = KafkaClientConfigs(KafkaSettings())

    plain = configs.producer()
    transactional = configs.transactional_producer("writer-1")

    assert plain["partitioner"] == transactional["partitioner"] == PARTITIONER == "murmur2_random"


def test_back_to_back_transactions_retry_sooner_than_librdkafkas_default_unless_overridden() -> (
    None
):
    """CONCURRENT_TRANSACTIONS after each commit would otherwise cost 100 ms a transaction."""
    default = KafkaClientConfigs(KafkaSettings()).transactional_producer("writer-1")
    settings = KafkaSettings(extra={"retry.backoff.ms": "250"})  # as STREAMJURY_KAFKA_EXTRA
    overridden = KafkaClientConfigs(settings, overrides=settings.extra).transactional_producer(
        "writer-1"
    )

    assert default["retry.backoff.ms"] == TRANSACTIONAL_RETRY_BACKOFF_MS < 100
    assert "retry.backoff.ms" not in KafkaClientConfigs(KafkaSettings()).producer()
    assert str(overridden["retry.backoff.ms"]) == "250"


def test_producers_are_idempotent_and_consumers_read_committed_without_auto_commit() -> None:
    configs = KafkaClientConfigs(KafkaSettings())

    producer, member = configs.producer(), configs.group_consumer("group")

    assert producer["enable.idempotence"] is True
    assert producer["acks"] == "all"
    assert member["isolation.level"] == "read_committed"
    assert member["enable.auto.commit"] is False
    assert member["partition.assignment.strategy"] == "cooperative-sticky"


def test_overrides_win_over_the_defaults() -> None:
    configs = KafkaClientConfigs(KafkaSettings(), overrides={"linger.ms": 50})

    assert configs.producer()["linger.ms"] == 50
