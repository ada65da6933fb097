"""One demo run, start to finish: train, start the services, warm up, publish, wait, stop, account.

Every service is stopped on the way out, whatever happens: success, failure or Ctrl-C.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from models.store import ModelStore, ensure_trained
from models.train import MODEL_NAMES
from producers.publisher import Publisher
from streamjury.clock import Clock
from streamjury.demo.drive import Driver, Say
from streamjury.demo.events import demo_events, expected_dead_letters
from streamjury.demo.orchestrator import Orchestrator
from streamjury.demo.services import consumers_by_stream, pipeline_services, service_env
from streamjury.demo.settings import DemoSettings
from streamjury.demo.summary import Published, Summary, summarize
from streamjury.demo.watch import OutputWatch, read_models, read_stream
from streamjury.errors import ConfigError
from streamjury.schemas import DeadLetter, Decision
from streamjury.streams.base import Backend
from streamjury.streams.factory import open_backend
from streamjury.streams.names import COMPACTED_STREAMS, PIPELINE_STREAMS, StreamNames

DEMO_ROOT = Path(".streamjury")
PUBLISH_BATCH = 500
"""Records per send and flush, as ``streamjury produce`` sends them."""


@dataclass(frozen=True)
class RunPlan:
    """A run's settings made unique: its own log directory, or its own stream and group prefix."""

    run_id: str
    run_dir: Path
    """The local log (on the local backend) and the services' logs under ``logs/``."""
    settings: DemoSettings
    group_prefix: str

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"


def plan_run(settings: DemoSettings, now: datetime, token: str) -> RunPlan:
    """Resolve where this run lives. ``token`` (a few random characters) tells same-second runs
    apart.

    Local: a fresh ``.streamjury/demo-<time>-<token>`` unless ``--local-dir`` names one. Brokers:
    streams and groups under a ``demo-<time>-<token>-`` prefix, so runs never see each other.
    """
    if settings.backend == "memory":
        raise ConfigError(
            "the demo runs each service as its own process, and the memory backend lives inside "
            "one process: use --backend local (the default), kafka or kinesis"
        )
    run_id = f"{now:%Y%m%d-%H%M%S}-{token}"
    chosen = "local_dir" in settings.model_fields_set
    run_dir = Path(settings.local_dir) if chosen else DEMO_ROOT / f"demo-{run_id}"
    if settings.backend == "local":
        return RunPlan(run_id, run_dir, settings.model_copy(update={"local_dir": run_dir}), "")
    prefix = f"{settings.stream_prefix}demo-{run_id}-"
    return RunPlan(run_id, run_dir, settings.model_copy(update={"stream_prefix": prefix}), prefix)


def run_demo(
    plan: RunPlan,
    clock: Clock,
    say: Say,
    *,
    log_level: str = "INFO",
    env: Mapping[str, str] | None = None,
) -> Summary:
    """Run the pipeline once and account for it; raises if it cannot even start."""
    settings = plan.settings
    _prepare(plan)
    say(f"run directory: {plan.run_dir} ({settings.backend} backend)")
    models = _train_if_missing(settings.models, clock, say)
    names = StreamNames(settings.stream_prefix)
    events = demo_events(settings.seed, settings.count, settings.bad, clock.now())
    dead_letters = expected_dead_letters(events.malformed, consumers_by_stream(settings.co_locate))
    with ExitStack() as stack:
        backend = open_backend(settings)
        stack.callback(backend.close)
        _create_streams(backend, names)
        specs = pipeline_services(
            settings,
            models,
            group_prefix=plan.group_prefix,
            log_level=log_level,
            co_locate=settings.co_locate,
        )
        services = stack.enter_context(
            Orchestrator(
                specs,
                plan.log_dir,
                env=service_env(os.environ if env is None else env),
                stop_grace_s=settings.stop_timeout_s,
            )
        )
        watch = stack.enter_context(OutputWatch(backend, names))
        producer = stack.enter_context(closing(backend.producer()))
        publisher = Publisher(producer, clock, batch_size=PUBLISH_BATCH)
        driver = Driver(backend, names, services, watch, publisher, clock, say)
        try:
            say(f"starting {', '.join(spec.name for spec in specs)} (logs in {plan.log_dir})")
            started = clock.monotonic()
            services.start_all()
            driver.warm_up(events.warmup, settings.startup_timeout_s)
            say(f"services up in {clock.monotonic() - started:.1f} s (warm-up events decided)")
            first_publish = driver.publish(events.timed, settings.rate, PUBLISH_BATCH)
            expected = {event.event_id for event in events.valid}
            complete = driver.wait(expected, dead_letters, settings.timeout_s)
        except KeyboardInterrupt:
            say("interrupted: stopping every service")
            say(f"services stopped: {_describe_exits(services.stop_all())}")
            raise
        exits = services.stop_all()
        say(f"services stopped: {_describe_exits(exits)}")
        published = Published(
            events={event.event_id: event.event_type for event in events.valid},
            warmup=frozenset(event.event_id for event in events.warmup),
            malformed=len(events.malformed),
            expected_dead_letters=dead_letters,
            first_publish=first_publish,
        )
        return _account(backend, names, published, exits, None if complete else settings.timeout_s)


def _account(
    backend: Backend,
    names: StreamNames,
    published: Published,
    exits: Mapping[str, int],
    timed_out_after: float | None,
) -> Summary:
    """Read every output back from the start, now that nothing more is written, and account."""
    return summarize(
        published,
        read_models(backend, names.decisions, Decision),
        verdicts=sum(1 for _ in read_stream(backend, names.verdicts)),
        dead_letters=read_models(backend, names.deadletter, DeadLetter),
        service_exits=exits,
        timed_out_after=timed_out_after,
    )


def _prepare(plan: RunPlan) -> None:
    """A local run needs a log nobody else wrote to: the accounting counts every record in it."""
    run_dir = plan.run_dir
    try:
        if plan.settings.backend == "local" and run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(
                f"{run_dir} is not empty: give the demo a new --local-dir, or none for a fresh "
                f"one under {DEMO_ROOT}/"
            )
        plan.log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot use {run_dir} for the demo: {exc}") from exc


def _train_if_missing(location: str, clock: Clock, say: Say) -> str:
    """Train the models on first use; the location as the services should be told it."""
    missing = ModelStore(location).missing(MODEL_NAMES)
    if missing:
        say(f"training the {', '.join(missing)} models into {location} (first run only)")
        started = clock.monotonic()
        ensure_trained(location)
        say(f"models trained in {clock.monotonic() - started:.1f} s")
    return str(Path(location).resolve()) if ModelStore(location).is_local else location


def _create_streams(backend: Backend, names: StreamNames) -> None:
    """Create every stream up front, so no service races another to make one."""
    backend.ensure_streams([names.physical(s) for s in PIPELINE_STREAMS])
    backend.ensure_streams([names.physical(s) for s in COMPACTED_STREAMS], compacted=True)


def _describe_exits(exits: Mapping[str, int]) -> str:
    if all(code == 0 for code in exits.values()):
        return f"all {len(exits)} exited 0"
    return ", ".join(f"{name} exited {code}" for name, code in exits.items())
