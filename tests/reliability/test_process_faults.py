"""Process faults on every real backend (the local log, the session's Kafka broker, kinesis-local):
events with hostile records mixed in, every consumer and the decision service SIGKILLed at seeded
random moments (and some SIGTERMed), each restarted at once as an orchestrator would; on Kinesis
also throttled calls and failed PutRecords entries; then an exact accounting of what came out.

One code path for every backend; only the sizes differ (``CI_EVENTS``), and
``STREAMJURY_CHAOS_EVENTS=20000`` gives every backend the issue's full size."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumers.settings import default_group
from decision.settings import DEFAULT_GROUP as DECISION_GROUP
from producers.synthetic import protected_fingerprints
from streamjury.demo.events import demo_events
from streamjury.demo.orchestrator import Orchestrator
from streamjury.demo.services import (
    DECISION_SERVICE,
    checks_by_stream,
    consumer_checks,
    consumers_by_stream,
    pipeline_services,
)
from streamjury.demo.settings import DemoSettings
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.schemas import RideEvent, UploadEvent, utc_now
from streamjury.settings import KafkaSettings, KinesisSettings
from streamjury.streams.base import Backend, OutRecord
from streamjury.streams.factory import open_backend
from streamjury.streams.names import (
    COMPACTED_STREAMS,
    PIPELINE_STREAMS,
    STREAM_OF_EVENT_TYPE,
    StreamNames,
)
from tests.aws_env import DEVELOPER_AWS_VARS, use_kinesis_local
from tests.reliability.accounting import (
    Expected,
    account,
    for_every_reader,
    read_outputs,
    read_verdicts,
)
from tests.reliability.hostile import hostile_records
from tests.reliability.kinesis_faults import FaultPlan, FaultRates, KinesisFaultProxy
from tests.reliability.progress import Decided, Drained

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
log = logging.getLogger(__name__)

SEED = int(os.environ.get("STREAMJURY_CHAOS_SEED", "1103"))
EVENTS_ENV = "STREAMJURY_CHAOS_EVENTS"
CI_EVENTS = {"local": 20_000, "kafka": 4_000, "kinesis": 2_000}
"""Rides and uploads together, per backend, sized so that the suite stays within its CI budget;
``STREAMJURY_CHAOS_EVENTS`` overrides them all (the issue asks for 20,000)."""
AT_LEAST_ONCE_DECISIONS = frozenset({"kinesis"})
"""Backends whose decisions may be redelivered (identical copies), see docs/reliability.md."""
CHUNKS = 40
"""Publishing is split into this many chunks; faults land between them."""
KILLS_PER_SERVICE = 2
SIGTERMS = 3
STOP_GRACE_S = 60.0
"""SIGTERM to exit: the batch in hand, then interpreter shutdown, whose final garbage collection
of the loaded models alone takes seconds on a busy machine."""
PUBLISH_TIMEOUT_S = 300.0
"""kinesis-local, starved of CPU by six services on a busy two-core machine, may leave a
PutRecords call unanswered past the client's 30 s read timeout: the putter then tries again."""
WAIT_S = 420.0
"""An upper bound for the whole run to drain; a quiet machine needs a fraction of it."""


@dataclass(frozen=True)
class Fault:
    after_chunk: int
    service: str
    signum: signal.Signals


def fault_plan(services: Sequence[str], chunks: int, rng: random.Random) -> list[Fault]:
    """Each service SIGKILLed ``KILLS_PER_SERVICE`` times and a few SIGTERMed, at random chunks."""
    faults = [
        Fault(rng.randrange(1, chunks), service, signal.SIGKILL)
        for service in services
        for _ in range(KILLS_PER_SERVICE)
    ]
    faults += [
        Fault(rng.randrange(1, chunks), rng.choice(services), signal.SIGTERM)
        for _ in range(SIGTERMS)
    ]
    return sorted(faults, key=lambda fault: fault.after_chunk)


@dataclass
class Run:
    """What one run put in, to be accounted for."""

    records: list[tuple[str, OutRecord]]
    expected: Expected


