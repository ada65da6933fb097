"""The unreported warm-up before a session's first phase."""

from __future__ import annotations

from bench.pipeline import WARM_UP_RATE, Phase, warm_up_phase


def test_warms_up_at_the_first_phases_rate() -> None:
    phases = [Phase(5000, 40_000), Phase(0, 100_000)]

    assert warm_up_phase(phases, 2.0) == Phase(5000, 10_000)


def test_a_session_starting_flat_out_warms_up_at_a_steady_rate() -> None:
    assert warm_up_phase([Phase(0, 1_500)], 2.0) == Phase(WARM_UP_RATE, int(WARM_UP_RATE * 2))


def test_no_warm_up_when_none_is_asked_or_nothing_follows() -> None:
    assert warm_up_phase([Phase(500, 4_000)], 0.0) is None
    assert warm_up_phase([], 2.0) is None


def test_at_least_one_event() -> None:
    assert warm_up_phase([Phase(1, 10)], 0.2) == Phase(1, 1)
