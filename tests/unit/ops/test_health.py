"""Readiness: ready exactly when no condition is pending; changes are reported once each."""

from __future__ import annotations

import pytest

from streamjury.ops.health import ASSIGNMENT, MODEL, Readiness


def test_a_service_is_not_ready_until_every_condition_is_met() -> None:
    readiness = Readiness([MODEL, ASSIGNMENT])
    assert not readiness.ready
    assert readiness.pending() == [ASSIGNMENT, MODEL]

    readiness.set(MODEL)
    assert not readiness.ready
    assert readiness.pending() == [ASSIGNMENT]

    readiness.set(ASSIGNMENT)
    assert readiness.ready
    assert readiness.pending() == []


def test_losing_a_condition_makes_it_unready_again() -> None:
    readiness = Readiness([ASSIGNMENT])
    readiness.set(ASSIGNMENT)
    readiness.set(ASSIGNMENT, met=False)
    assert readiness.pending() == [ASSIGNMENT]


def test_nothing_to_wait_for_is_ready_at_once() -> None:
    assert Readiness([]).ready


def test_the_listener_hears_the_start_and_each_flip_but_not_repeats() -> None:
    heard: list[bool] = []
    readiness = Readiness([MODEL, ASSIGNMENT], on_change=heard.append)

    readiness.set(MODEL)
    readiness.set(ASSIGNMENT)
    readiness.set(ASSIGNMENT)
    readiness.set(ASSIGNMENT, met=False)

    assert heard == [False, True, False]


def test_an_unknown_condition_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown readiness condition 'modle'"):
        Readiness([MODEL]).set("modle")
