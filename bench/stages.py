"""Each stage alone on the real Kafka broker: a check's consumer, the decision service, passthrough.

Rates come from the output records' own timestamps (first to last), so start-up is never counted;
the decision stage's also from the first verdict published (see ``decision_processes``).
"""

from __future__ import annotations

import gc
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from consumers.batch import process_batch
from consumers.check import CheckModel, CheckSpec
from consumers.runtime import ConsumerRuntime, RuntimeConfig
from producers.synthetic import generate_rides, generate_uploads
from streamjury.demo.orchestrator import Orchestrator, ServiceSpec
from streamjury.demo.services import backend_args, service_env
from streamjury.ops.heap import settle_startup_heap
from streamjury.schemas import Verdict
from streamjury.settings import BackendSettings, KafkaSettings
from streamjury.streams.base import OutRecord, Record, StartFrom
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

WAIT_S = 300.0


@dataclass(frozen=True, slots=True)
class Rate:
    """``events`` outputs seen, the first and last at ``first_ms`` and ``last_ms``."""

    events: int
    first_ms: int
    last_ms: int

    @property
    def per_second(self) -> float:
        """Events after the first over the span; timestamps have 1 ms resolution, so no less."""
        span = max(self.last_ms - self.first_ms, 1) / 1000
        return max(self.events - 1, 1) / span


def kafka_settings(bootstrap: str, prefix: str = "") -> BackendSettings:
    return BackendSettings(
        backend="kafka", kafka=KafkaSettings(bootstrap=bootstrap), stream_prefix=prefix
    )


def fresh_prefix(label: str) -> str:
    return f"bench-{label}-{secrets.token_hex(3)}-"


def event_payloads(spec: CheckSpec, count: int, seed: int = 1) -> list[OutRecord]:
    events: Sequence[Any]
    if spec.event_type == "ride":
        events = [labelled.event for labelled in generate_rides(seed, count)]
    else:
        events = [labelled.event for labelled in generate_uploads(seed, count)]
    return [OutRecord(event.event_id, event.to_bytes()) for event in events]


def prefill(settings: BackendSettings, stream: str, records: Sequence[OutRecord]) -> None:
    backend = open_backend(settings)
    try:
        backend.ensure_streams([stream])
        producer = backend.producer()
        try:
            for start in range(0, len(records), 5000):
                producer.send(stream, list(records[start : start + 5000]))
            producer.flush(120)
        finally:
            producer.close()
    finally:
        backend.close()


def output_rate(settings: BackendSettings, stream: str, expected: int) -> Rate:
    """Read ``stream`` (read_committed, no group) until ``expected`` records; their time span."""
    backend = open_backend(settings)
    try:
        backend.ensure_streams([stream])
        reader = backend.consumer([stream], group=None, start=StartFrom.earliest())
        stamps: list[int] = []
        deadline = time.monotonic() + WAIT_S
        try:
            while len(stamps) < expected and time.monotonic() < deadline:
                stamps.extend(record.timestamp_ms for record in reader.poll(5000, 0.5))
        finally:
            reader.close()
    finally:
        backend.close()
    if len(stamps) < expected:
        raise RuntimeError(f"only {len(stamps)} of {expected} records reached {stream}")
    return Rate(len(stamps), min(stamps), max(stamps))


@contextmanager
def service_heap(young_every: int | None = None) -> Iterator[None]:
    """The garbage collector as a service process runs it (``settle_startup_heap``: startup heap
    frozen, young collections spaced out), undone afterwards: a stage run in the bench's process
    is measured as it runs in its own. The baselines (passthrough, tutorial) run as plain
    scripts would. ``young_every`` replaces the young-collection spacing, to compare others."""
    threshold = gc.get_threshold()
    settle_startup_heap()
    if young_every is not None:
        gc.set_threshold(young_every, *threshold[1:])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _rate_while_running(
    work: Callable[[Callable[[], bool]], object],
    settings: BackendSettings,
    stream: str,
    expected: int,
    *,
    as_service: bool = False,
) -> Rate:
    """Run ``work(stopped)`` in a thread until ``expected`` records are in ``stream``; their rate.

    ``as_service``: with a service process's garbage-collector settings (``service_heap``).
    """
    with service_heap() if as_service else nullcontext():
        stop = threading.Event()
        thread = threading.Thread(target=work, args=(stop.is_set,), daemon=True)
        thread.start()
        try:
            return output_rate(settings, stream, expected)
        finally:
            stop.set()
            thread.join(60)


# -- one check ------------------------------------------------------------------------------


