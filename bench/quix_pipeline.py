"""The same pipeline written with Quix Streams: one app per check, one stateful decision app.

Same models, topics, wire formats and policy as streamjury; Quix's own exactly-once guarantee.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHECK_GROUP = "quix-{check}"
DECISION_GROUP = "quix-decision"


@dataclass(frozen=True, slots=True)
class QuixServiceSpec:
    """A service for the demo's Orchestrator: ``python bench/quix_pipeline.py ARGS``."""

    name: str
    args: tuple[str, ...]

    def command(self, python: str) -> list[str]:
        return [python, "-m", "bench.quix_pipeline", *self.args]


def quix_services(settings: Any, models: str, prefix: str) -> list[QuixServiceSpec]:
    """The five check apps and the decision app, on ``settings``' broker and stream prefix."""
    from consumers.registry import CHECKS

    common = ("--bootstrap", settings.kafka.bootstrap, "--prefix", settings.stream_prefix)
    specs = [
        QuixServiceSpec(
            check,
            ("check", check, *common, "--models", models, "--group", f"{prefix}quix-{check}"),
        )
        for check in CHECKS
    ]
    specs.append(
        QuixServiceSpec("decision", ("decide", *common, "--group", f"{prefix}{DECISION_GROUP}"))
    )
    return specs


def _application(bootstrap: str, group: str, state_dir: str | None = None) -> Any:
    from quixstreams import Application

    kwargs: dict[str, Any] = {
        "broker_address": bootstrap,
        "consumer_group": group,
        "auto_offset_reset": "earliest",
        "processing_guarantee": "exactly-once",
        "loglevel": "WARNING",
        "auto_create_topics": True,
    }
    if state_dir is not None:
        kwargs["state_dir"] = state_dir
    return Application(**kwargs)


def run_check(bootstrap: str, prefix: str, check: str, models: str, group: str) -> None:
    """Per message, as Quix runs it: decode, validate, predict one row, emit one verdict."""
    from consumers.batch import process_batch
    from consumers.registry import CHECKS
    from models.store import ModelStore
    from streamjury.streams.base import Record

    spec = CHECKS[check]
    model = spec.load_model(ModelStore(models))
    app = _application(bootstrap, group)
    source = app.topic(f"{prefix}{spec.stream}", key_deserializer="str", value_deserializer="bytes")
    verdicts = app.topic(f"{prefix}verdicts", key_serializer="str", value_serializer="bytes")
    stage = f"consumer:{check}"

    def score(value: bytes, key: str, timestamp: int, headers: Any) -> bytes | None:
        record = Record(source.name, "0", 0, key, value, timestamp)
        outcome = process_batch(spec, model, [record], stage=stage).outcomes[0]
        return None if outcome.verdict is None else outcome.verdict.to_bytes()

    sdf = app.dataframe(source)
    sdf = sdf.apply(score, metadata=True).filter(lambda value: value is not None)
    sdf.to_topic(verdicts)
    app.run()


def run_decision(bootstrap: str, prefix: str, group: str, state_dir: str) -> None:
    """Join verdicts per event in Quix state (RocksDB); emit a decision when the policy rules."""
    from decision.join_state import JoinState, decide, record_verdict
    from decision.policy import load_policy
    from streamjury.schemas import Verdict

    policy = load_policy()
    app = _application(bootstrap, group, state_dir)
    verdicts = app.topic(f"{prefix}verdicts", key_deserializer="str", value_deserializer="bytes")
    decisions = app.topic(f"{prefix}decisions", key_serializer="str", value_serializer="bytes")

    def join(value: bytes, state: Any) -> bytes | None:
        verdict = Verdict.model_validate_json(value)
        raw = state.get("join")
        held = None if raw is None else JoinState.from_bytes(raw.encode())
        if held is not None and held.decided is not None:
            return None  # decided already: no timers here, so no amendments either
        updated = record_verdict(held, verdict, time.time())
        if updated is None:
            return None
        updated, decision = decide(updated, policy, time.time())
        state.set("join", updated.to_bytes().decode())  # Quix state holds JSON values
        return None if decision is None else decision.to_bytes()

    sdf = app.dataframe(verdicts)
    sdf = sdf.apply(join, stateful=True).filter(lambda value: value is not None)
    sdf.to_topic(decisions)
    app.run()


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("check")
    check.add_argument("--models", required=True)
    decide_ = sub.add_parser("decide")
    decide_.add_argument("--state-dir", default=None)
    for p in (check, decide_):
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--prefix", default="")
        p.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "check":
        run_check(args.bootstrap, args.prefix, args.check, args.models, args.group)
    else:
        import tempfile

        state_dir = args.state_dir or tempfile.mkdtemp(prefix="quix-state-")
        run_decision(args.bootstrap, args.prefix, args.group, state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
