"""The whole pipeline on a Kafka broker or cluster, for tests that run it as OS processes.

Streams under a test's own prefix, publishing as the producer CLI does, read_committed reads of
what came out, the exact-accounting check, and a wait that restarts a service that exited (as
an orchestrator would) and counts it.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from streamjury.demo.events import Event, Malformed
from streamjury.demo.orchestrator import Orchestrator, ServiceSpec
from streamjury.demo.services import pipeline_services
from streamjury.schemas import Decision
from streamjury.settings import BackendSettings, KafkaSettings
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.kafka.errors import TransactionStillOpenError
from streamjury.streams.names import (
    COMPACTED_STREAMS,
    PIPELINE_STREAMS,
    STREAM_OF_EVENT_TYPE,
    StreamNames,
)


def clean_env(models: Path, **extra: str) -> dict[str, str]:
    """Every child's environment: no STREAMJURY_* from the outer shell, the test's models."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    return {**clean, "STREAMJURY_MODELS": str(models), **extra}


class Pipeline:
    """One test's streams on a broker (under its own prefix), and how to inspect them."""

    def __init__(
        self, backend: KafkaBackend, bootstrap: str, prefix: str, *, replication_factor: int = 1
    ) -> None:
        self.backend = backend
        self.names = StreamNames(prefix)
        self.settings = BackendSettings(
            backend="kafka",
            stream_prefix=prefix,
            kafka=KafkaSettings(bootstrap=bootstrap, replication_factor=replication_factor),
        )
        backend.ensure_streams([self.names.physical(s) for s in PIPELINE_STREAMS])
        backend.ensure_streams([self.names.physical(s) for s in COMPACTED_STREAMS], compacted=True)

    def services(self, models: Path) -> list[ServiceSpec]:
        return pipeline_services(self.settings, str(models), group_prefix=self.names.prefix)

    def publish(self, items: Sequence[Event | Malformed]) -> None:
        """Events as the producer CLI sends them; malformed records raw, as a broken client would."""
        by_stream: defaultdict[str, list[OutRecord]] = defaultdict(list)
        for item in items:
            if isinstance(item, Malformed):
                by_stream[self.names.physical(item.stream)].append(
                    OutRecord(item.key, item.payload)
                )
            else:
                stream = self.names.physical(STREAM_OF_EVENT_TYPE[item.event_type])
                by_stream[stream].append(OutRecord(item.event_id, item.to_bytes()))
        producer = self.backend.producer()
        try:
            for stream, records in by_stream.items():
                producer.send(stream, records)
            producer.flush()
        finally:
            producer.close()

    def records(self, logical: str) -> list[Record]:
        """Every committed record of a stream (read_committed), read without a group."""
        stream = self.names.physical(logical)
        return [
            record
            for partition in self.backend.partitions(stream)
            for record in self.backend.read_partition(stream, partition)
        ]

    def decided(self) -> set[str]:
        return {record.key for record in self.records("decisions")}

    def decisions(self) -> list[Decision]:
        return [Decision.model_validate_json(r.value) for r in self.records("decisions")]


def wait_until(
    condition: Callable[[], bool], what: str, check: Callable[[], None], timeout: float
) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes.

    A read that finds a transaction still open (a writer caught by a broker restart or a kill,
    whose transaction the broker has not aborted yet) counts as "not yet": the outer deadline,
    not the read's own settle timeout, decides when waiting has failed.
    """
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        check()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except TransactionStillOpenError:
        return False


class Restarts:
    """``check`` for wait_until: restarts any service that exited unasked, as compose's
    ``restart: on-failure`` or Kubernetes would, and counts the restarts per service."""

    def __init__(self, services: Orchestrator) -> None:
        self._services = services
        self.count: Counter[str] = Counter()

    def __call__(self) -> None:
        for service in self._services:
            if not service.ending and not service.running:
                self.count[service.name] += 1
                self._services.start(service.name)


def assert_exactly_one_current_decision(decisions: Sequence[Decision], expected: set[str]) -> None:
    """Each event decided; no (event_id, revision) twice; revisions 1..n without gaps."""
    revisions: defaultdict[str, list[int]] = defaultdict(list)
    for decision in decisions:
        revisions[decision.event_id].append(decision.revision)
    lost = expected - set(revisions)
    assert lost == set(), f"{len(lost)} events without a decision"
    assert set(revisions) == expected
    twice = [
        key for key, n in Counter((d.event_id, d.revision) for d in decisions).items() if n > 1
    ]
    assert twice == [], f"{len(twice)} duplicate (event_id, revision)"
    gaps = {e: sorted(r) for e, r in revisions.items() if sorted(r) != list(range(1, len(r) + 1))}
    assert gaps == {}
