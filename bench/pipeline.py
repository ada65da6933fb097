"""The whole pipeline on a real Kafka broker: throughput, end-to-end latency and resources per service.

One run is the demo's run (same events, same accounting), with CPU and peak RSS read from /proc.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.arrivals import Arrivals
from producers.publisher import Publisher
from streamjury.clock import SystemClock
from streamjury.demo.drive import Driver
from streamjury.demo.events import demo_events
from streamjury.demo.orchestrator import Orchestrator, ServiceSpec
from streamjury.demo.run import PUBLISH_BATCH, _create_streams, plan_run
from streamjury.demo.services import pipeline_services, service_env
from streamjury.demo.settings import DemoSettings
from streamjury.demo.summary import DecisionAccount, Latency, account_decisions
from streamjury.demo.watch import OutputWatch, read_models
from streamjury.schemas import Decision
from streamjury.settings import KafkaSettings
from streamjury.streams.base import StartFrom
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames

TICKS = os.sysconf("SC_CLK_TCK")
SpecsFor = Callable[[DemoSettings, str, str], Sequence[Any]]
"""(settings, models, group prefix) -> the services to start, in start order."""


@dataclass(frozen=True, slots=True)
class Usage:
    """One service's CPU over the timed part of a run, and its peak memory."""

    service: str
    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline run at one offered load (0: as fast as possible)."""

    system: str
    offered: float
    events: int
    decided: int
    ok: bool
    throughput: float | None
    latency_ms: dict[str, float] = field(default_factory=dict)
    """``occurred_at`` to the first decision read by a ``read_committed`` reader (visible)."""
    decided_ms: dict[str, float] = field(default_factory=dict)
    """``occurred_at`` to the first decision's ``decided_at``, stamped before its transaction
    commits (the figure reported before 2026-12-05's second run)."""
    usage: list[Usage] = field(default_factory=list)
    headline: str = ""

    def cpu_per_event_us(self, service: str) -> float:
        used = {u.service: u.cpu_s for u in self.usage}.get(service, 0.0)
        return used / self.events * 1e6 if self.events else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far, from /proc (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of ``pid``'s resident memory (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def deployment(co_locate: bool = False, decision_instances: int = 1) -> SpecsFor:
    """The services of one streamjury deployment (see ``pipeline_services``), for ``run_session``."""

    def services(settings: DemoSettings, models: str, prefix: str) -> Sequence[ServiceSpec]:
        return pipeline_services(
            settings,
            models,
            group_prefix=prefix,
            log_level="WARNING",
            co_locate=co_locate,
            decision_instances=decision_instances,
        )

    return services


streamjury_services = deployment()
"""The default deployment: one consumer process per check, one decision service."""
CO_LOCATED = "streamjury (co-located checks)"
"""The system label of one consumer process per input stream running all of its checks."""
TWO_DECIDERS = "streamjury (co-located checks, 2 decision instances)"


@dataclass(frozen=True, slots=True)
class Phase:
    """``events`` timed events offered at ``rate`` events/s (0: as fast as possible)."""

    rate: float
    events: int


WARM_UP_RATE = 500.0
"""Events/s of the warm-up before a session whose first phase is as fast as possible."""


def warm_up_phase(phases: Sequence[Phase], seconds: float) -> Phase | None:
    """``seconds`` of traffic at the first phase's rate, offered before it and not reported."""
    if seconds <= 0 or not phases:
        return None
    rate = phases[0].rate or WARM_UP_RATE
    return Phase(rate, max(int(rate * seconds), 1))


def run_session(
    bootstrap: str,
    models: str,
    phases: Sequence[Phase],
    *,
    work_dir: Path,
    system: str = "streamjury",
    services_for: SpecsFor = streamjury_services,
    profile_dir: Path | None = None,
    profile_phase: int | None = None,
    timeout_s: float = 300.0,
    env: dict[str, str] | None = None,
    warm_up_s: float = 0.0,
    say: Callable[[str], None] = lambda line: None,
) -> list[PipelineRun]:
    """Start the services once, then offer each phase's events in turn, each waited out.

    ``warm_up_s``: first offer that many seconds of events at the first phase's rate, waited out
    and not reported, so the first phase measures running services, not their first seconds
    (connections, caches, the broker's JIT).

    Every phase gets fresh events (ids never repeat), its own latencies and its own CPU figures.
    ``profile_phase``: record that phase of every service with py-spy into ``profile_dir``.
    ``env``: extra environment of the services (settings to compare side by side).
    """
    warm_up = warm_up_phase(phases, warm_up_s)
    total = sum(phase.events for phase in phases) + (warm_up.events if warm_up else 0)
    settings = DemoSettings(
        backend="kafka",
        kafka=KafkaSettings(bootstrap=bootstrap),
        count=total // 2 + 2,
        bad=0,
        models=models,
        timeout_s=timeout_s,
        startup_timeout_s=300.0,
        local_dir=work_dir,
    )
    clock = SystemClock()
    plan = plan_run(settings, clock.now(), secrets.token_hex(3))
    settings = plan.settings
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    names = StreamNames(settings.stream_prefix)
    events = demo_events(settings.seed, settings.count, 0, clock.now())
    runs: list[tuple[Phase, list[Any], datetime, list[Usage]]] = []
    with ExitStack() as stack:
        backend = open_backend(settings)
        stack.callback(backend.close)
        _create_streams(backend, names)
        specs = services_for(settings, models, plan.group_prefix)
        services = stack.enter_context(
            Orchestrator(
                specs,
                plan.log_dir,
                env=service_env({**os.environ, **(env or {})}),
                stop_grace_s=30.0,
            )
        )
        watch = stack.enter_context(OutputWatch(backend, names))
        reader = backend.consumer([names.decisions], group=None, start=StartFrom.earliest())
        arrivals = stack.enter_context(Arrivals(reader))
        producer = stack.enter_context(closing(backend.producer()))
        publisher = Publisher(producer, clock, batch_size=PUBLISH_BATCH)
        driver = Driver(backend, names, services, watch, publisher, clock, say)
        started = time.monotonic()
        services.start_all()
        driver.warm_up(events.warmup, settings.startup_timeout_s)
        say(f"{system}: services up in {time.monotonic() - started:.0f} s")
        pids = {service.name: service.pid for service in services}
        offset = 0
        if warm_up is not None:
            items = events.timed[: warm_up.events]
            offset = warm_up.events
            say(f"{system}: warm-up, not reported")
            driver.publish(items, warm_up.rate, PUBLISH_BATCH)
            if not driver.wait({item.event_id for item in items}, (), settings.timeout_s):
                say(f"{system}: the warm-up timed out")
        for index, phase in enumerate(phases):
            items = events.timed[offset : offset + phase.events]
            offset += phase.events
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            spies = []
            if profile_dir is not None and index == profile_phase:
                spies = _start_profilers(pids, profile_dir, system, phase.rate)
            first_publish = driver.publish(items, phase.rate, PUBLISH_BATCH)
            ids = {item.event_id for item in items}
            complete = driver.wait(ids, (), settings.timeout_s)
            usage = [
                Usage(name, cpu_seconds(pid) - before[name], peak_rss_mb(pid))
                for name, pid in pids.items()
            ]
            for spy in spies:
                spy.wait(timeout=120)
            if not complete:
                say(f"{system}: phase {phase} timed out")
            runs.append((phase, items, first_publish, usage))
        services.stop_all()
        decisions = read_models(backend, names.decisions, Decision)
        seen = arrivals.first_read({item.event_id for _, items, _, _ in runs for item in items})
    return [_phase_run(system, *run, decisions, seen) for run in runs]


def _phase_run(
    system: str,
    phase: Phase,
    items: Sequence[Any],
    first_publish: datetime,
    usage: list[Usage],
    decisions: Sequence[Decision],
    seen: Mapping[str, float],
) -> PipelineRun:
    """One phase's figures; ``seen``: when each event's first decision was read (epoch s)."""
    ids = {item.event_id for item in items}
    account = account_decisions(ids, (d for d in decisions if d.event_id in ids))
    firsts = list(account.first.values())
    decided = [(d.decided_at - d.event_occurred_at).total_seconds() * 1000 for d in firsts]
    visible = [
        (seen[d.event_id] - d.event_occurred_at.timestamp()) * 1000
        for d in firsts
        if d.event_id in seen
    ]
    throughput = None
    if firsts:
        last = max(seen.get(d.event_id, d.decided_at.timestamp()) for d in firsts)
        elapsed = last - first_publish.timestamp()
        throughput = len(firsts) / elapsed if elapsed > 0 else None
    exact = account.exact and len(visible) == len(firsts)
    return PipelineRun(
        system=system,
        offered=phase.rate,
        events=len(ids),
        decided=len(account.current),
        ok=exact,
        throughput=throughput,
        latency_ms=_percentiles(visible),
        decided_ms=_percentiles(decided),
        usage=usage,
        headline=_headline(account, unseen=len(firsts) - len(visible)),
    )


def _percentiles(millis: Sequence[float]) -> dict[str, float]:
    latency = Latency.of(millis)
    return {} if latency is None else latency.figures()


def _headline(account: DecisionAccount, unseen: int) -> str:
    if not account.exact:
        return f"{len(account.missing)} missing, {len(account.duplicates)} duplicate decisions"
    if unseen:
        return f"exactly one decision per event, but {unseen} never reached the arrivals reader"
    return "exactly one decision per event"


def _start_profilers(
    pids: dict[str, int], out: Path, system: str, rate: float
) -> list[subprocess.Popen[bytes]]:
    """One ``py-spy record`` per service, for a fixed window while the timed events flow."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return []
    out.mkdir(parents=True, exist_ok=True)
    load = "max" if not rate else f"{rate:g}"
    started = []
    for name, pid in pids.items():
        for fmt, ext in (("flamegraph", "svg"), ("speedscope", "json")):
            if fmt == "speedscope":
                continue
            target = out / f"{system}-{name}-{load}.{ext}"
            started.append(
                subprocess.Popen(
                    [
                        str(spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        "8",
                        "--rate",
                        "50",
                        "--format",
                        fmt,
                        "--output",
                        str(target),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    time.sleep(0.2)
    return started
