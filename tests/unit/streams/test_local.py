"""The local SQLite backend against the embedded contract, plus what only it has:
group leases across processes, durability across reopen, concurrent writers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.errors import ConfigError, FencedError
from streamjury.streams.base import Backend, OutRecord, Record, StreamConsumer
from streamjury.streams.local import LocalBackend
from tests.unit.streams.contract import EmbeddedBackendContract, keys_of, records_for

SHORT_LEASE_S = 0.2


class TestLocalBackend(EmbeddedBackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        backend = LocalBackend(tmp_path / "log", partitions=4)
        yield backend
        backend.close()


# -- helpers -----------------------------------------------------------------------------


def produce(backend: LocalBackend, stream: str, records: list[OutRecord]) -> None:
    producer = backend.producer()
    producer.send(stream, records)
    producer.close()


def take(consumer: StreamConsumer, count: int, wait_s: float = 2.0) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + wait_s
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll(count - len(records), 0.05))
    return records


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def short_lease(log_dir: Path) -> Iterator[LocalBackend]:
    """A backend whose leases expire after a fifth of a second, so takeovers are quick."""
    backend = LocalBackend(log_dir, partitions=2, lease_ttl=SHORT_LEASE_S)
    backend.ensure_streams(["events", "outputs"])
    produce(backend, "events", records_for([f"event-{n}" for n in range(6)]))
    yield backend
    backend.close()


# -- leases --------------------------------------------------------------------------------


def test_a_standby_takes_over_when_the_active_members_lease_expires(
    short_lease: LocalBackend,
) -> None:
    active = short_lease.consumer(["events"], "group")
    active.commit(take(active, 2))
    standby = short_lease.consumer(["events"], "group")
    waited = standby.poll(100, 0.05)

    time.sleep(SHORT_LEASE_S * 1.5)  # the active member stops polling: its lease runs out
    taken_over = take(standby, 4)

    assert waited == []
    assert len(taken_over) == 4
    assert standby.assignment() == {"events": ["0", "1"]}


def test_an_active_member_keeps_its_lease_as_long_as_it_polls(log_dir: Path) -> None:
    lease_s = 0.4  # renewed every 0.08 s: room for a loaded machine's scheduling delays
    backend = LocalBackend(log_dir, partitions=2, lease_ttl=lease_s)
    backend.ensure_streams(["events"])
    produce(backend, "events", records_for(["event-1"]))
    active = backend.consumer(["events"], "group")
    standby = backend.consumer(["events"], "group")
    standby_records: list[Record] = []

    deadline = time.monotonic() + lease_s * 2
    while time.monotonic() < deadline:
        active.poll(100, 0.02)
        standby_records.extend(standby.poll(100, 0.02))

    assert standby_records == []
    assert active.assignment() == {"events": ["0", "1"]}
    backend.close()


def test_a_member_that_lost_its_lease_cannot_commit(short_lease: LocalBackend) -> None:
    active = short_lease.consumer(["events"], "group")
    records = take(active, 6)
    time.sleep(SHORT_LEASE_S * 1.5)
    short_lease.consumer(["events"], "group").poll(1, 0.05)  # takes the expired lease

    with pytest.raises(FencedError):
        active.commit(records)
    assert short_lease.committed("events", "group") == {}


def test_a_fenced_atomic_write_writes_nothing(short_lease: LocalBackend) -> None:
    active = short_lease.consumer(["events"], "group")
    records = take(active, 6)
    writer = short_lease.atomic_writer(active, "writer")
    time.sleep(SHORT_LEASE_S * 1.5)
    short_lease.consumer(["events"], "group").poll(1, 0.05)

    with pytest.raises(FencedError):
        writer.write_and_commit({"outputs": records_for(["out-1"])}, records)
    assert short_lease.end_offsets("outputs") == {"0": 0, "1": 0}
    assert short_lease.committed("events", "group") == {}


def test_a_member_that_lost_its_lease_is_revoked_and_stands_by(short_lease: LocalBackend) -> None:
    revoked: list[str] = []
    active = short_lease.consumer(["events"], "group", on_revoke=lambda s, ps: revoked.append(s))
    take(active, 6)
    time.sleep(SHORT_LEASE_S * 1.5)
    short_lease.consumer(["events"], "group").poll(1, 0.05)

    records = active.poll(100, 0.05)

    assert records == []
    assert revoked == ["events"]
    assert active.assignment() == {}


def test_a_standby_takes_over_at_once_when_the_lease_holder_process_died(log_dir: Path) -> None:
    backend = LocalBackend(log_dir, partitions=2)  # default lease: ten seconds
    backend.ensure_streams(["events"])
    produce(backend, "events", records_for(["event-1", "event-2"]))
    pid = os.fork()
    if pid == 0:  # the child takes the lease and dies without releasing it
        try:
            LocalBackend(log_dir).consumer(["events"], "group").poll(1, 1.0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    standby = backend.consumer(["events"], "group")
    started = time.monotonic()

    records = take(standby, 2)

    assert keys_of(records) == ["event-1", "event-2"]
    assert time.monotonic() - started < 1.0
    backend.close()


def test_a_live_lease_holder_in_another_process_is_not_displaced(log_dir: Path) -> None:
    backend = LocalBackend(log_dir, partitions=2)
    backend.ensure_streams(["events"])
    produce(backend, "events", records_for(["event-1"]))
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child holds the lease, then sleeps while its lease is still valid
        try:
            LocalBackend(log_dir).consumer(["events"], "group").poll(1, 1.0)
            os.write(ready_write, b"x")
            time.sleep(2.0)
        finally:
            os._exit(0)
    os.read(ready_read, 1)
    standby = backend.consumer(["events"], "group")

    records = standby.poll(10, 0.2)

    os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert records == []
    backend.close()


# -- durability and layout -----------------------------------------------------------------


def test_records_and_committed_positions_survive_closing_and_reopening(log_dir: Path) -> None:
    first = LocalBackend(log_dir, partitions=4)
    first.ensure_streams(["events"])
    produce(first, "events", records_for([f"event-{n}" for n in range(10)]))
    consumer = first.consumer(["events"], "group")
    consumer.commit(take(consumer, 10))
    ends, committed = first.end_offsets("events"), first.committed("events", "group")
    first.close()

    reopened = LocalBackend(log_dir, partitions=4)

    assert reopened.list_streams() == ["events"]
    assert reopened.end_offsets("events") == ends
    assert reopened.committed("events", "group") == committed
    everything = [r for p in ends for r in reopened.read_partition("events", p)]
    assert keys_of(everything) == sorted(f"event-{n}" for n in range(10))
    reopened.close()


def test_a_stream_keeps_the_partition_count_it_was_created_with(log_dir: Path) -> None:
    first = LocalBackend(log_dir, partitions=4)
    first.ensure_streams(["events"])
    first.close()

    reopened = LocalBackend(log_dir, partitions=2)
    reopened.ensure_streams(["events"])

    assert reopened.partitions("events") == ["0", "1", "2", "3"]
    reopened.close()


def test_a_stream_created_by_another_backend_object_is_usable_at_once(log_dir: Path) -> None:
    writer_side = LocalBackend(log_dir)
    reader_side = LocalBackend(log_dir)
    writer_side.ensure_streams(["late"])

    produce(reader_side, "late", records_for(["event-1"]))

    assert sum(writer_side.end_offsets("late").values()) == 1
    writer_side.close()
    reader_side.close()


def test_read_partition_pages_through_a_long_partition(log_dir: Path) -> None:
    backend = LocalBackend(log_dir, partitions=1)
    backend.ensure_streams(["events"])
    produce(backend, "events", [OutRecord("k", str(n).encode()) for n in range(2500)])

    values = [int(record.value) for record in backend.read_partition("events", "0")]

    assert values == list(range(2500))
    backend.close()


def test_concurrent_producers_never_lose_or_duplicate_records(log_dir: Path) -> None:
    backend = LocalBackend(log_dir, partitions=4, synchronous="normal")
    backend.ensure_streams(["events"])

    def write(worker: int) -> None:
        producer = backend.producer()
        for batch in range(5):
            producer.send("events", records_for([f"w{worker}-b{batch}-{n}" for n in range(100)]))
            producer.flush()
        producer.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ends = backend.end_offsets("events")
    everything = [r for p in ends for r in backend.read_partition("events", p)]
    assert sum(ends.values()) == 2000
    assert len({record.key for record in everything}) == 2000
    for partition, end in ends.items():
        assert [r.offset for r in backend.read_partition("events", partition)] == list(range(end))
    backend.close()


@pytest.mark.parametrize(
    "options",
    [{"partitions": 0}, {"synchronous": "off"}, {"lease_ttl": 0.0}, {"poll_interval": -1.0}],
)
def test_invalid_options_are_config_errors(log_dir: Path, options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LocalBackend(log_dir, **options)  # type: ignore[arg-type]
