"""librdkafka configuration for every Kafka client streamjury builds, from ``KafkaSettings``.

One place decides the tuning (idempotence, partitioner, isolation, timeouts) and masks secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamjury.settings import KafkaSettings

ClientConfig = dict[str, Any]

PARTITIONER = "murmur2_random"
"""The Java client's default hash for keyed records, so every producer (plain or transactional)
maps a key to the same partition number in every topic with the same partition count: verdicts
and the decision changelog stay co-partitioned, and Java or Kafka Streams tools agree with us."""

HEARTBEAT_INTERVAL_MS = 1_000
"""How often a member heartbeats, and so how soon it notices a rebalance (cooperative rebalancing
takes two rounds)."""

RECONNECT_BACKOFF_MAX_MS = 1_000
"""Retry a lost broker connection at least every second, so a restarted broker is found fast."""


TRANSACTIONAL_RETRY_BACKOFF_MS = 10
"""The transactional producer's first retry delay (see ``transactional_producer``)."""


@dataclass(frozen=True, slots=True)
class KafkaClientConfigs:
    """Builds the config dict of each client kind; ``overrides`` win over everything (tests)."""

    settings: KafkaSettings
    overrides: Mapping[str, Any] = field(default_factory=dict)
    logger: logging.Logger | None = None

    def common(self) -> ClientConfig:
        """Connection and security: what every client needs to reach the cluster."""
        s = self.settings
        config: ClientConfig = {
            "bootstrap.servers": s.bootstrap,
            "client.id": s.client_id,
            "security.protocol": s.security_protocol,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            # Streams are created by ensure_streams with our partition count, never implicitly
            # by a metadata request (a broker default count would break co-partitioning).
            "allow.auto.create.topics": False,
        }
        if s.sasl_mechanism is not None:
            config["sasl.mechanism"] = s.sasl_mechanism
        if s.sasl_username is not None:
            config["sasl.username"] = s.sasl_username
        if s.sasl_password is not None:
            config["sasl.password"] = s.sasl_password.get_secret_value()
        if s.ssl_ca_location is not None:
            config["ssl.ca.location"] = s.ssl_ca_location
        if self.logger is not None:
            config["logger"] = self.logger
        return config

    def admin(self) -> ClientConfig:
        return self._finish(self.common())

    def producer(self) -> ClientConfig:
        """Idempotent (no duplicates or reordering on retries), batched and compressed."""
        config = self.common()
        config.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "batch.size": 256 * 1024,
                "compression.type": "lz4",
                "partitioner": PARTITIONER,
                "delivery.report.only.error": True,
            }
        )
        return self._finish(config)

    def transactional_producer(self, transactional_id: str) -> ClientConfig:
        """A producer whose writes and offset commits become visible together, or never.

        ``message.timeout.ms`` is left unset: librdkafka then caps it at the transaction timeout.
        """
        config = self.producer()
        config.update(
            {
                "transactional.id": transactional_id,
                "transaction.timeout.ms": self.settings.transaction_timeout_ms,
                # A transaction begun right after a commit is refused with CONCURRENT_TRANSACTIONS
                # until the broker has written the previous one's markers, and librdkafka retries
                # after retry.backoff.ms (100 ms by default): back-to-back transactions then took
                # ~107 ms each on a local broker, ~37 ms with 10 ms. It doubles per retry, so a
                # broker in real trouble still sees a backing-off client.
                "retry.backoff.ms": TRANSACTIONAL_RETRY_BACKOFF_MS,
            }
        )
        return self._finish(config)

    def group_consumer(self, group: str) -> ClientConfig:
        """A member that sees committed data only and commits explicitly, after its outputs."""
        config = self._consumer_base(group)
        config.update(
            {
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": self.settings.session_timeout_ms,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            }
        )
        return self._finish(config)

    def reader(self, throwaway_group: str, *, stop_at_end: bool = False) -> ClientConfig:
        """A group-less reader (``assign``, never ``subscribe`` nor commit).

        librdkafka wants a group id even so; a throwaway one is never registered on the broker.
        ``stop_at_end`` asks for an end-of-partition event, for readers that stop there.
        """
        config = self._consumer_base(throwaway_group)
        if stop_at_end:
            # The end-of-partition event needs an empty fetch: have the broker answer it fast.
            config.update({"enable.partition.eof": True, "fetch.wait.max.ms": 20})
        return self._finish(config)

    def _consumer_base(self, group: str) -> ClientConfig:
        config = self.common()
        config.update(
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        return config

    def _finish(self, config: ClientConfig) -> ClientConfig:
        config.update(self.overrides)
        return config
