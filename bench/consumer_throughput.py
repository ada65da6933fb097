"""Consumer throughput: the batched runtime against a per-message loop, same data, same process.

Run ``python bench/consumer_throughput.py --help``; bench/README.md says what the numbers mean.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from consumers.batch import process_batch
from consumers.check import CheckModel, CheckSpec, ModelSource
from consumers.registry import CHECKS
from consumers.runtime import ConsumerRuntime, RuntimeConfig
from models.store import ModelSettings, ModelStore, ensure_trained
from models.train import MODEL_NAMES
from producers.synthetic import generate_rides, generate_uploads
from streamjury.schemas import RideEvent, UploadEvent
from streamjury.streams.base import OutRecord, Record, StartFrom, StreamProducer
from streamjury.streams.memory import MemoryBackend

log = logging.getLogger(__name__)

VERDICTS, DEADLETTER = "verdicts", "deadletter"
POLL_TIMEOUT_S = 0.05
TRAINING_ROWS = 5_000
"""Enough for realistic model shapes; throughput does not depend on how well a model fits."""
Clock = Callable[[], float]
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}
"""``wall``: elapsed time, what a consumer sees. ``cpu``: this process's CPU time, which leaves out
the time other processes held the CPU; steadier on a shared machine, and the same thing on an
idle one (the memory backend never blocks, so both ways run flat out)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """How many events one way of consuming scored, and how long it took."""

    events: int
    verdicts: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class Row:
    check: str
    batched: Measurement
    per_message: Measurement

    @property
    def ratio(self) -> float:
        return self.batched.per_second / self.per_message.per_second


def synthetic_payloads(spec: CheckSpec, count: int, seed: int = 1) -> list[OutRecord]:
    """``count`` valid events of the check's type, keyed by event id as producers key them."""
    events: Sequence[RideEvent | UploadEvent]
    if spec.event_type == "ride":
        events = [labelled.event for labelled in generate_rides(seed, count)]
    else:
        events = [labelled.event for labelled in generate_uploads(seed, count)]
    return [OutRecord(event.event_id, event.to_bytes()) for event in events]


def filled_backend(spec: CheckSpec, payloads: Sequence[OutRecord]) -> MemoryBackend:
    """A memory backend whose input stream already holds ``payloads``."""
    backend = MemoryBackend(partitions=4)
    backend.ensure_streams([spec.stream, VERDICTS, DEADLETTER])
    producer = backend.producer()
    producer.send(spec.stream, payloads)
    producer.flush()
    return backend