def events_per_type(backend: str) -> int:
    return int(os.environ.get(EVENTS_ENV, CI_EVENTS[backend])) // 2


def build_run(tag: str, per_type: int, co_locate: bool = False) -> Run:
    events = demo_events(seed=SEED, count=per_type, bad=0, start=utc_now()).valid
    records = [
        (STREAM_OF_EVENT_TYPE[e.event_type], OutRecord(e.event_id, e.to_bytes())) for e in events
    ]
    ride = next(e for e in events if isinstance(e, RideEvent))
    upload = next(e for e in events if isinstance(e, UploadEvent))
    hostile = hostile_records(ride, upload, tag=tag)
    rng = random.Random(SEED)
    # The same event sent twice (a producer retry), and keyed by something else than its id.
    again = rng.sample(records, 20)
    rekeyed = [
        (stream, OutRecord(f"other-key-{n}", r.value)) for n, (stream, r) in enumerate(again)
    ]
    # The same event_id sent again with other content: a protected fingerprint this time.
    protected = protected_fingerprints()[0]
    uploads = [e for e in events if isinstance(e, UploadEvent)]
    conflicting = [
        e.model_copy(update={"content_fingerprint": protected}) for e in rng.sample(uploads, 10)
    ]
    mixed: list[tuple[str, OutRecord]] = [
        *records,
        *((h.stream, OutRecord(h.key, h.payload)) for h in hostile),
        *again,
        *rekeyed,
    ]
    rng.shuffle(mixed)
    tail = [("uploads", OutRecord(e.event_id, e.to_bytes())) for e in conflicting]
    return Run(
        records=[*mixed, *tail],  # conflicts after their originals
        expected=Expected(
            events=frozenset(e.event_id for e in events),
            dead_letters=for_every_reader(
                ((h.stream, h.payload) for h in hostile), consumers_by_stream(co_locate)
            ),
            conflicts=frozenset(e.event_id for e in conflicting),
            verdicts=frozenset(
                (e.event_id, check)
                for e in events
                for check in checks_by_stream()[STREAM_OF_EVENT_TYPE[e.event_type]]
            ),
        ),
    )


def publish(backend: Backend, names: StreamNames, records: Sequence[tuple[str, OutRecord]]) -> None:
    producer = backend.producer()
    try:
        by_stream: dict[str, list[OutRecord]] = {}
        for stream, record in records:
            by_stream.setdefault(names.physical(stream), []).append(record)
        for stream, batch in by_stream.items():
            producer.send(stream, batch)
        producer.flush(PUBLISH_TIMEOUT_S)
    finally:
        producer.close()


@pytest.fixture
def env(reliability_models: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    return {
        **clean,
        "STREAMJURY_MODELS": str(reliability_models),
        "STREAMJURY_HTTP_PORT": "0",
        "PYTHONFAULTHANDLER": "1",
    }


@dataclass
class Target:
    """Where a run goes: the services' settings, the test's own (the same, except on Kinesis,
    where the services go through the fault proxy and the test reads kinesis-local directly),
    the environment the services need, and the proxy's faults."""

    services: DemoSettings
    observer: DemoSettings
    env: dict[str, str]
    faults: FaultPlan | None = None


@pytest.fixture(
    params=[
        "local",
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("kinesis", marks=pytest.mark.kinesis),
    ]
)
def target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Target]:
    prefix = f"chaos{uuid.uuid4().hex[:8]}-"
    if request.param == "local":
        settings = DemoSettings(backend="local", local_dir=tmp_path / "log")
        yield Target(settings, settings, env)
    elif request.param == "kafka":
        broker: LocalKafkaBroker = request.getfixturevalue("kafka_broker")
        kafka = KafkaSettings(bootstrap=broker.bootstrap_servers)
        settings = DemoSettings(backend="kafka", stream_prefix=prefix, kafka=kafka)
        yield Target(settings, settings, env)
    else:
        with kinesis_target(request, tmp_path, env, monkeypatch, prefix) as kinesis:
            yield kinesis


