"""CPU time of the decision service's hot path, in this process, on the memory backend.

The real ``DecisionService`` (poll, join, decide, serialise decisions and changelog states, one
atomic write per batch) over verdicts pre-filled into a memory backend, so the broker is out of
the picture and what is measured is the service's own Python work per verdict. Timed by CPU time
(``time.process_time``), which leaves out the time other processes held the CPU, so figures from
a shared machine stay comparable.

    python -m bench.decision_hotpath                       # 3 runs of 20,000 verdicts
    python -m bench.decision_hotpath --profile out.prof    # and a cProfile of one more run
    python -m bench.decision_hotpath --check-outputs       # digest of every output, for A/B runs
    python -m bench.decision_hotpath --bootstrap HOST:PORT # the same over Kafka, with transactions
    python -m bench.decision_hotpath --young-every 700     # CPython's own young-GC spacing

With ``--bootstrap`` the verdicts are pre-filled into a fresh topic of a running broker and the
service runs with Kafka transactions (``read_committed``, one transaction per batch); CPU time is
then the whole process's, librdkafka's threads included, and wall-clock rates depend on the broker
sharing the machine.

No trained model is needed: the verdicts are synthetic, shaped like the five checks' real ones
(rides: ``duration`` and ``tip`` values; uploads: ``copyright`` with details, ``nsfw`` and
``violence`` with labels), interleaved by event as the checks' outputs arrive.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.stages import service_heap
from decision.joiner import Joiner
from decision.policy import load_policy
from decision.service import DecisionService, ServiceConfig
from streamjury.schemas import SourcePosition, Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from streamjury.streams.names import StreamNames

PRODUCED_AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def synthetic_verdicts(events: int, seed: int = 7) -> list[OutRecord]:
    """Verdicts of ``events`` events, half rides (2 verdicts) and half uploads (3 verdicts)."""
    rng = random.Random(seed)
    out: list[OutRecord] = []
    offsets = {"rides": 0, "uploads": 0}

    def verdict(event_id: str, kind: str, check: str, occurred: datetime, **fields: object) -> None:
        stream = f"{kind}s"
        source = SourcePosition(
            stream=stream, partition=str(rng.randrange(6)), offset=offsets[stream]
        )
        offsets[stream] += 1
        made = Verdict(
            event_id=event_id,
            event_type=kind,  # type: ignore[arg-type]
            check=check,
            model_name=f"{check}-model",
            model_version="20261204-1",
            event_occurred_at=occurred,
            produced_at=PRODUCED_AT,
            source=source,
            **fields,  # type: ignore[arg-type]
        )
        out.append(OutRecord(event_id, made.to_bytes()))

    for n in range(events):
        occurred = PRODUCED_AT - timedelta(seconds=rng.randrange(3600), microseconds=n)
        if n % 2 == 0:
            event_id = f"ride-{n:08d}"
            verdict(event_id, "ride", "duration", occurred, value=round(rng.uniform(3, 70), 2))
            verdict(event_id, "ride", "tip", occurred, value=round(rng.uniform(0, 12), 2))
        else:
            event_id = f"upload-{n:08d}"
            copyright_score = rng.choice([0.0, 0.0, 0.0, 0.45, 0.97])
            verdict(
                event_id,
                "upload",
                "copyright",
                occurred,
                score=copyright_score,
                label="match" if copyright_score >= 0.9 else "clear",
                details={
                    "best_match": f"{rng.getrandbits(64):016x}",
                    "distance": rng.randrange(64),
                },
            )
            for check in ("nsfw", "violence"):
                score = round(rng.random() ** 3, 6)
                verdict(
                    event_id, "upload", check, occurred, score=score,
                    label="flag" if score >= 0.5 else "clear",
                )  # fmt: skip
    return out


def run_once(
    verdicts: Sequence[OutRecord],
    batch_size: int,
    profiler: cProfile.Profile | None = None,
    digest: hashlib._Hash | None = None,
    young_every: int | None = None,
) -> tuple[int, float, float]:
    """(verdicts joined, CPU seconds, wall seconds) of one service run over ``verdicts``, with
    a service process's garbage-collector settings (``young_every``: another spacing)."""
    backend = MemoryBackend(partitions=6)
    names = StreamNames("")
    backend.ensure_streams([names.verdicts, names.decisions, names.deadletter])
    # Not compacted here: the memory backend compacts by scanning the partition on every write,
    # a cost of the test double that a broker does not have. The service only checks that it
    # exists with matching partitions.
    backend.ensure_streams([names.decision_state])
    producer = backend.producer()
    producer.send(names.verdicts, list(verdicts))
    producer.flush()
    producer.close()
    clock_now = [1_800_000_000.0]

    def clock() -> float:
        clock_now[0] += 0.001
        return clock_now[0]

    joiner = Joiner(load_policy(None), retention_s=3600.0)
    service = DecisionService(
        backend,
        joiner,
        names,
        ServiceConfig(group="bench", writer_id="bench-writer", batch_size=batch_size),
        clock=clock,
    )
    with service, service_heap(young_every):
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        while service.stats.verdicts + service.stats.dead_letters < len(verdicts):
            service.step()
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if digest is not None:
        for stream in (names.decisions, names.decision_state, names.deadletter):
            if stream in backend.list_streams():
                for partition in backend.partitions(stream):
                    for record in backend.read_partition(stream, partition):
                        digest.update(f"{stream}/{partition}/{record.key}:".encode())
                        digest.update(record.value)
    return service.stats.verdicts, cpu, wall


