"""Broker faults on Kafka, with the whole pipeline running as OS processes: nothing lost,
nothing decided twice, no operator action.

(a) the single broker is stopped and started again mid-run; (b) on a three-node KRaft cluster
(replication factor 3, min.insync.replicas 2) the node leading the busiest partitions is
SIGKILLed mid-run. Each ends in an exact accounting read as read_committed: every event has
exactly one current decision, no (event_id, revision) twice. A service that exits is restarted
as an orchestrator would; the restarts are reported, never needed from an operator.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from models.store import ensure_trained
from streamjury.demo.events import Event, demo_events
from streamjury.demo.orchestrator import Orchestrator
from streamjury.devservers.kafka import LocalKafkaBroker, LocalKafkaCluster, start_kafka_cluster
from streamjury.schemas import utc_now
from streamjury.settings import KafkaSettings
from streamjury.streams.kafka import KafkaBackend
from tests.integration.kafka.pipeline import (
    Pipeline,
    Restarts,
    assert_exactly_one_current_decision,
    clean_env,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(1200)]

log = logging.getLogger(__name__)

EVENTS_PER_KIND = 1500
"""Rides and uploads each: 3,000 events per test."""
WAIT_S = 300.0
"""Generous: a broker restart alone can take a minute on a busy two-core machine."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_trained(folder, rows=2000)
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalKafkaCluster]:
    with start_kafka_cluster(3) as started:
        yield started


def events(seed: int) -> list[Event]:
    return demo_events(seed=seed, count=EVENTS_PER_KIND, bad=0, start=utc_now()).valid


def busiest_leader(bootstrap: str, prefix: str, backend: KafkaBackend) -> int:
    """The node leading the partitions that hold the most records of this pipeline."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    load: Counter[int] = Counter()
    for name, topic in metadata.topics.items():
        if not name.startswith(prefix):
            continue
        ends = backend.end_offsets(name)
        for number, partition in topic.partitions.items():
            load[partition.leader] += ends.get(str(number), 0)
    return load.most_common(1)[0][0]


def run_with_fault(
    tmp_path: Path,
    models: Path,
    pipeline: Pipeline,
    all_events: list[Event],
    fault: Callable[[], None],
) -> Counter[str]:
    """Start the pipeline, publish half, inject ``fault`` once decisions flow, publish the
    rest, wait for every decision; the restarts an orchestrator had to do."""
    expected = {event.event_id for event in all_events}
    half = len(all_events) // 2
    env = clean_env(models)
    with Orchestrator(
        pipeline.services(models), tmp_path / "logs", env=env, cwd=tmp_path
    ) as services:
        restarts = Restarts(services)
        services.start_all()
        pipeline.publish(all_events[:half])
        wait_until(lambda: len(pipeline.decided()) >= 100, "decisions to flow", restarts, WAIT_S)
        decided_at_fault = len(pipeline.decided())
        fault()
        pipeline.publish(all_events[half:])
        wait_until(lambda: pipeline.decided() == expected, "every decision", restarts, WAIT_S)
        exits = services.stop_all()
    assert decided_at_fault < len(expected), "the fault did not land mid-run"
    assert exits == dict.fromkeys(exits, 0), exits
    decisions = pipeline.decisions()
    assert_exactly_one_current_decision(decisions, expected)
    log.warning(
        "broker fault run: %d events, %d decisions, %d decided before the fault, restarts %s",
        len(expected),
        len(decisions),
        decided_at_fault,
        dict(restarts.count),
    )
    return restarts.count


def test_the_pipeline_rides_out_a_stop_and_start_of_its_broker_with_exact_accounting(
    tmp_path: Path, models: Path, kafka_broker: LocalKafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    backend = KafkaBackend(KafkaSettings(bootstrap=bootstrap))
    try:
        pipeline = Pipeline(backend, bootstrap, f"r{uuid.uuid4().hex[:8]}-")

        def stop_and_start() -> None:
            kafka_broker.stop()
            time.sleep(3.0)  # an outage, not just a bounce
            kafka_broker.start()

        run_with_fault(tmp_path, models, pipeline, events(seed=31), stop_and_start)
    finally:
        backend.close()


def test_the_pipeline_rides_out_a_sigkill_of_the_busiest_leader_of_a_three_node_cluster(
    tmp_path: Path, models: Path, cluster: LocalKafkaCluster
) -> None:
    bootstrap = cluster.bootstrap_servers
    backend = KafkaBackend(KafkaSettings(bootstrap=bootstrap, replication_factor=3))
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    try:
        pipeline = Pipeline(backend, bootstrap, prefix, replication_factor=3)
        killed: list[int] = []

        def kill_the_busiest_leader() -> None:
            node = busiest_leader(bootstrap, prefix, backend)
            cluster.node(node).kill()
            killed.append(node)

        run_with_fault(tmp_path, models, pipeline, events(seed=37), kill_the_busiest_leader)
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
        verdicts = metadata.topics[pipeline.names.verdicts]
        assert all(len(p.replicas) == 3 for p in verdicts.partitions.values())
        assert len(killed) == 1
        assert all(p.leader != killed[0] for p in verdicts.partitions.values())
    finally:
        backend.close()
