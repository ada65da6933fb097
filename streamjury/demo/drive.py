"""Drives a running pipeline: proves it is up, feeds it the demo's events, waits for its outputs.

Every wait also watches the services, so a crashed one ends the run at once with its log tail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from producers.publisher import Pacing, Publisher, SteadyRate, Unpaced
from streamjury.clock import Clock
from streamjury.demo.errors import DemoFailed
from streamjury.demo.events import Event, Malformed, stamped, unstamped
from streamjury.demo.orchestrator import Orchestrator
from streamjury.demo.services import checks_by_stream
from streamjury.demo.watch import OutputWatch, read_models
from streamjury.schemas import Verdict
from streamjury.streams.base import Backend
from streamjury.streams.names import STREAM_OF_EVENT_TYPE, StreamNames

Say = Callable[[str], None]
"""Where progress lines go (stderr, for the CLI)."""
POLL_S = 0.2
PROGRESS_EVERY_S = 5.0


@dataclass
class Driver:
    """The running pieces one demo run feeds and watches."""

    backend: Backend
    names: StreamNames
    services: Orchestrator
    watch: OutputWatch
    publisher: Publisher
    clock: Clock
    say: Say

    def warm_up(self, events: Sequence[Event], timeout_s: float) -> None:
        """Send ``events`` (one ride, one upload); wait for every check's verdict and their
        decisions.

        That proves all five consumers and the decision service are running, so the figures that
        follow measure a running pipeline, not the start-up of six processes. Verdicts, not the
        decisions' ``missing_checks``, are the proof: an upload removed early never lists them all.
        """
        self.publisher.publish(stamped(events, self.names, self.clock))
        readers = checks_by_stream()
        wanted = {
            (event.event_id, check)
            for event in events
            for check in readers[STREAM_OF_EVENT_TYPE[event.event_type]]
        }
        event_ids = {event.event_id for event in events}
        lacking = sorted({check for _, check in wanted})
        deadline = self.clock.monotonic() + timeout_s
        while lacking or self.watch.outstanding(event_ids):
            self.services.check_running()
            if self.clock.monotonic() > deadline:
                waiting_for = ", ".join(lacking) if lacking else "the decision service"
                raise DemoFailed(
                    f"the pipeline did not process the warm-up events within {timeout_s:.0f} s "
                    f"(still waiting for {waiting_for}): see the logs in {self.services.log_dir}"
                )
            self.watch.poll(POLL_S)
            verdicts = read_models(self.backend, self.names.verdicts, Verdict)
            lacking = sorted({check for _, check in wanted - {v.verdict_key for v in verdicts}})

    def publish(self, items: Sequence[Event | Malformed], rate: float, batch_size: int) -> datetime:
        """Send ``items`` at ``rate`` events/s (0: as fast as possible); when it started."""
        valid = sum(1 for item in items if not isinstance(item, Malformed))
        pace = "as fast as possible" if rate == 0 else f"at {rate:,.0f} events/s"
        self.say(f"publishing {valid:,} events and {len(items) - valid} malformed records, {pace}")
        pacing: Pacing = SteadyRate(rate, burst=batch_size) if rate else Unpaced()
        ready = unstamped(items)  # serialised before the clock starts
        origin = self.clock.now()
        outgoing = stamped(ready, self.names, self.clock, rate=rate, origin=origin)
        stats = self.publisher.publish(outgoing, pacing)
        self.say(f"published {stats.sent:,} records in {stats.seconds:.2f} s")
        return origin

    def wait(
        self,
        events: Collection[str],
        dead_letters: Collection[tuple[str, bytes]],
        timeout_s: float,
    ) -> bool:
        """Wait until every event is decided and every expected dead letter is in; False after
        ``timeout_s``. A service that dies meanwhile ends the wait with ServiceDied."""
        started = self.clock.monotonic()
        report_at = started + PROGRESS_EVERY_S
        while self.watch.outstanding(events, dead_letters):
            self.services.check_running()
            now = self.clock.monotonic()
            if now - started > timeout_s:
                return False
            if now >= report_at:
                done = len(self.watch.decided.intersection(events))  # earlier phases aside
                self.say(f"waiting: {done:,} of {len(events):,} events decided")
                report_at = now + PROGRESS_EVERY_S
            self.watch.poll(POLL_S)
        self.say(
            f"every event decided {self.clock.monotonic() - started:.1f} s after the last publish"
        )
        return True