@contextmanager
def kinesis_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
) -> Iterator[Target]:
    """kinesis-local behind the fault proxy; the streams are deleted afterwards (kinesis-local
    is shared by the session)."""
    server: LocalKinesis = request.getfixturevalue("kinesis_local")
    aws = use_kinesis_local(monkeypatch, server)
    for name in DEVELOPER_AWS_VARS:
        env.pop(name, None)
    plan = FaultPlan(FaultRates(), seed=SEED, clock=time.monotonic)
    with KinesisFaultProxy(server.endpoint_url, plan) as proxy:

        def settings(endpoint: str) -> DemoSettings:
            kinesis = KinesisSettings(endpoint_url=endpoint, region=server.region)
            return DemoSettings(
                backend="kinesis", stream_prefix=prefix, local_dir=tmp_path / "log", kinesis=kinesis
            )

        try:
            yield Target(
                settings(proxy.endpoint_url), settings(server.endpoint_url), {**env, **aws}, plan
            )
        finally:
            admin = server.client()
            for name in admin.list_streams(Limit=1000)["StreamNames"]:
                if name.startswith(prefix):
                    admin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


RUNNING = ("running model", "decision service started")
"""What a service logs once its stop-signal handlers are in place."""


def wait_running(services: Orchestrator, name: str, since: int) -> None:
    """Until ``name`` logged that it runs (after byte ``since`` of its log): a SIGTERM before
    that ends it by the default action, which tests nothing."""
    deadline = time.monotonic() + WAIT_S
    path = services[name].log_path
    while not any(
        phrase in path.read_bytes()[since:].decode(errors="replace") for phrase in RUNNING
    ):
        services.check_running()
        assert time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.2)


def sigterm(services: Orchestrator, name: str) -> int:
    """SIGTERM ``name`` and wait for its exit code; if it overruns, SIGABRT it so Python's
    faulthandler writes every thread's stack to its log, and fail with that."""
    service = services[name]
    service.signal(signal.SIGTERM)
    code = service.wait(STOP_GRACE_S)
    if code is None:
        service.signal(signal.SIGABRT)
        service.wait(10)
        pytest.fail(f"{name} did not exit {STOP_GRACE_S:g}s after SIGTERM:\n{service.log_tail(80)}")
    return code


def log_size(services: Orchestrator, name: str) -> int:
    path = services.log_dir / f"{name}.log"
    return path.stat().st_size if path.exists() else 0


def test_sigkills_and_sigterms_lose_and_repeat_nothing(
    tmp_path: Path, target: Target, reliability_models: Path
) -> None:
    figures = run_with_faults(tmp_path, target, reliability_models)
    print(json.dumps(figures))
    if target.faults is not None:  # the run must have met every kind of fault it claims
        kinds = ("PutRecords refused", "PutRecords entries failed", "GetRecords refused", "storms")
        assert all(target.faults.injected[kind] > 0 for kind in kinds), target.faults.injected


@pytest.mark.kafka
@pytest.mark.parametrize("target", ["kafka"], indirect=True)
def test_co_located_checks_lose_and_repeat_nothing_through_sigkills_and_sigterms(
    tmp_path: Path, target: Target, reliability_models: Path
) -> None:
    """The same faults with each stream's checks in one process (``consume duration tip``):
    one dead letter per hostile record and stream, one verdict per check and event."""
    figures = run_with_faults(tmp_path, target, reliability_models, co_locate=True)
    print(json.dumps(figures))
    assert figures["sigkills"] == (2 + 1) * KILLS_PER_SERVICE  # two consumers, one decision


def readers(names: StreamNames, prefix: str, co_locate: bool = False) -> dict[str, list[str]]:
    """Group -> the streams it reads: every consumer's input, and the decision service's."""
    groups = {
        default_group(checks, prefix): [names.physical(stream)]
        for stream, consumers in consumer_checks(co_locate).items()
        for checks in consumers
    }
    return {**groups, f"{prefix}{DECISION_GROUP}": [names.verdicts]}


