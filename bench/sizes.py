"""How big each benchmark run is: ``full`` for ``make bench``, ``smoke`` for CI (seconds, no timing).

One place, so the whole suite's length is decided here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    check_events: int
    """Events per check-consumer run (batch sizes 100 and up)."""
    batch_sizes: tuple[int, ...]
    tutorial_events: int
    decision_events: int
    """Rides, and as many uploads, whose verdicts the decision service joins."""
    cli_events: int
    lambda_repeat: int
    offered_loads: tuple[float, ...]
    """Events/s offered to the whole pipeline; 0 is as fast as possible."""
    quix_loads: tuple[float, ...]
    tried_settings_loads: tuple[float, ...]
    """Loads run again with the batching settings tried against the defaults (empty: none)."""
    co_located_loads: tuple[float, ...]
    """Loads run again with each stream's checks in one consumer process (``consume duration
    tip``, ``consume copyright nsfw violence``)."""
    two_deciders_loads: tuple[float, ...]
    """Loads run again with co-located checks and two decision instances."""
    seconds_per_load: float
    warm_up_s: float
    """Seconds of unreported traffic at each session's first rate before its first phase."""
    max_events: int
    """Events of the as-fast-as-possible phase."""
    quix_max_events: int
    """The same for Quix Streams, which is several times slower: fewer keep the run short."""
    repeat: int
    profile: bool = False

    def events_at_batch(self, batch: int) -> int:
        """Small batches are slow (a flush and commit each): fewer events keep the run short."""
        return min(self.check_events, max(batch * 60, 20))

    def phase_events(self, rate: float, system: str = "streamjury") -> int:
        if rate == 0:
            return self.quix_max_events if system == "quix" else self.max_events
        return int(rate * self.seconds_per_load)


SIZES = {
    "full": Size(
        name="full",
        check_events=50_000,
        batch_sizes=(1, 10, 100, 500, 1000),
        tutorial_events=300,
        decision_events=20_000,
        cli_events=5_000,
        lambda_repeat=10,
        offered_loads=(500, 1000, 2000, 5000, 0),
        quix_loads=(0,),
        tried_settings_loads=(1000,),
        co_located_loads=(500, 1000, 2000, 5000, 0),
        two_deciders_loads=(5000, 0),
        seconds_per_load=8.0,
        warm_up_s=2.0,
        max_events=100_000,
        quix_max_events=1_500,
        repeat=4,
        profile=True,
    ),
    "smoke": Size(
        name="smoke",
        check_events=40,
        batch_sizes=(1, 10),
        tutorial_events=5,
        decision_events=10,
        cli_events=20,
        lambda_repeat=2,
        offered_loads=(50, 0),
        quix_loads=(0,),
        tried_settings_loads=(),
        co_located_loads=(50, 0),
        two_deciders_loads=(0,),
        seconds_per_load=0.2,
        warm_up_s=0.2,
        max_events=20,
        quix_max_events=20,
        repeat=1,
    ),
}
