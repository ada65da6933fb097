"""Stages measured in the bench's process run with a service's garbage-collector settings."""

from __future__ import annotations

import gc

from bench.stages import service_heap
from streamjury.ops.heap import YOUNG_COLLECTION_EVERY


def test_a_stage_runs_with_the_service_settings_and_they_are_undone_after() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()

    with service_heap():
        inside = gc.get_threshold()
        frozen_inside = gc.get_freeze_count()

    assert inside[0] == max(before[0], YOUNG_COLLECTION_EVERY)
    assert frozen_inside > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