def streamjury_check(
    bootstrap: str,
    spec: CheckSpec,
    model: CheckModel,
    payloads: Sequence[OutRecord],
    batch_size: int,
) -> Rate:
    """The real ConsumerRuntime, as ``streamjury consume`` wires it, at ``batch_size``."""
    settings = kafka_settings(bootstrap, fresh_prefix(f"{spec.name}-{batch_size}"))
    names = StreamNames(settings.stream_prefix)
    source = names.physical(spec.stream)
    prefill(settings, source, payloads)
    backend = open_backend(settings)
    try:
        producer = backend.producer()
        runtime = ConsumerRuntime(
            spec,
            model,
            producer,
            verdict_stream=names.verdicts,
            deadletter_stream=names.deadletter,
            config=RuntimeConfig(batch_size=batch_size),
        )
        consumer = backend.consumer(
            [source],
            f"{settings.stream_prefix}group",
            StartFrom.earliest(),
            on_assign=runtime.partitions_assigned,
            on_revoke=runtime.partitions_revoked,
        )
        backend.ensure_streams([names.verdicts, names.deadletter])
        try:
            return _rate_while_running(
                lambda stopped: runtime.run(consumer, stopped),
                settings,
                names.verdicts,
                len(payloads),
                as_service=True,
            )
        finally:
            consumer.close()
            producer.close()
    finally:
        backend.close()