def run_kafka(
    bootstrap: str,
    verdicts: Sequence[OutRecord],
    batch_size: int,
    young_every: int | None = None,
) -> tuple[int, float, float]:
    """(verdicts joined, CPU seconds, wall seconds) of one service run on Kafka, start-up
    excluded, with a service process's garbage-collector settings (as ``run_once``)."""
    from bench.stages import fresh_prefix, prefill
    from decision.app import build_service
    from decision.settings import DecisionSettings
    from streamjury.settings import KafkaSettings
    from streamjury.streams.factory import open_backend

    prefix = fresh_prefix("decision-hotpath")
    settings = DecisionSettings(
        backend="kafka",
        kafka=KafkaSettings(bootstrap=bootstrap),
        stream_prefix=prefix,
        group=f"{prefix}decision",
        batch_size=batch_size,
    )
    prefill(settings, StreamNames(prefix).verdicts, verdicts)
    backend = open_backend(settings)
    service = build_service(settings, backend, load_policy(None))
    try:
        with service:
            while service.stats.verdicts == 0:  # joined, restored, first batch in
                service.step()
            seen = service.stats.verdicts
            with service_heap(young_every):
                cpu, wall = time.process_time(), time.perf_counter()
                while service.stats.verdicts + service.stats.dead_letters < len(verdicts):
                    service.step()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        backend.close()
    return service.stats.verdicts - seen, cpu, wall


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=8000, help="events (2.5 verdicts each)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of one more run to this file")
    parser.add_argument("--check-outputs", action="store_true", help="print a digest of outputs")
    parser.add_argument("--bootstrap", help="run on this Kafka broker instead of in memory")
    parser.add_argument(
        "--young-every",
        type=int,
        help="allocations between young garbage collections (default: the services' own)",
    )
    args = parser.parse_args(argv)
    verdicts = synthetic_verdicts(args.events)
    if args.bootstrap:
        for n in range(args.repeat):
            done, cpu, wall = run_kafka(
                args.bootstrap, verdicts, args.batch_size, young_every=args.young_every
            )
            print(
                f"kafka run {n + 1}: {done} verdicts, {cpu / done * 1e6:.1f} µs CPU/verdict "
                f"(process, librdkafka included), {done / wall:,.0f} verdicts/s wall"
            )
        return
    run_once(verdicts[:500], args.batch_size)  # warm-up: imports, caches
    best = None
    for n in range(args.repeat):
        done, cpu, wall = run_once(verdicts, args.batch_size, young_every=args.young_every)
        per = cpu / done * 1e6
        best = per if best is None else min(best, per)
        print(
            f"run {n + 1}: {done} verdicts, {per:.1f} µs CPU/verdict ({done / cpu:,.0f}/s CPU), "
            f"wall {done / wall:,.0f}/s"
        )
    if best is not None:
        print(f"best: {best:.1f} µs CPU/verdict = {1e6 / best:,.0f} verdicts/s of CPU")
    if args.check_outputs:
        digest = hashlib.sha256()
        run_once(verdicts, args.batch_size, digest=digest)
        print(f"outputs sha256: {digest.hexdigest()}")
    if args.profile:
        profiler = cProfile.Profile()
        run_once(verdicts, args.batch_size, profiler=profiler)
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile}")


if __name__ == "__main__":
    main()
