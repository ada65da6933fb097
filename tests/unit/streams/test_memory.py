"""The memory backend against the embedded backend contract, plus its fencing hook.

Unit tests of other packages use this backend, so it must behave exactly like ``local``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamjury.errors import ConfigError, FencedError
from streamjury.streams.base import Backend
from streamjury.streams.memory import MemoryBackend
from tests.unit.streams.contract import EmbeddedBackendContract, OpenConsumer, records_for


class TestMemoryBackend(EmbeddedBackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = MemoryBackend(partitions=4)
        yield backend
        backend.close()

    # ``fence`` plays the part of an expired lease, for tests of services that must stop.

    def test_a_fenced_member_cannot_commit(
        self, backend: MemoryBackend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for(["event-1"]))
        group = self.group()
        member = open_consumer([stream], group)
        records = self.drain(member, 1)

        backend.fence(group)

        with pytest.raises(FencedError):
            member.commit(records)
        assert backend.committed(stream, group) == {}

    def test_a_fenced_member_is_revoked_then_rejoins_from_the_committed_positions(
        self, backend: MemoryBackend, stream: str, open_consumer: OpenConsumer
    ) -> None:
        self.produce(backend, stream, records_for(["event-1", "event-2"]))
        group = self.group()
        calls: list[str] = []
        member = open_consumer(
            [stream],
            group,
            on_assign=lambda s, ps: calls.append("assign"),
            on_revoke=lambda s, ps: calls.append("revoke"),
        )
        self.drain(member, 2)

        backend.fence(group)
        again = self.drain(member, 2)

        assert calls == ["assign", "revoke", "assign"]
        assert sorted(r.key for r in again) == ["event-1", "event-2"]


def test_a_backend_needs_at_least_one_partition() -> None:
    with pytest.raises(ConfigError):
        MemoryBackend(partitions=0)
