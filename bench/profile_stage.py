"""Profiles one stage in this process with pyinstrument: the decision service or a check's consumer.

``python -m bench.profile_stage decision --bootstrap HOST:PORT`` writes docs/profiles/<stage>.txt.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from bench import stages
from consumers.registry import CHECKS
from consumers.runtime import ConsumerRuntime, RuntimeConfig
from decision.app import build_service
from decision.policy import load_policy
from decision.settings import DecisionSettings
from models.store import ModelStore
from streamjury.settings import KafkaSettings
from streamjury.streams.base import StartFrom
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames


def profile_decision(bootstrap: str, models: Path, events: int, out: Path) -> float:
    loaded = {name: (spec, spec.load_model(ModelStore(models))) for name, spec in CHECKS.items()}
    verdicts = stages.verdict_payloads(loaded, events)
    prefix = stages.fresh_prefix("profile-decision")
    settings = DecisionSettings(
        backend="kafka",
        kafka=KafkaSettings(bootstrap=bootstrap),
        stream_prefix=prefix,
        group=f"{prefix}decision",
    )
    stages.prefill(settings, StreamNames(prefix).verdicts, verdicts)
    backend = open_backend(settings)
    service = build_service(settings, backend, load_policy(None))
    from pyinstrument import Profiler

    with service:
        while service.stats.verdicts == 0:  # joined and first batch in: start-up is not profiled
            service.step()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        cpu = time.process_time()
        profiler.start()
        seen = service.stats.verdicts
        while service.stats.verdicts < len(verdicts):
            service.step()
        profiler.stop()
        cpu = time.process_time() - cpu
        elapsed = time.perf_counter() - started
    backend.close()
    done = service.stats.verdicts - seen
    _save(profiler, out / "decision-service")
    print(
        f"decision: {done} verdicts in {elapsed:.2f} s wall ({done / elapsed:,.0f}/s), "
        f"{cpu:.2f} s CPU ({cpu / done * 1e6:.1f} µs/verdict)"
    )
    return done / elapsed


def profile_check(bootstrap: str, models: Path, check: str, events: int, out: Path) -> float:
    spec = CHECKS[check]
    model = spec.load_model(ModelStore(models))
    payloads = stages.event_payloads(spec, events)
    settings = stages.kafka_settings(bootstrap, stages.fresh_prefix(f"profile-{check}"))
    names = StreamNames(settings.stream_prefix)
    source = names.physical(spec.stream)
    stages.prefill(settings, source, payloads)
    backend = open_backend(settings)
    backend.ensure_streams([names.verdicts, names.deadletter])
    producer = backend.producer()
    runtime = ConsumerRuntime(
        spec,
        model,
        producer,
        verdict_stream=names.verdicts,
        deadletter_stream=names.deadletter,
        config=RuntimeConfig(),
    )
    consumer = backend.consumer([source], f"{settings.stream_prefix}g", StartFrom.earliest())
    from pyinstrument import Profiler

    while runtime.stats.records == 0:
        runtime.run_once(consumer)
    profiler = Profiler(interval=0.0005)
    started, cpu = time.perf_counter(), time.process_time()
    seen = runtime.stats.records
    profiler.start()
    while runtime.stats.records < len(payloads):
        runtime.run_once(consumer)
    profiler.stop()
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    consumer.close()
    producer.close()
    backend.close()
    done = runtime.stats.records - seen
    _save(profiler, out / f"consumer-{check}")
    print(
        f"{check}: {done} events in {elapsed:.2f} s wall ({done / elapsed:,.0f}/s), "
        f"{cpu:.2f} s CPU ({cpu / done * 1e6:.1f} µs/event)"
    )
    return done / elapsed


def _save(profiler: object, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False)  # type: ignore[attr-defined]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", help="decision, or a check name")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--models", type=Path, default=Path(".streamjury/models"))
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=Path("docs/profiles"))
    args = parser.parse_args(argv)
    if args.stage == "decision":
        profile_decision(args.bootstrap, args.models, args.events, args.out)
    else:
        profile_check(args.bootstrap, args.models, args.stage, args.events, args.out)


if __name__ == "__main__":
    main()
