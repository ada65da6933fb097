"""The portable backend contract, run against the Kafka backend on a real broker.

Every test gets fresh uuid-named topics and groups from the contract's own fixtures.
"""

from __future__ import annotations

import pytest

from streamjury.streams.base import Backend
from streamjury.streams.kafka import KafkaBackend
from tests.unit.streams.contract import BackendContract

pytestmark = pytest.mark.kafka


class TestKafkaBackend(BackendContract):
    wait_s = 15.0
    """A group join plus a first fetch takes a second or two on a busy 2-core machine."""
    quiet_s = 0.5

    @pytest.fixture
    def backend(self, kafka_backend: KafkaBackend) -> Backend:
        return kafka_backend
