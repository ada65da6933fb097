"""Where the pipeline's latency goes, stage by stage, and what a full garbage collection costs.

    python -m bench.stage_latency                 # one 8 s phase at 1k events/s on a fresh broker
    python -m bench.stage_latency --rate 1000 --events 8000 --env STREAMJURY_CONSUMER_BATCH_TIMEOUT_MS=5
    python -m bench.stage_latency --gc            # full-collection time after loading each model
    python -m bench.stage_latency --rate 0 --events 100000 --co-locate \
        --env STREAMJURY_DECISION_BATCH_SIZE=500  # maximum throughput, another decision batch

Stages come from the decisions themselves: each first decision carries its verdicts, whose
``produced_at`` splits event -> last verdict (publisher, the checks' batch wait, scoring) from
last verdict -> decision (the decision service's poll and transaction cycle). Figures are the
docs/benchmarks.md "Where the time goes" ones; nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from streamjury.schemas import Decision


def percentiles(values: Sequence[float]) -> str:
    """The demo's own latency figures (nearest-rank percentiles), on one line."""
    from streamjury.demo.summary import Latency  # here, as ``run_stages``' imports

    latency = Latency.of(values)
    return "no samples" if latency is None else one_line(latency.figures())


def one_line(figures: Mapping[str, float]) -> str:
    """``p50 .. p95 .. p99 .. max .. ms`` from a run's latency figures."""
    return "  ".join(f"{name} {figures[name]:.0f}" for name in ("p50", "p95", "p99", "max")) + " ms"


def stages(decisions: Sequence[Decision]) -> dict[str, list[float]]:
    """Milliseconds per stage for each event's first decision that carries verdicts."""
    firsts: dict[str, Decision] = {}
    for decision in decisions:
        if decision.revision == 1 and decision.verdicts:
            firsts.setdefault(decision.event_id, decision)
    found: dict[str, list[float]] = {"event -> last verdict": [], "last verdict -> decided": []}
    found["total"] = []
    for decision in firsts.values():
        last = max(verdict.produced_at for verdict in decision.verdicts)
        found["event -> last verdict"].append(
            (last - decision.event_occurred_at).total_seconds() * 1000
        )
        found["last verdict -> decided"].append((decision.decided_at - last).total_seconds() * 1000)
        found["total"].append(
            (decision.decided_at - decision.event_occurred_at).total_seconds() * 1000
        )
    return found


def run_stages(
    rate: float, events: int, models: Path, env: dict[str, str], co_locate: bool = False
) -> None:
    from bench import pipeline  # here, so that --gc measures a consumer's imports only
    from bench.pipeline import Phase
    from streamjury.devservers.kafka import LocalKafkaBroker

    captured: list[Decision] = []
    read_models = pipeline.read_models

    def keep_decisions(backend, stream, model):  # type: ignore[no-untyped-def]
        found = read_models(backend, stream, model)
        if model is Decision:
            captured.extend(found)
        return found

    pipeline.read_models = keep_decisions  # run_session reads the decisions once, at its end
    with ExitStack() as stack:
        bootstrap = stack.enter_context(LocalKafkaBroker()).bootstrap_servers
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stages-")))
        services_for = pipeline.deployment(co_locate=co_locate)
        [run] = pipeline.run_session(
            bootstrap,
            str(models),
            [Phase(rate, events)],
            work_dir=work,
            env=env,
            services_for=services_for,
        )
    offered = f"{run.offered:,.0f} events/s" if run.offered else "as fast as possible"
    achieved = f"{run.throughput:,.0f} events/s" if run.throughput else "no rate"
    print(f"{offered} offered, {achieved} achieved, {run.headline}")
    for usage in run.usage:
        print(f"  {usage.service:24s} {run.cpu_per_event_us(usage.service):6.0f} us CPU per event")
    for name, values in stages(captured).items():
        print(f"{name:24s} {percentiles(values)}  (n={len(values)})")
    if run.latency_ms:
        print(f"{'total, to decision read':24s} {one_line(run.latency_ms)}  (timed events only)")


def full_collection_ms(models: Path, check: str) -> None:
    """A full ``gc.collect()`` in this process once it holds ``check``'s model (as a consumer
    process does, imports included), then the same after ``gc.freeze()``."""
    from consumers.registry import CHECKS
    from models.store import ModelStore

    held = CHECKS[check].load_model(ModelStore(models))
    gc.collect()
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        timings.append((time.perf_counter() - started) * 1000)
    gc.freeze()
    started = time.perf_counter()
    gc.collect()
    frozen = (time.perf_counter() - started) * 1000
    print(f"{check:10s} full collection {min(timings):5.1f} ms, after gc.freeze() {frozen:4.1f} ms")
    del held


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--models", type=Path, default=Path(".streamjury/models"))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--gc", action="store_true", help="only time full collections")
    parser.add_argument(
        "--co-locate", action="store_true", help="one consumer per stream runs all its checks"
    )
    parser.add_argument("--gc-check", help=argparse.SUPPRESS)  # one check, in a child process
    args = parser.parse_args(argv)
    from models.store import ensure_trained

    models = args.models.resolve()
    ensure_trained(str(models))
    if args.gc_check:
        full_collection_ms(models, args.gc_check)
    elif args.gc:
        from consumers.registry import CHECKS

        for check in CHECKS:  # each in a fresh interpreter, as each consumer is its own process
            command = [sys.executable, "-m", "bench.stage_latency", "--models", str(models)]
            subprocess.run([*command, "--gc-check", check], check=True)
    else:
        env = dict(item.split("=", 1) for item in args.env)
        run_stages(args.rate, args.events, models, env, args.co_locate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
