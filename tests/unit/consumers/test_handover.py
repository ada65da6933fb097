"""Specification of the hand-over between co-located and separate checks: nothing skipped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import cast

from consumers.app import run_consumer
from consumers.handover import related_groups, take_over
from consumers.settings import ConsumerSettings, default_group
from producers.synthetic import generate_rides
from streamjury.schemas import Verdict
from streamjury.streams.base import Backend, OutRecord, StartKind
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.test_app import StopWhenCommitted, read_all


def publish(backend: MemoryBackend, seed: int, count: int = 12) -> list[str]:
    rides = [labelled.event for labelled in generate_rides(seed, count)]
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    producer.send("rides", [OutRecord(ride.event_id, ride.to_bytes()) for ride in rides])
    producer.flush()
    return [ride.event_id for ride in rides]


def consume(backend: MemoryBackend, models: Path, check: str, **changes: object) -> None:
    settings = ConsumerSettings.model_validate(
        {"check": check, "backend": "memory", "models": str(models), **changes}
    )
    stop = StopWhenCommitted(backend, "rides", settings.group_name)
    run_consumer(settings, stop, backend=backend)


def scored(backend: MemoryBackend) -> Counter[tuple[str, str]]:
    """How many verdicts each (check, event) got."""
    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    return Counter((v.check, v.event_id) for v in verdicts)


def test_co_located_checks_start_where_the_separate_groups_left_off(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    before = publish(backend, seed=1)
    consume(backend, trained_models, "duration")
    consume(backend, trained_models, "tip")
    after = publish(backend, seed=2)

    consume(backend, trained_models, "tip,duration")

    assert scored(backend) == Counter(
        {(check, event): 1 for check in ("duration", "tip") for event in before + after}
    )


def test_a_check_split_out_of_a_co_located_group_starts_where_that_group_left_off(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    before = publish(backend, seed=1)
    consume(backend, trained_models, "duration,tip")
    after = publish(backend, seed=2)

    consume(backend, trained_models, "tip")

    assert scored(backend) == Counter(
        {("duration", e): 1 for e in before} | {("tip", e): 1 for e in before + after}
    )


def test_the_least_advanced_check_decides_and_the_other_only_scores_again(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    first = publish(backend, seed=1)
    consume(backend, trained_models, "tip")
    second = publish(backend, seed=2)
    consume(backend, trained_models, "duration")

    consume(backend, trained_models, "duration,tip")

    counts = scored(backend)
    assert all(counts[("tip", e)] == 1 for e in first + second)  # nothing skipped or doubled
    assert all(counts[("duration", e)] == 1 for e in first)
    assert all(counts[("duration", e)] == 2 for e in second)  # a redelivery, harmless


def test_a_check_that_never_ran_leaves_the_configured_start(trained_models: Path) -> None:
    backend = MemoryBackend()
    publish(backend, seed=1)
    consume(backend, trained_models, "duration")

    handover = take_over(backend, "rides", ["duration", "tip"], "streamjury-duration+tip")

    assert handover is None


def test_a_group_with_a_position_or_an_explicit_name_takes_nothing_over(
    trained_models: Path,
) -> None:
    backend = MemoryBackend()
    events = publish(backend, seed=1)
    consume(backend, trained_models, "duration")

    assert take_over(backend, "rides", ["duration"], "streamjury-duration") is None
    consume(backend, trained_models, "duration,tip", group="fresh")
    counts = scored(backend)
    assert all(counts[("duration", e)] == 2 for e in events)  # "fresh" started at the beginning


class Positions:
    """Committed positions by group, all a hand-over reads of a backend."""

    def __init__(self, by_group: dict[str, dict[str, int]]) -> None:
        self.by_group = by_group

    def committed(self, stream: str, group: str) -> dict[str, int]:
        return dict(self.by_group.get(group, {}))


def test_the_taken_over_start_lists_only_partitions_every_check_has_a_position_for() -> None:
    positions = Positions(
        {
            "streamjury-duration": {"0": 5, "1": 7},
            "streamjury-duration+tip": {"0": 9},
            "streamjury-tip": {"0": 4, "1": 8, "2": 3},
        }
    )

    handover = take_over(cast(Backend, positions), "rides", ["duration", "tip"], "streamjury-new")

    assert handover is not None
    assert handover.start.kind is StartKind.OFFSET
    # duration stands at max(5, 9) on 0 and 7 on 1; tip at max(4, 9), 8, 3; partition 2: unknown
    assert dict(handover.start.offsets) == {"0": 9, "1": 7}


def test_related_groups_are_the_checks_own_and_every_co_located_set_holding_it() -> None:
    assert related_groups("tip", "rides") == ["streamjury-tip", "streamjury-duration+tip"]
    assert related_groups("nsfw", "uploads", "p.") == [
        "p.streamjury-nsfw",
        "p.streamjury-copyright+nsfw",
        "p.streamjury-nsfw+violence",
        "p.streamjury-copyright+nsfw+violence",
    ]
    assert default_group(["tip", "duration"]) == "streamjury-duration+tip"
