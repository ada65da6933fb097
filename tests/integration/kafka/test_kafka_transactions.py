"""Exactly-once on Kafka: a transactional writer's outputs appear once, after commit, or never.

A copy worker (txn_worker.py) runs in a subprocess so a test can SIGKILL it mid-transaction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.errors import RewoundDeliveryError
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.kafka.consumer import KafkaConsumer
from streamjury.streams.kafka.writer import KafkaAtomicWriter
from tests.integration.kafka.helpers import (
    Process,
    out_records,
    produce,
    python_module,
    read_raw,
    wait_until,
)

pytestmark = pytest.mark.kafka

WORKER = "tests.integration.kafka.txn_worker"


@pytest.fixture
def streams(kafka_backend: KafkaBackend, stream_prefix: str) -> tuple[str, str]:
    source, copies = f"{stream_prefix}in", f"{stream_prefix}out"
    kafka_backend.ensure_streams([source, copies])
    return source, copies


def start_worker(
    processes: list[Process],
    broker: LocalKafkaBroker,
    streams: tuple[str, str],
    prefix: str,
    *,
    writer: str = "writer",
    pause_at: int = 0,
    batch: int = 100,
) -> Process:
    source, copies = streams
    args = [
        f"--bootstrap={broker.bootstrap_servers}",
        f"--input={source}",
        f"--output={copies}",
        f"--group={prefix}group",
        f"--writer-id={prefix}{writer}",
        f"--batch={batch}",
        f"--pause-at={pause_at}",
    ]
    worker = Process(python_module(WORKER, *args), name=f"worker {writer}")
    processes.append(worker)
    return worker


def copied_keys(broker: LocalKafkaBroker, stream: str, isolation: str) -> Counter[str]:
    records = read_raw(broker.bootstrap_servers, stream, isolation=isolation)
    return Counter((key or b"").decode() for _, key, _ in records)


def test_outputs_are_invisible_to_read_committed_readers_until_the_commit(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
    processes: list[Process],
) -> None:
    source, copies = streams
    keys = [f"event-{n}" for n in range(20)]
    produce(kafka_backend, source, out_records(keys))
    worker = start_worker(processes, kafka_broker, streams, stream_prefix, pause_at=1)
    worker.wait_for("IN_TRANSACTION", timeout=30)

    written = copied_keys(kafka_broker, copies, "read_uncommitted")
    visible_before = copied_keys(kafka_broker, copies, "read_committed")
    readable_end_before = sum(kafka_backend.end_offsets(copies).values())
    worker.send("commit")
    assert worker.wait(timeout=30) == 0, worker.output()
    visible_after = copied_keys(kafka_broker, copies, "read_committed")

    assert sum(written.values()) > 0  # the open transaction's records are in the log...
    assert visible_before == Counter()  # ...but no read_committed reader sees them
    assert readable_end_before == 0
    assert visible_after == Counter(keys)


def test_a_writer_killed_mid_transaction_leaves_nothing_visible_and_its_restart_resumes(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
    processes: list[Process],
) -> None:
    source, copies = streams
    keys = [f"event-{n}" for n in range(40)]
    produce(kafka_backend, source, out_records(keys[:20]))
    first = start_worker(processes, kafka_broker, streams, stream_prefix, pause_at=2, batch=10)
    first.wait_for("COMMITTED", timeout=30)
    produce(kafka_backend, source, out_records(keys[20:]))
    first.wait_for("IN_TRANSACTION", timeout=30)
    first.kill()
    committed_before = copied_keys(kafka_broker, copies, "read_committed")

    # Same writer id: init_transactions aborts the dead writer's transaction at once.
    second = start_worker(processes, kafka_broker, streams, stream_prefix)
    assert second.wait(timeout=60) == 0, second.output()

    everything = copied_keys(kafka_broker, copies, "read_uncommitted")
    visible = copied_keys(kafka_broker, copies, "read_committed")
    assert 0 < sum(committed_before.values()) < len(keys)
    assert sum(everything.values()) > len(keys)  # the killed batch was physically written...
    assert visible == Counter(keys)  # ...yet every input is visible exactly once
    assert set(committed_before) <= set(visible)


def test_a_killed_writers_transaction_is_aborted_by_the_broker_after_its_timeout(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
    processes: list[Process],
) -> None:
    source, copies = streams
    keys = [f"event-{n}" for n in range(20)]
    produce(kafka_backend, source, out_records(keys))
    first = start_worker(processes, kafka_broker, streams, stream_prefix, pause_at=1)
    first.wait_for("IN_TRANSACTION", timeout=30)
    first.kill()

    # Another writer id: nothing fences the dead one, so the broker's timeout must end it.
    second = start_worker(processes, kafka_broker, streams, stream_prefix, writer="other")
    assert second.wait(timeout=60) == 0, second.output()

    assert copied_keys(kafka_broker, copies, "read_committed") == Counter(keys)


@dataclass
class Copy:
    """A copy of ``source`` to ``copies`` through one transactional writer, batch by batch as
    the decision service writes, over ``count`` records produced first."""

    backend: KafkaBackend
    source: str
    copies: str
    group: str
    keys: list[str]
    consumer: KafkaConsumer
    writer: KafkaAtomicWriter
    ends: dict[str, int]
    rewinds: list[tuple[float, str]] = field(default_factory=list)
    """When, and why, the writer rewound the consumer instead of writing a batch."""

    @classmethod
    def start(
        cls, backend: KafkaBackend, streams: tuple[str, str], prefix: str, count: int
    ) -> Copy:
        source, copies = streams
        keys = [f"event-{n}" for n in range(count)]
        produce(backend, source, out_records(keys))
        group = f"{prefix}group"
        consumer = backend.consumer([source], group)
        writer = backend.atomic_writer(consumer, f"{prefix}writer")
        ends = backend.end_offsets(source)
        return cls(backend, source, copies, group, keys, consumer, writer, ends)

    def batch(self, records: Sequence[Record]) -> bool:
        """Write the copies of ``records``; False if the writer rewound (they come again)."""
        outputs = [OutRecord(r.key, r.value + b":copied") for r in records]
        try:
            self.writer.write_and_commit({self.copies: outputs}, records)
        except RewoundDeliveryError as exc:
            self.rewinds.append((time.monotonic(), str(exc)))
            return False
        return True

    def committed(self) -> dict[str, int]:
        return self.backend.committed(self.source, self.group)

    def finished(self) -> bool:
        """The group's committed offsets at the ends. Counting copied records would not do:
        a batch whose commit the broker rolled back is copied twice."""
        return self.committed() == {p: n for p, n in self.ends.items() if n > 0}

    def close(self) -> None:
        self.writer.close()
        self.consumer.close()


def test_a_writer_rides_out_a_broker_restart_writing_every_record_once(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
) -> None:
    """The restart lands mid-transaction: since librdkafka 2.16 that can leave
    send_offsets_to_transaction waiting forever (the writer must abandon it) and fail
    transactions for a while. The writer writes a batch again within the transaction timeout;
    past it, it raises RewoundDeliveryError with the consumer rewound to the batch, and the
    copy polls again (as the decision service does).

    A commit acknowledged just as the broker shuts down can be rolled back by it (its
    coordinator skips the markers of partitions left leaderless): the writer finds that out
    from the group's offsets and goes back to them (the next test shows that path alone)."""
    copy = Copy.start(kafka_backend, streams, stream_prefix, 1000)
    errors: list[BaseException] = []
    batches: list[float] = []

    def copy_all() -> None:
        """Small slow batches, so the copy is still going when the broker stops."""
        copied = 0
        try:
            while True:
                records = copy.consumer.poll(10, 0.5)
                if records:
                    if copy.batch(records):
                        copied += len(records)
                        batches.append(time.monotonic())
                        time.sleep(0.05)
                elif copied >= len(copy.keys) and copy.finished():
                    return
        except BaseException as exc:
            errors.append(exc)

    copier = threading.Thread(target=copy_all, daemon=True)
    copier.start()
    assert wait_until(lambda: len(batches) >= 5, timeout=30, step=0.05), "the copy did not start"
    kafka_broker.restart()
    restarted = time.monotonic()
    copier.join(120)

    assert not copier.is_alive(), "the writer hung after the broker restart"
    assert errors == []
    assert batches[-1] > restarted, "the restart did not land mid-copy"
    visible = copied_keys(kafka_broker, copy.copies, "read_committed")
    if visible != Counter(copy.keys):  # say all there is to say
        missing = sorted(set(copy.keys) - set(visible))
        written = copied_keys(kafka_broker, copy.copies, "read_uncommitted")
        pytest.fail(
            f"{len(missing)} keys not visible: {missing[:20]}; of them written (aborted or still "
            f"open): {[(k, written[k]) for k in missing[:20]]}; duplicates: "
            f"{[k for k, n in visible.items() if n > 1][:20]}; {len(batches)} batches, "
            f"rewinds at {[round(t - restarted, 1) for t, _ in copy.rewinds]} s from the "
            f"restart; group offsets {copy.committed()}, ends {copy.ends}"
        )
    assert copy.finished()
    copy.close()


