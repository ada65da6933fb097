"""``streamjury decide`` whose N-th transaction commit never happens: run by a test that
SIGKILLs it while that transaction is open (outputs in the log, commit not sent).

Usage: python -m tests.integration.kafka.paused_decide N DECIDE-ARGS...
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from confluent_kafka import Producer

import streamjury.streams.kafka.producer as kafka_producer
import streamjury.streams.kafka.writer as kafka_writer
from streamjury.cli.main import main as streamjury_main


def pausing_producer(pause_at: int) -> type[Producer]:
    """A confluent Producer whose ``pause_at``-th commit (of all instances) never returns."""

    class PausingProducer(Producer):
        commits = 0

        def commit_transaction(self, *args: Any) -> Any:
            PausingProducer.commits += 1
            if PausingProducer.commits == pause_at:
                self.flush(30)  # the outputs are in the log, just not committed
                print("IN_TRANSACTION", flush=True)
                threading.Event().wait()  # until SIGKILL
            return super().commit_transaction(*args)

    return PausingProducer


def main() -> None:
    pause_at, *args = sys.argv[1:]
    kafka_producer.Producer = pausing_producer(int(pause_at))  # type: ignore[misc]
    kafka_writer.STUCK_GRACE_S = 3600.0  # the pause is on purpose: never abandon that commit
    sys.argv = ["streamjury", *args]
    streamjury_main()


if __name__ == "__main__":
    main()
