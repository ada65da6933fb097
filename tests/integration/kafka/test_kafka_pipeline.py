"""The whole pipeline on Kafka, as separate OS processes: consumers, decision services, the demo.

Processes are SIGKILLed and the broker restarted mid-run; every event must still end with
exactly one current decision (read with read_committed), and every ride with a verdict.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models.store import ensure_trained
from streamjury.demo.events import (
    demo_events,
    expected_dead_letters,
)
from streamjury.demo.orchestrator import Orchestrator, ServiceSpec
from streamjury.demo.services import checks_by_stream
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.schemas import DeadLetter, Decision, utc_now
from streamjury.settings import KafkaSettings
from streamjury.streams.kafka import KafkaBackend
from tests.integration.kafka.pipeline import (
    Pipeline,
    Restarts,
    assert_exactly_one_current_decision,
    clean_env,
)
from tests.integration.kafka.pipeline import wait_until as wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

WAIT_S = 90.0
CHUNK = 50


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five models, trained once for the module on a small data set."""
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=2000)
    return folder


@pytest.fixture
def env(models: Path) -> dict[str, str]:
    return clean_env(models)


@pytest.fixture
def pipeline(
    kafka_backend: KafkaBackend, kafka_broker: LocalKafkaBroker, stream_prefix: str
) -> Pipeline:
    return Pipeline(kafka_backend, kafka_broker.bootstrap_servers, stream_prefix)


def wait_until(condition: Callable[[], bool], what: str, check: Callable[[], None]) -> None:
    wait_for(condition, what, check, WAIT_S)


def owned_partitions(log_path: Path, stream: str) -> set[str]:
    """Partitions of ``stream`` a service owns now, replaying the assigned / revoked lines
    the Kafka consumer logs at each rebalance."""
    owned: set[str] = set()
    for line in log_path.read_text(errors="replace").splitlines():
        for verb in ("assigned", "revoked", "lost"):
            marker = f": {verb} {stream} ["
            if marker in line:
                partitions = set(line.split(marker, 1)[1].split("]", 1)[0].split(", "))
                owned = owned | partitions if verb == "assigned" else owned - partitions
    return owned


# -- the demo ----------------------------------------------------------------------------------


def run_demo_on_kafka(
    tmp_path: Path, env: dict[str, str], broker: LocalKafkaBroker, models: Path, *flags: str
) -> tuple[dict[str, Any], list[Decision]]:
    """``streamjury demo --backend kafka`` with 150 rides and uploads: its JSON summary, and
    the decisions it left on the broker (to check what it says against)."""
    command = [sys.executable, "-m", "streamjury.cli.main", "demo", "--backend", "kafka"]
    command += ["--bootstrap", broker.bootstrap_servers, "--count", "150", "--json"]
    command += ["--models", str(models), *flags]

    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )

    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    backend = KafkaBackend(KafkaSettings(bootstrap=broker.bootstrap_servers))
    try:
        stream = f"{summary['run']['stream_prefix']}decisions"
        decisions = [
            Decision.model_validate_json(r.value)
            for p in backend.partitions(stream)
            for r in backend.read_partition(stream, p)
        ]
    finally:
        backend.close()
    return summary, decisions


def test_the_demo_decides_every_event_exactly_once_on_kafka(
    tmp_path: Path, env: dict[str, str], kafka_broker: LocalKafkaBroker, models: Path
) -> None:
    summary, decisions = run_demo_on_kafka(tmp_path, env, kafka_broker, models)

    assert summary["ok"] is True, summary["problems"]
    assert summary["decisions"]["exactly_one_current"] is True
    assert summary["decisions"]["events"] == 300
    assert summary["dead_letters"] == {"records": 12, "missing": 0, "unexpected": 0}
    # What the demo says, checked against the topics it left on the broker.
    assert len({d.event_id for d in decisions}) == 300
    assert set(Counter((d.event_id, d.revision) for d in decisions).values()) == {1}


def test_the_demo_with_co_located_checks_decides_every_event_exactly_once_on_kafka(
    tmp_path: Path, env: dict[str, str], kafka_broker: LocalKafkaBroker, models: Path
) -> None:
    summary, decisions = run_demo_on_kafka(tmp_path, env, kafka_broker, models, "--co-locate")

    assert summary["ok"] is True, summary["problems"]
    assert summary["decisions"]["exactly_one_current"] is True
    assert summary["decisions"]["events"] == 300
    # One consumer per stream: each malformed record is dead-lettered once, not once per check.
    assert summary["dead_letters"] == {"records": 5, "missing": 0, "unexpected": 0}
    assert set(Counter((d.event_id, d.revision) for d in decisions).values()) == {1}
    assert {(d.event_type, v.check) for d in decisions for v in d.verdicts} == EVERY_CHECK


EVERY_CHECK = {
    ("ride", "duration"),
    ("ride", "tip"),
    ("upload", "copyright"),
    ("upload", "nsfw"),
    ("upload", "violence"),
}


# -- consumers ---------------------------------------------------------------------------------