def _confluent(bootstrap: str, group: str | None = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, **extra}
    if group is not None:
        config.update(
            {
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
    return config


def passthrough(bootstrap: str, payloads: Sequence[OutRecord], stream: str = "rides") -> Rate:
    """The ceiling: confluent-kafka alone, consume a batch, produce it unparsed, flush, commit."""
    from confluent_kafka import Consumer, Producer

    settings = kafka_settings(bootstrap, fresh_prefix("passthrough"))
    names = StreamNames(settings.stream_prefix)
    source, target = names.physical(stream), names.verdicts
    prefill(settings, source, payloads)
    backend = open_backend(settings)
    backend.ensure_streams([target])
    backend.close()

    def loop(stopped: Callable[[], bool]) -> None:
        consumer = Consumer(_confluent(bootstrap, f"{settings.stream_prefix}group"))
        producer = Producer(
            _confluent(
                bootstrap, **{"enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"}
            )
        )
        consumer.subscribe([source])
        try:
            while not stopped():
                messages = consumer.consume(1000, 0.05)
                if not messages:
                    continue
                for message in messages:
                    if message.error() is None:
                        producer.produce(target, message.value(), message.key())
                producer.flush(30)
                consumer.commit(asynchronous=False)
        finally:
            consumer.close()
            producer.flush(30)

    return _rate_while_running(loop, settings, target, len(payloads))


def tutorial_check(
    bootstrap: str, spec: CheckSpec, model: CheckModel, payloads: Sequence[OutRecord]
) -> Rate:
    """What most tutorials show: poll one, predict one, produce, flush, commit, for every event."""
    from confluent_kafka import Consumer, Producer

    settings = kafka_settings(bootstrap, fresh_prefix(f"tutorial-{spec.name}"))
    names = StreamNames(settings.stream_prefix)
    source, target = names.physical(spec.stream), names.verdicts
    prefill(settings, source, payloads)
    backend = open_backend(settings)
    backend.ensure_streams([target])
    backend.close()
    stage = f"consumer:{spec.name}"

    def loop(stopped: Callable[[], bool]) -> None:
        consumer = Consumer(_confluent(bootstrap, f"{settings.stream_prefix}group"))
        producer = Producer(_confluent(bootstrap, **{"enable.idempotence": True}))
        consumer.subscribe([source])
        try:
            while not stopped():
                message = consumer.poll(0.05)
                if message is None or message.error() is not None:
                    continue
                record = Record(
                    source,
                    str(message.partition()),
                    message.offset(),
                    message.key().decode(),
                    message.value(),
                    0,
                )
                outcome = process_batch(spec, model, [record], stage=stage).outcomes[0]
                if outcome.verdict is not None:
                    producer.produce(target, outcome.verdict.to_bytes(), record.key)
                producer.flush(30)
                consumer.commit(message, asynchronous=False)
        finally:
            consumer.close()

    return _rate_while_running(loop, settings, target, len(payloads))


# -- the decision service -------------------------------------------------------------------


def verdict_payloads(
    models: dict[str, tuple[CheckSpec, CheckModel]], events: int
) -> list[OutRecord]:
    """Every check's verdicts for ``events`` rides and as many uploads, interleaved by event."""
    by_event: dict[str, list[Verdict]] = {}
    for spec, model in models.values():
        records = [
            Record(spec.stream, "0", index, payload.key, payload.value, 0)
            for index, payload in enumerate(event_payloads(spec, events))
        ]
        for start in range(0, len(records), 1000):
            result = process_batch(spec, model, records[start : start + 1000], stage="bench")
            for verdict in result.verdicts:
                by_event.setdefault(verdict.event_id, []).append(verdict)
    return [
        OutRecord(verdict.event_id, verdict.to_bytes())
        for verdicts in by_event.values()
        for verdict in verdicts
    ]


@dataclass(frozen=True, slots=True)
class DecisionRate:
    """The decision service's rate over one backlog of verdicts, two ways (see
    ``decision_processes``)."""

    verdicts_per_s: float
    """From the first verdict published to the last decision written: the publisher's time on
    the shared cores and the first batch are counted (a floor)."""
    verdicts_per_s_from_first_decision: float
    """From the first decision written to the last: the publisher's burst and the first batch
    of each instance are left out (a ceiling)."""
    decisions_per_s: float


def decision_processes(
    bootstrap: str, verdicts: Sequence[OutRecord], instances: int, work: Path
) -> DecisionRate:
    """``instances`` decision services, each a ``streamjury decide`` process as deployed
    (``--instance 0, 1, ...`` in one group, the verdicts' partitions split between them).

    The verdicts are published once every instance holds partitions, so no member works alone
    before the others join. The publisher then shares the cores with the services for its
    first second or so, and a batch's decisions are all written at its end; so the rate is
    given from the first verdict published and from the first decision written, a floor and a
    ceiling of what the services carry.
    """
    prefix = fresh_prefix(f"decisions-{instances}")
    settings = kafka_settings(bootstrap, prefix)
    names = StreamNames(prefix)
    group = f"{prefix}decision"
    backend = open_backend(settings)
    try:
        backend.ensure_streams([names.verdicts])
    finally:
        backend.close()
    decide = ("--log-level", "WARNING", "decide", *backend_args(settings), "--group", group)
    specs = [
        ServiceSpec(f"decision-{slot}", (*decide, "--instance", str(slot)))
        for slot in range(instances)
    ]
    events = len({record.key for record in verdicts})
    logs = work / prefix.rstrip("-")
    with Orchestrator(specs, logs, env=service_env(os.environ)) as services:
        services.start_all()
        _wait_for_members(bootstrap, group, instances, services.check_running)
        published_ms = int(time.time() * 1000)
        prefill(settings, names.verdicts, verdicts)
        decided = output_rate(settings, names.decisions, events)
        services.check_running()
    per_event = len(verdicts) / events
    from_publish = Rate(decided.events, published_ms, decided.last_ms).per_second
    return DecisionRate(
        verdicts_per_s=from_publish * per_event,
        verdicts_per_s_from_first_decision=decided.per_second * per_event,
        decisions_per_s=from_publish,
    )


def _wait_for_members(
    bootstrap: str, group: str, members: int, check_running: Callable[[], None]
) -> None:
    """Until ``group`` is stable with ``members`` members, each holding partitions."""
    admin = AdminClient(_confluent(bootstrap))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        check_running()
        try:
            found = admin.describe_consumer_groups([group])[group].result(timeout=10)
        except KafkaException:
            found = None  # not known to its coordinator yet
        if (
            found is not None
            and found.state == ConsumerGroupState.STABLE
            and len(found.members) == members
            and all(member.assignment.topic_partitions for member in found.members)
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"group {group} did not settle with {members} members in {WAIT_S:.0f} s")


# -- the command-line tools -----------------------------------------------------------------


def _cli(args: Sequence[str], bootstrap: str, prefix: str) -> tuple[float, str]:
    """Run ``streamjury ARGS`` on the broker; (wall seconds including start-up, stderr)."""
    command = [
        sys.executable,
        "-m",
        "streamjury.cli.main",
        *args,
        "--backend",
        "kafka",
        "--bootstrap",
        bootstrap,
        "--stream-prefix",
        prefix,
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=True, timeout=WAIT_S)
    return time.perf_counter() - started, completed.stderr.decode() + completed.stdout.decode()


def _reported_rate(output: str) -> float:
    """The ``..., N events/s`` the produce summary line ends with."""
    found = re.findall(r"([\d,.]+) events/s", output)
    return float(found[-1].replace(",", "")) if found else float("nan")


def cli_figures(bootstrap: str, events: int, work: Path) -> dict[str, float]:
    """``produce`` (its own rate, and events/s with start-up), ``record``, ``replay --speed max``."""
    prefix = fresh_prefix("cli")
    produce_s, output = _cli(["produce", "rides", "--count", str(events)], bootstrap, prefix)
    recording = work / f"{prefix}rides.jsonl"
    record_s, _ = _cli(["record", "rides", "-o", str(recording)], bootstrap, prefix)
    replay_prefix = fresh_prefix("replay")
    replay_s, replayed = _cli(
        ["replay", str(recording), "--speed", "max"], bootstrap, replay_prefix
    )
    recorded = sum(1 for _ in recording.open("rb"))
    return {
        "events": events,
        "produce_reported_per_s": _reported_rate(output),
        "produce_with_startup_per_s": events / produce_s,
        "record_with_startup_per_s": recorded / record_s,
        "replay_reported_per_s": _reported_rate(replayed),
        "replay_with_startup_per_s": recorded / replay_s,
    }