@contextmanager
def input_outside_the_heap() -> Iterator[None]:
    """Keep the pre-filled input out of the garbage collector's way while timing.

    In production the input waits in a broker, not in the consumer's heap; here it sits in the
    memory backend, and every full collection would walk it. Both ways are timed like this.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def measure_batched(
    spec: CheckSpec,
    model: CheckModel,
    payloads: Sequence[OutRecord],
    batch_size: int,
    clock: Clock = time.perf_counter,
) -> Measurement:
    """The runtime as deployed: micro-batches, one predict per batch, one flush and commit each."""
    backend = filled_backend(spec, payloads)
    runtime = ConsumerRuntime(
        spec,
        model,
        backend.producer(),
        verdict_stream=VERDICTS,
        deadletter_stream=DEADLETTER,
        config=RuntimeConfig(batch_size=batch_size, log_every_batches=10**9),
    )
    consumer = backend.consumer([spec.stream], "bench-batched", StartFrom.earliest())
    with input_outside_the_heap():
        started = clock()
        stats = runtime.run(consumer, lambda: runtime.stats.records >= len(payloads))
        seconds = clock() - started
    consumer.close()
    return Measurement(stats.records, stats.verdicts, seconds)


def measure_per_message(
    spec: CheckSpec,
    model: CheckModel,
    payloads: Sequence[OutRecord],
    clock: Clock = time.perf_counter,
) -> Measurement:
    """The usual tutorial loop: for each record decode, predict one row, send, flush, commit."""
    backend = filled_backend(spec, payloads)
    producer = backend.producer()
    consumer = backend.consumer([spec.stream], "bench-per-message", StartFrom.earliest())
    done = verdicts = 0
    with input_outside_the_heap():
        started = clock()
        while done < len(payloads):
            for record in consumer.poll(1, POLL_TIMEOUT_S):
                verdicts += publish_one(spec, model, record, producer)
                producer.flush()
                consumer.commit([record])
                done += 1
        seconds = clock() - started
    consumer.close()
    return Measurement(done, verdicts, seconds)


def publish_one(
    spec: CheckSpec, model: CheckModel, record: Record, producer: StreamProducer
) -> int:
    """Score one record alone and send its verdict (1) or dead letter (0)."""
    (outcome,) = process_batch(spec, model, [record], stage=f"bench:{spec.name}").outcomes
    if outcome.verdict is not None:
        producer.send(VERDICTS, [OutRecord(outcome.verdict.event_id, outcome.verdict.to_bytes())])
        return 1
    if outcome.dead_letter is not None:
        producer.send(DEADLETTER, [OutRecord(record.key, outcome.dead_letter.to_bytes())])
    return 0


def benchmark(
    checks: Sequence[str],
    models: ModelSource,
    *,
    events: int,
    baseline_events: int,
    batch_size: int,
    repeat: int = 1,
    clock: Clock = time.perf_counter,
) -> list[Row]:
    """One row per check, each way measured ``repeat`` times keeping the fastest (least disturbed
    by other processes); a check's model is loaded once and shared by both ways.

    The two ways take turns, so a busy spell on a shared machine slows both, not just one.
    """
    rows = []
    for name in checks:
        spec = CHECKS[name]
        model = spec.load_model(models)
        payloads = synthetic_payloads(spec, max(events, baseline_events))
        # Warm up both paths (imports, first-call caches) outside the timed runs.
        measure_per_message(spec, model, payloads[:20])
        measure_batched(spec, model, payloads[: 2 * batch_size], batch_size)
        batched_runs: list[Measurement] = []
        per_message_runs: list[Measurement] = []
        for _ in range(repeat):
            batched_runs.append(measure_batched(spec, model, payloads[:events], batch_size, clock))
            per_message_runs.append(
                measure_per_message(spec, model, payloads[:baseline_events], clock)
            )
        row = Row(name, fastest(batched_runs), fastest(per_message_runs))
        rows.append(row)
        log.info(
            "%s: %.0f vs %.0f events/s", name, row.batched.per_second, row.per_message.per_second
        )
    return rows


def fastest(measurements: Iterable[Measurement]) -> Measurement:
    return max(measurements, key=lambda m: m.per_second)


def format_table(rows: Sequence[Row], batch_size: int) -> str:
    header = (
        "check",
        f"batched (size {batch_size}) ev/s",
        "events",
        "per-message ev/s",
        "events",
        "ratio",
    )
    lines = [header] + [
        (
            row.check,
            f"{row.batched.per_second:,.0f}",
            f"{row.batched.events:,}",
            f"{row.per_message.per_second:,.0f}",
            f"{row.per_message.events:,}",
            f"{row.ratio:.1f}x",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(rendered)


@contextmanager
def model_source(location: str | None, training_rows: int = TRAINING_ROWS) -> Iterator[ModelSource]:
    """The models at ``location`` (or STREAMJURY_MODELS) if all are there, else freshly trained
    small ones in a temporary folder that is removed afterwards."""
    store = ModelStore(location) if location else ModelStore.from_settings(ModelSettings())
    if not store.missing(MODEL_NAMES):
        log.info("using the models in %s", store.location)
        yield store
        return
    with tempfile.TemporaryDirectory(prefix="streamjury-bench-") as folder:
        log.info("no trained models in %s: training small ones into %s", store.location, folder)
        ensure_trained(Path(folder), rows=training_rows)
        yield ModelStore(folder)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events for the batched run")
    parser.add_argument(
        "--baseline-events",
        type=int,
        default=2_000,
        help="events for the slower per-message run (its rate is events/s, so it extrapolates)",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each way; the fastest counts"
    )
    parser.add_argument(
        "--checks", default=",".join(CHECKS), help="comma-separated check names (default: all)"
    )
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="time runs by elapsed (wall) or CPU time; cpu is steadier on a busy machine",
    )
    parser.add_argument(
        "--models", default=None, help="trained models (default: STREAMJURY_MODELS)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.checks.split(",")) - set(CHECKS)
    if unknown:
        parser.error(f"unknown checks {', '.join(sorted(unknown))}: known are {', '.join(CHECKS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("models", "consumers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with model_source(args.models) as models:
        rows = benchmark(
            args.checks.split(","),
            models,
            events=args.events,
            baseline_events=args.baseline_events,
            batch_size=args.batch_size,
            repeat=args.repeat,
            clock=CLOCKS[args.clock],
        )
    print(format_table(rows, args.batch_size))


if __name__ == "__main__":
    main()