def test_when_one_of_two_consumers_of_a_check_is_killed_the_other_scores_its_rides(
    tmp_path: Path, env: dict[str, str], models: Path, pipeline: Pipeline
) -> None:
    (duration,) = [spec for spec in pipeline.services(models) if spec.name == "duration"]
    specs = [ServiceSpec("duration-a", duration.args), ServiceSpec("duration-b", duration.args)]
    events = [
        e
        for e in demo_events(seed=3, count=300, bad=0, start=utc_now()).valid
        if e.event_type == "ride"
    ]
    rides = pipeline.names.rides

    def scored() -> set[str]:
        return {r.key for r in pipeline.records("verdicts")}

    with Orchestrator(specs, tmp_path / "logs", env=env, cwd=tmp_path) as services:
        services.start_all()
        pipeline.publish(events[:100])

        def owners() -> list[set[str]]:
            return [
                owned_partitions(services[n].log_path, rides) for n in ("duration-a", "duration-b")
            ]

        wait_until(
            lambda: all(owners()), "both consumers to own partitions", services.check_running
        )
        wait_until(lambda: len(scored()) >= 50, "the first verdicts", services.check_running)
        split = owners()
        services.kill("duration-a")
        pipeline.publish(events[100:])
        wait_until(
            lambda: scored() >= {e.event_id for e in events},
            "every verdict",
            services.check_running,
        )
        survivor_owns = owners()[1]
        exits = services.stop_all()

    assert exits["duration-b"] == 0
    assert split[0].isdisjoint(split[1]), split
    assert split[0] | split[1] == set(pipeline.backend.partitions(rides))
    assert survivor_owns == split[0] | split[1]  # b took a's partitions over


# -- the decision service ----------------------------------------------------------------------


def test_two_decision_services_split_the_work_and_survive_a_sigkill_with_exact_accounting(
    tmp_path: Path, env: dict[str, str], models: Path, pipeline: Pipeline
) -> None:
    specs = pipeline.services(models)
    (decide,) = [spec for spec in specs if spec.name == "decision"]
    specs = [*[s for s in specs if s.name != "decision"], ServiceSpec("decision-a", decide.args)]
    specs.append(ServiceSpec("decision-b", (*decide.args, "--instance", "1")))
    events = demo_events(seed=11, count=200, bad=0, start=utc_now()).valid
    expected = {event.event_id for event in events}
    chunks = [events[n : n + CHUNK] for n in range(0, len(events), CHUNK)]
    verdicts = pipeline.names.verdicts

    with Orchestrator(specs, tmp_path / "logs", env=env, cwd=tmp_path) as services:

        def owners() -> list[set[str]]:
            return [
                owned_partitions(services[n].log_path, verdicts)
                for n in ("decision-a", "decision-b")
            ]

        services.start_all()
        wait_until(
            lambda: all(owners()), "both instances to own partitions", services.check_running
        )
        split = owners()
        for chunk in chunks[:3]:
            pipeline.publish(chunk)
        wait_until(
            lambda: len(pipeline.decided()) >= 100, "first decisions", services.check_running
        )
        assert owners() == split
        assert services.kill("decision-a") == -signal.SIGKILL
        decided_before_kill = len(pipeline.decided())
        for chunk in chunks[3:6]:  # verdicts keep coming while decision-a is dead
            pipeline.publish(chunk)
        services.start("decision-a")
        for chunk in chunks[6:]:
            pipeline.publish(chunk)
        wait_until(lambda: pipeline.decided() == expected, "every decision", services.check_running)
        exits = services.stop_all()

    assert all(split), split  # both instances had work...
    assert split[0].isdisjoint(split[1]), split  # ...and no partition had two owners
    assert 0 < decided_before_kill < len(expected), "the kill did not land mid-run"
    assert exits == dict.fromkeys(exits, 0), exits
    decisions = pipeline.decisions()
    assert_exactly_one_current_decision(decisions, expected)
    timed_out = [d.event_id for d in decisions if d.missing_checks and d.outcome != "remove"]
    assert timed_out == [], "joins in flight at the kill were not restored from the changelog"


# -- the broker ---------------------------------------------------------------------------------


def test_the_pipeline_rides_out_a_broker_restart_without_losing_or_repeating_a_decision(
    tmp_path: Path,
    env: dict[str, str],
    models: Path,
    pipeline: Pipeline,
    kafka_broker: LocalKafkaBroker,
) -> None:
    run = demo_events(seed=5, count=200, bad=5, start=utc_now())
    expected = {event.event_id for event in run.valid}
    half = len(run.timed) // 2

    with Orchestrator(
        pipeline.services(models), tmp_path / "logs", env=env, cwd=tmp_path
    ) as services:
        services.start_all()
        pipeline.publish([*run.warmup, *run.timed[:half]])
        wait_until(lambda: len(pipeline.decided()) > 0, "a first decision", services.check_running)
        kafka_broker.restart()
        pipeline.publish(run.timed[half:])
        # A service that was still starting when the broker went away may exit; it is
        # restarted as an orchestrator would (the broker may take a minute on a busy machine).
        restarts = Restarts(services)
        wait_for(lambda: pipeline.decided() == expected, "every decision", restarts, 3 * WAIT_S)
        exits = services.stop_all()

    assert exits == dict.fromkeys(exits, 0), exits
    assert_exactly_one_current_decision(pipeline.decisions(), expected)
    letters = [DeadLetter.model_validate_json(r.value) for r in pipeline.records("deadletter")]
    wanted = expected_dead_letters(run.malformed, checks_by_stream())
    # At least once: a batch retried across the restart may repeat a letter, never lose one.
    assert {(d.stage, d.original) for d in letters} == set(wanted)