class CommitRolledBackOnce:
    """A confluent Producer whose next commit reports success and commits nothing.

    To the writer this is what a broker that acknowledges a commit and later rolls it back
    looks like (a single node shutting down completes commits without their markers: see
    docs/reliability.md). The transaction stays open until the writer's next failure aborts
    it, on the real broker."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self.lied = False

    def commit_transaction(self, *args: Any) -> None:
        if not self.lied:
            self.lied = True
            return
        self._producer.commit_transaction(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def __len__(self) -> int:
        return len(self._producer)


def test_a_commit_the_broker_rolls_back_is_found_and_its_batch_written_again(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
) -> None:
    """The third batch's commit is reported done but rolled back; the fourth batch's attempt
    fails on it. The writer's next producer finds the group's offsets behind the third batch,
    sweeps what is left open, and rewinds the consumer to the committed positions: the third
    batch is copied again, and every record is visible exactly once."""
    copy = Copy.start(kafka_backend, streams, stream_prefix, 60)
    batches = 0
    lying: CommitRolledBackOnce | None = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        records = copy.consumer.poll(10, 0.5)
        if not records:
            if copy.finished():
                break
            continue
        if batches == 2 and lying is None:
            lying = CommitRolledBackOnce(copy.writer._sender.producer)  # type: ignore[union-attr]
            copy.writer._sender.producer = lying  # type: ignore[union-attr]
        if copy.batch(records):
            batches += 1

    assert lying is not None
    assert lying.lied
    reasons = [reason for _, reason in copy.rewinds]
    assert any("rolled back a transaction it had reported committed" in r for r in reasons), reasons
    assert copied_keys(kafka_broker, copy.copies, "read_committed") == Counter(copy.keys)
    assert copy.finished()
    copy.close()


def test_closing_what_a_writer_left_open_adds_nothing_visible_and_moves_no_offset(
    kafka_backend: KafkaBackend,
    kafka_broker: LocalKafkaBroker,
    streams: tuple[str, str],
    stream_prefix: str,
) -> None:
    """The sweep a restore asks for (``abort_left_open``) on the real broker: an aborted
    transaction in every partition of the swept streams and in the group's offsets. Readers
    see none of it, every partition is settled after it, the group's offsets stay where the
    last commit put them, and the writer goes on writing."""
    copy = Copy.start(kafka_backend, streams, stream_prefix, 40)
    first = copy.consumer.poll(20, 10.0)
    assert first
    assert copy.batch(first)
    committed = copy.committed()
    written = copied_keys(kafka_broker, copy.copies, "read_uncommitted")

    copy.writer.abort_left_open([copy.copies])

    sweeps = copied_keys(kafka_broker, copy.copies, "read_uncommitted") - written
    partitions = kafka_backend.partitions(copy.copies)
    assert sweeps == Counter({"streamjury-abort-sweep": len(partitions)})  # one per partition
    assert copied_keys(kafka_broker, copy.copies, "read_committed") == Counter(r.key for r in first)
    assert copy.committed() == committed
    for partition in partitions:  # nothing left open: a read to the end does not wait
        list(kafka_backend.read_partition(copy.copies, partition))
    deadline = time.monotonic() + 60
    while not copy.finished() and time.monotonic() < deadline:
        records = copy.consumer.poll(20, 0.5)
        if records:
            copy.batch(records)
    assert copied_keys(kafka_broker, copy.copies, "read_committed") == Counter(copy.keys)
    copy.close()
