"""The pipeline's services as command lines: one ``consume CHECK`` per check, and ``decide``.

Every setting that shapes the pipeline is passed as a flag, so a stray ``STREAMJURY_GROUP`` or
``STREAMJURY_START`` in the environment cannot put five consumers in one group; connection
details not covered by flags (Kafka security, Kinesis region...) reach them through the env.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from consumers.check import checks_name
from consumers.registry import CHECKS
from consumers.settings import default_group
from decision.settings import DEFAULT_GROUP as DECISION_GROUP
from streamjury.demo.orchestrator import ServiceSpec
from streamjury.settings import BackendSettings

DECISION_SERVICE = "decision"
HTTP_PORT_ENV = "STREAMJURY_HTTP_PORT"


def checks_by_stream() -> dict[str, list[str]]:
    """Logical input stream -> the checks that read it (every check of the registry)."""
    readers: dict[str, list[str]] = {}
    for spec in CHECKS.values():
        readers.setdefault(spec.stream, []).append(spec.name)
    return readers


def consumer_checks(co_locate: bool = False) -> dict[str, list[list[str]]]:
    """Logical input stream -> the checks of each consumer process reading it: one check each,
    or all of the stream's checks in one process."""
    return {
        stream: [checks] if co_locate else [[check] for check in checks]
        for stream, checks in checks_by_stream().items()
    }


def consumers_by_stream(co_locate: bool = False) -> dict[str, list[str]]:
    """Logical input stream -> the consumer processes reading it, by name (``duration+tip``
    when co-located): each writes its own dead letter for a malformed record of the stream."""
    return {
        stream: [checks_name(checks) for checks in consumers]
        for stream, consumers in consumer_checks(co_locate).items()
    }


def pipeline_services(
    settings: BackendSettings,
    models: str,
    *,
    group_prefix: str = "",
    log_level: str = "INFO",
    co_locate: bool = False,
    decision_instances: int = 1,
) -> list[ServiceSpec]:
    """The five consumers (every registered check) and the decision service, in start order.

    ``co_locate``: one consumer per input stream running all of its checks (``duration+tip``
    and ``copyright+nsfw+violence``) instead of one per check. ``decision_instances``: decision
    services sharing the verdicts' partitions, each in its own writer slot (``decision``,
    ``decision-1``...).
    """
    common = ("--log-level", log_level)
    backend = tuple(backend_args(settings))
    services = [
        ServiceSpec(
            checks_name(checks),
            (
                *common,
                "consume",
                *checks,
                *backend,
                "--models",
                models,
                "--group",
                default_group(checks, group_prefix),
                "--from-beginning",
            ),
        )
        for consumers in consumer_checks(co_locate).values()
        for checks in consumers
    ]
    decide = ("decide", *backend, "--group", f"{group_prefix}{DECISION_GROUP}")
    services.append(ServiceSpec(DECISION_SERVICE, (*common, *decide)))
    for slot in range(1, decision_instances):
        services.append(
            ServiceSpec(f"{DECISION_SERVICE}-{slot}", (*common, *decide, "--instance", str(slot)))
        )
    return services


def service_env(base: Mapping[str, str]) -> dict[str, str]:
    """The services' environment: ``base`` without an HTTP port, which six services on one host
    cannot share (the demo's warm-up proves they are ready instead)."""
    return {**base, HTTP_PORT_ENV: "0"}


def backend_args(settings: BackendSettings) -> list[str]:
    """The ``@backend_options`` flags that reproduce ``settings``' transport for a child."""
    args = ["--backend", settings.backend]
    if settings.stream_prefix:
        args += ["--stream-prefix", settings.stream_prefix]
    if settings.backend == "local":
        args += ["--local-dir", str(Path(settings.local_dir).resolve())]
    elif settings.backend == "kafka":
        args += ["--bootstrap", settings.kafka.bootstrap]
    elif settings.backend == "kinesis":
        if settings.kinesis.endpoint_url:
            args += ["--kinesis-endpoint", settings.kinesis.endpoint_url]
        args.append("--localstack" if settings.kinesis.localstack else "--no-localstack")
        if not settings.kinesis.checkpoint_table:
            # The leases and checkpoints then live in a SQLite file there, which every
            # service of the pipeline must share with the process that started them.
            args += ["--local-dir", str(Path(settings.local_dir).resolve())]
    return args
