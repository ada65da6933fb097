"""``python -m bench``: the whole suite in one run, written to docs/benchmarks.md and its plots.

Every comparison is measured side by side in this one run; ``--size smoke`` runs it all tiny.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.sizes import SIZES, Size

log = logging.getLogger("bench")

TRIED_SETTINGS = {"STREAMJURY_CONSUMER_BATCH_TIMEOUT_MS": "5"}
"""Batching settings tried against the defaults, side by side (docs/benchmarks.md says why)."""
TRIED_LABEL = "streamjury (5 ms consumer batches)"
DECISION_INSTANCES = (1, 2)
"""Decision services measured alone: one process, and one per core (the way past one core)."""


def versions() -> dict[str, str]:
    """The library versions this interpreter measured with (they differ between venvs)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("confluent-kafka", "quixstreams", "numpy", "scikit-learn", "pydantic"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def has_quix() -> bool:
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        return False
    return True


def run_suite(size: Size, bootstrap: str, models: Path, work: Path, say: Any) -> dict[str, Any]:
    """Every measurement of the suite; a JSON-ready dict."""
    from bench import lambda_bench, pipeline, stages
    from bench.quix_pipeline import quix_services
    from consumers.registry import CHECKS
    from models.store import ModelStore

    store = ModelStore(models)
    loaded = {name: (spec, spec.load_model(store)) for name, spec in CHECKS.items()}
    results: dict[str, Any] = {"versions": versions(), "size": size.name, "started": time.time()}

    say("one check alone: streamjury at each batch size, raw passthrough, tutorial style")
    spec, model = loaded["duration"]
    payloads = stages.event_payloads(spec, size.check_events)
    check_rows = []
    for _ in range(size.repeat):  # taking turns, so a busy spell slows every way alike
        row: dict[str, Any] = {"passthrough": stages.passthrough(bootstrap, payloads).per_second}
        for batch in size.batch_sizes:
            events = payloads[: size.events_at_batch(batch)]
            row[f"batch {batch}"] = stages.streamjury_check(
                bootstrap, spec, model, events, batch
            ).per_second
        row["tutorial"] = stages.tutorial_check(
            bootstrap, spec, model, payloads[: size.tutorial_events]
        ).per_second
        check_rows.append(row)
        say(f"  {json.dumps({k: round(v) for k, v in row.items()})}")
    results["check"] = check_rows

    say("each check at the default batch size")
    per_check = {}
    for name, (spec, model) in loaded.items():
        events = stages.event_payloads(spec, size.check_events)
        per_check[name] = stages.streamjury_check(bootstrap, spec, model, events, 500).per_second
    results["checks"] = per_check

    say("the decision service alone, with Kafka transactions")
    verdicts = stages.verdict_payloads(loaded, size.decision_events)
    decision_rows = []
    for _ in range(size.repeat):  # taking turns, as the checks do
        for instances in DECISION_INSTANCES:
            rate = stages.decision_processes(bootstrap, verdicts, instances, work)
            decision_rows.append({"instances": instances, **asdict(rate)})
    results["decision"] = decision_rows
    results["decision_verdicts"] = len(verdicts)

    say("producer CLI and record/replay")
    results["cli"] = stages.cli_figures(bootstrap, size.cli_events, work)

    say("Lambda handler, dry run")
    spec, model = loaded["duration"]
    figures = lambda_bench.measure_lambda(
        spec, model, stages.event_payloads(spec, 100), models, repeat=size.lambda_repeat
    )
    results["lambda"] = json.loads(json.dumps(asdict(figures)))

    phases = [pipeline.Phase(rate, size.phase_events(rate)) for rate in size.offered_loads]
    say(f"whole pipeline, streamjury: {', '.join(str(p.rate or 'max') for p in phases)}")
    profile_dir = Path("docs/profiles") if size.profile else None
    ours = pipeline.run_session(
        bootstrap,
        str(models),
        phases,
        work_dir=work / "streamjury",
        profile_dir=profile_dir,
        profile_phase=len(phases) - 1,
        warm_up_s=size.warm_up_s,
        say=say,
    )
    results["pipeline"] = [asdict(run) for run in ours]
    variants = (  # streamjury again beside its defaults: other settings or another deployment
        (
            TRIED_LABEL,
            "tried",
            size.tried_settings_loads,
            pipeline.streamjury_services,
            TRIED_SETTINGS,
        ),
        (
            pipeline.CO_LOCATED,
            "co-located",
            size.co_located_loads,
            pipeline.deployment(co_locate=True),
            {},
        ),
        (
            pipeline.TWO_DECIDERS,
            "two-deciders",
            size.two_deciders_loads,
            pipeline.deployment(co_locate=True, decision_instances=2),
            {},
        ),
    )
    for system, work_dir, loads, services_for, env in variants:
        if not loads:
            continue
        say(f"whole pipeline, {system}")
        runs = pipeline.run_session(
            bootstrap,
            str(models),
            [pipeline.Phase(rate, size.phase_events(rate)) for rate in loads],
            work_dir=work / work_dir,
            system=system,
            services_for=services_for,
            env=env,
            warm_up_s=size.warm_up_s,
            say=say,
        )
        results["pipeline"] += [asdict(run) for run in runs]
    if has_quix():
        quix_phases = [
            pipeline.Phase(rate, size.phase_events(rate, "quix")) for rate in size.quix_loads
        ]
        say(f"whole pipeline, Quix Streams: {', '.join(str(p.rate or 'max') for p in quix_phases)}")
        quix = pipeline.run_session(
            bootstrap,
            str(models),
            quix_phases,
            work_dir=work / "quix",
            system="quix",
            services_for=quix_services,
            warm_up_s=size.warm_up_s,
            say=say,
        )
        results["pipeline"] += [asdict(run) for run in quix]
    else:
        say("quixstreams is not installed here: the Quix pipeline is skipped (use .venv-bench)")
    results["finished"] = time.time()
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--bootstrap", help="a running broker; default: start the project's own")
    parser.add_argument("--models", type=Path, default=Path(".streamjury/models"))
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    parser.add_argument(
        "--report", type=Path, default=None, help="write the markdown report here (and plots)"
    )
    parser.add_argument("--from-json", type=Path, default=None, help="only render these results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def say(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    else:
        from models.store import ensure_trained
        from streamjury.devservers.kafka import LocalKafkaBroker

        size = SIZES[args.size]
        models = args.models.resolve()
        ensure_trained(str(models))
        with ExitStack() as stack:
            bootstrap = args.bootstrap
            if bootstrap is None:
                say("starting the project's Kafka broker")
                bootstrap = stack.enter_context(LocalKafkaBroker()).bootstrap_servers
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            results = run_suite(size, bootstrap, models, work, say)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
    if args.report is not None:
        from bench.report import write_report

        write_report(results, args.report)
        say(f"report written to {args.report}")
    else:
        from bench.report import summary_lines

        print("\n".join(summary_lines(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
