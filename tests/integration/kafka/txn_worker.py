"""A transactional copy worker, run as a subprocess by the Kafka transaction tests.

Copies --input to --output through the Kafka backend's atomic writer until the group has
committed the whole input; ``--pause-at N`` holds the N-th transaction open (outputs flushed,
offsets added, commit not sent) until a line arrives on stdin, so a test can look or SIGKILL.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from confluent_kafka import Producer

import streamjury.streams.kafka.producer as kafka_producer
import streamjury.streams.kafka.writer as kafka_writer
from streamjury.settings import KafkaSettings
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend


def pausing_producer(pause_at: int) -> type[Producer]:
    """A confluent Producer whose ``pause_at``-th commit waits for stdin first."""

    class PausingProducer(Producer):
        commits = 0

        def commit_transaction(self, *args: Any) -> Any:
            PausingProducer.commits += 1
            if PausingProducer.commits == pause_at:
                self.flush(30)  # the outputs are in the log, just not committed
                print("IN_TRANSACTION", flush=True)
                sys.stdin.readline()
            return super().commit_transaction(*args)

    return PausingProducer


def caught_up(committed: dict[str, int], ends: dict[str, int]) -> bool:
    return all(committed.get(partition, 0) >= end for partition, end in ends.items())


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--input", "--output", "--group", "--writer-id"):
        parser.add_argument(name, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pause-at", type=int, default=0)
    args = parser.parse_args()
    if args.pause_at:
        # The writer builds its producer from this module's name for the class.
        kafka_producer.Producer = pausing_producer(args.pause_at)
        # The pause is on purpose: the writer must not give up on that commit as stuck.
        kafka_writer.STUCK_GRACE_S = 3600.0

    backend = KafkaBackend(KafkaSettings(bootstrap=args.bootstrap))
    consumer = backend.consumer([args.input], args.group)
    writer = backend.atomic_writer(consumer, args.writer_id)
    ends = backend.end_offsets(args.input)
    while not caught_up(backend.committed(args.input, args.group), ends):
        records = consumer.poll(args.batch, 0.5)
        if records:
            copies = [OutRecord(r.key, r.value + b":copied") for r in records]
            writer.write_and_commit({args.output: copies}, records)
            print(f"COMMITTED {len(records)}", flush=True)
    writer.close()
    consumer.close()
    backend.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
