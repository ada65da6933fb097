"""A consumer follows its model alias between batches, and refuses a candidate that fails to verify."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.registry import get_check
from consumers.rollout import ModelRollout
from models.store import ModelStore
from producers.synthetic import generate_rides
from streamjury.schemas import Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.test_app import StopWhenCommitted, read_all, settings_for
from tests.unit.models.support import add_version

POLL_S = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Heard:
    def __init__(self) -> None:
        self.swaps: list[tuple[str, str, str]] = []
        self.refusals: list[str] = []

    def swapped(self, model: str, old: str, new: str) -> None:
        self.swaps.append((model, old, new))

    def refused(self, version: str, reason: str) -> None:
        self.refusals.append(version)


@pytest.fixture
def models(trained_models: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    return copy


def rollout_of(models: Path, clock: FakeClock, heard: Heard | None = None) -> ModelRollout:
    return ModelRollout(
        get_check("duration"),
        ModelStore(models),
        poll_interval_s=POLL_S,
        listener=heard,
        clock=clock,
    )


def test_a_promotion_is_picked_up_at_the_first_batch_after_the_poll_interval(
    models: Path,
) -> None:
    clock, heard = FakeClock(), Heard()
    rollout = rollout_of(models, clock, heard)
    old = rollout.current().version
    add_version(models, "duration", "duration-v2")
    ModelStore(models).promote("duration", "duration-v2")

    clock.now = POLL_S - 1
    before_due = rollout.current().version
    clock.now = POLL_S
    after_due = rollout.current().version

    assert before_due == old
    assert after_due == "duration-v2"
    assert heard.swaps == [("duration", old, "duration-v2")]
    assert rollout.status().swaps == 1


def test_a_requested_check_swaps_at_once(models: Path) -> None:
    rollout = rollout_of(models, FakeClock())
    add_version(models, "duration", "duration-v2")
    ModelStore(models).promote("duration", "duration-v2")

    rollout.request_check()

    assert rollout.current().version == "duration-v2"


def test_a_tampered_candidate_is_refused_and_the_old_version_keeps_serving(
    models: Path,
) -> None:
    clock, heard = FakeClock(), Heard()
    rollout = rollout_of(models, clock, heard)
    old = rollout.current()
    add_version(models, "duration", "duration-v2")
    ModelStore(models).promote("duration", "duration-v2")
    (models / "duration" / "versions" / "duration-v2" / "model.joblib").write_bytes(b"tampered")

    clock.now = POLL_S
    serving = rollout.current()
    clock.now = 2 * POLL_S
    rollout.current()  # the same refused version is not retried on every poll

    status = rollout.status()
    assert serving is old
    assert heard.refusals == ["duration-v2"]
    assert status.serving == old.version
    assert status.refused_version == "duration-v2"
    assert "sha256" in str(status.refused_reason)


def test_a_refused_version_is_retried_on_request_once_it_is_fixed(models: Path) -> None:
    rollout = rollout_of(models, FakeClock())
    add_version(models, "duration", "duration-v2")
    artifact = models / "duration" / "versions" / "duration-v2" / "model.joblib"
    good = artifact.read_bytes()
    ModelStore(models).promote("duration", "duration-v2")
    artifact.write_bytes(b"tampered")
    rollout.request_check()
    refused = rollout.current().version

    artifact.write_bytes(good)
    rollout.request_check()

    assert refused != "duration-v2"
    assert rollout.current().version == "duration-v2"


class PromoteMidRun:
    """Stop condition that drives the scenario between batches: once the first rides are
    committed, promote ``version`` and publish the rest; stop when everything is committed."""

    def __init__(
        self, backend: MemoryBackend, models: Path, version: str, later: list[OutRecord]
    ) -> None:
        self.backend, self.models, self.version, self.later = backend, models, version, later
        self.promoted = False
        self.done = StopWhenCommitted(backend, "rides", "streamjury-duration", max_checks=2_000)

    def __call__(self) -> bool:
        if not self.promoted and self.done():
            ModelStore(self.models).promote("duration", self.version)
            producer = self.backend.producer()
            producer.send("rides", self.later)
            producer.flush()
            self.promoted = True
            self.done.checks_left = 2_000
            return False
        return self.promoted and self.done()


def test_a_running_consumer_swaps_between_batches_and_never_mixes_versions_in_one(
    models: Path,
) -> None:
    backend = MemoryBackend()
    rides = [labelled.event for labelled in generate_rides(5, 60)]
    records = [OutRecord(r.event_id, r.to_bytes()) for r in rides]
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    producer.send("rides", records[:30])
    producer.flush()
    old = ModelStore(models).version("duration")
    add_version(models, "duration", "duration-v2")
    scenario = PromoteMidRun(backend, models, "duration-v2", records[30:])

    run_consumer(settings_for(models, batch_size=7, model_poll_s=0.001), scenario, backend=backend)

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    by_event = {v.event_id: v.model_version for v in verdicts}
    versions_per_batch: dict[object, set[str]] = {}
    for verdict in verdicts:
        versions_per_batch.setdefault(verdict.produced_at, set()).add(verdict.model_version)
    assert scenario.promoted
    assert sorted(by_event) == sorted(r.event_id for r in rides)
    assert len(verdicts) == len(rides)
    assert {by_event[r.event_id] for r in rides[:30]} == {old}
    assert {by_event[r.event_id] for r in rides[30:]} == {"duration-v2"}
    assert all(len(versions) == 1 for versions in versions_per_batch.values())