def run_with_faults(
    tmp_path: Path, target: Target, models: Path, co_locate: bool = False
) -> dict[str, object]:
    settings = target.services
    names = StreamNames(settings.stream_prefix)
    backend = open_backend(target.observer)
    backend.ensure_streams([names.physical(s) for s in PIPELINE_STREAMS])
    backend.ensure_streams([names.physical(s) for s in COMPACTED_STREAMS], compacted=True)
    run = build_run(
        tag=f"chaos{SEED}", per_type=events_per_type(settings.backend), co_locate=co_locate
    )
    size = -(-len(run.records) // CHUNKS)
    chunks = [run.records[n : n + size] for n in range(0, len(run.records), size)]
    specs = pipeline_services(
        settings, str(models), group_prefix=settings.stream_prefix, co_locate=co_locate
    )
    rng = random.Random(SEED)
    plan = fault_plan([spec.name for spec in specs], len(chunks), rng)
    decided = Decided(backend, names.decisions, run.expected.events)
    drained = Drained(backend, readers(names, settings.stream_prefix, co_locate))
    started = time.monotonic()
    load = os.getloadavg()[0]
    try:
        with Orchestrator(specs, tmp_path / "logs", env=target.env, cwd=tmp_path) as services:
            services.start_all()
            started_at = dict.fromkeys((spec.name for spec in specs), 0)
            pending = list(plan)
            for index, chunk in enumerate(chunks):
                publish(backend, names, chunk)
                services.check_running()
                load = max(load, os.getloadavg()[0])
                while pending and pending[0].after_chunk <= index:
                    fault = pending.pop(0)
                    if fault.signum == signal.SIGKILL:
                        assert services.kill(fault.service) == -signal.SIGKILL
                    else:
                        wait_running(services, fault.service, started_at[fault.service])
                        assert sigterm(services, fault.service) == 0, fault
                    time.sleep(rng.uniform(0.0, 1.0))  # the orchestrator's restart delay
                    started_at[fault.service] = log_size(services, fault.service)
                    services.start(fault.service)
                time.sleep(rng.uniform(0.0, 0.3))
            published = time.monotonic()
            deadline = published + WAIT_S
            while decided.count() < len(run.expected.events) or not drained():
                services.check_running()  # no service exits on data
                load = max(load, os.getloadavg()[0])
                assert time.monotonic() < deadline, "the pipeline did not drain in time"
                time.sleep(1.0)
            finished = time.monotonic()
            exits = services.stop_all(grace_s=STOP_GRACE_S)
        decisions, letters = read_outputs(backend, names.decisions, names.deadletter)
        verdicts = read_verdicts(backend, names.verdicts)
    finally:
        backend.close()

    assert exits == dict.fromkeys(exits, 0), exits
    redeliveries = settings.backend in AT_LEAST_ONCE_DECISIONS
    accounting = account(run.expected, decisions, letters, verdicts, redeliveries=redeliveries)
    accounting.assert_exact()
    return {
        "backend": settings.backend,
        "seed": SEED,
        "events": accounting.events,
        "input_records": len(run.records),
        "hostile_dead_letters_expected": len(run.expected.dead_letters),
        "sigkills": sum(1 for f in plan if f.signum == signal.SIGKILL),
        "sigterms": sum(1 for f in plan if f.signum == signal.SIGTERM),
        "decisions": accounting.decisions,
        "amendments": accounting.amendments,
        "dead_letters": accounting.dead_letters,
        "lost": len(accounting.lost),
        "duplicated": len(accounting.duplicated),
        "redelivered": accounting.redelivered,
        "injected": dict(target.faults.injected) if target.faults is not None else {},
        "seconds": round(time.monotonic() - started, 1),
        "publishing_s": round(published - started, 1),
        "draining_s": round(finished - published, 1),
        "load_average": round(load, 1),
        "decision_service": DECISION_SERVICE,
    }
