"""Exactly-once on Kafka: a transactional writer's outputs appear once, after commit, or never.

A copy worker (txn_worker.py) runs in a subprocess so a test can SIGKILL it mid-transaction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.errors import RewoundDeliveryError
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
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
    copy polls again (as the decision service does)."""
    source, copies = streams
    keys = [f"event-{n}" for n in range(1000)]
    produce(kafka_backend, source, out_records(keys))
    group = f"{stream_prefix}group"
    consumer = kafka_backend.consumer([source], group)
    writer = kafka_backend.atomic_writer(consumer, f"{stream_prefix}writer")
    ends = kafka_backend.end_offsets(source)
    errors: list[BaseException] = []
    batches: list[float] = []
    rewinds: list[float] = []

    def copy_all() -> None:
        """Small slow batches, so the copy is still going when the broker stops."""
        copied = 0
        try:
            while copied < len(keys):
                records = consumer.poll(10, 0.5)
                if records:
                    outputs = [OutRecord(r.key, r.value + b":copied") for r in records]
                    try:
                        writer.write_and_commit({copies: outputs}, records)
                    except RewoundDeliveryError:
                        rewinds.append(time.monotonic())
                        continue
                    copied += len(records)
                    batches.append(time.monotonic())
                    time.sleep(0.05)
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
    visible = copied_keys(kafka_broker, copies, "read_committed")
    if visible != Counter(keys):  # seen once in CI, never since: say all there is to say
        missing = sorted(set(keys) - set(visible))
        written = copied_keys(kafka_broker, copies, "read_uncommitted")
        pytest.fail(
            f"{len(missing)} keys not visible: {missing[:20]}; of them written (aborted or still "
            f"open): {[(k, written[k]) for k in missing[:20]]}; duplicates: "
            f"{[k for k, n in visible.items() if n > 1][:20]}; {len(batches)} batches, "
            f"rewinds at {[round(t - restarted, 1) for t in rewinds]} s from the restart; "
            f"group offsets {kafka_backend.committed(source, group)}, ends {ends}"
        )
    assert kafka_backend.committed(source, group) == {p: n for p, n in ends.items() if n > 0}
    writer.close()
    consumer.close()
