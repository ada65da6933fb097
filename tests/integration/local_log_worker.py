"""A producer or consumer process for the local backend's multi-process tests.

Run as a script; a consumer appends ``partition offset key`` lines to a file before each commit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from streamjury.streams.base import OutRecord
from streamjury.streams.local import LocalBackend

STREAM = "events"


def produce(directory: Path, prefix: str, count: int, batch: int, pause_s: float) -> None:
    """Write ``count`` records keyed ``<prefix>-<n>``, one flush per ``batch``."""
    backend = LocalBackend(directory)
    producer = backend.producer()
    for start in range(0, count, batch):
        keys = [f"{prefix}-{n}" for n in range(start, min(start + batch, count))]
        producer.send(STREAM, [OutRecord(key, key.encode()) for key in keys])
        producer.flush()
        time.sleep(pause_s)
    backend.close()


def consume(
    directory: Path, group: str, expected: int, output: Path, batch: int, pause_s: float
) -> None:
    """Read until ``expected`` records arrived, logging each batch before committing it;
    then poll a little longer so any duplicate would be logged too."""
    backend = LocalBackend(directory)
    consumer = backend.consumer([STREAM], group)
    seen = 0
    deadline = time.monotonic() + 30.0
    with output.open("a", encoding="utf-8") as log_file:
        while time.monotonic() < deadline:
            records = consumer.poll(batch, 0.3 if seen >= expected else 0.1)
            if not records and seen >= expected:
                break
            log_file.writelines(f"{r.partition} {r.offset} {r.key}\n" for r in records)
            log_file.flush()
            time.sleep(pause_s)  # "processing": widens the window for a kill before commit
            consumer.commit(records)
            seen += len(records)
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["produce", "consume"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--prefix", default="event")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--group", default="group")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "produce":
        produce(args.directory, args.prefix, args.count, args.batch, args.pause)
    else:
        consume(args.directory, args.group, args.count, args.output, args.batch, args.pause)


if __name__ == "__main__":
    main()
