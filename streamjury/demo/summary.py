"""The demo's accounting: did every published event get exactly one current decision, and how fast.

Pure functions over what was published and what was read back, so every rule is unit-tested on
hand-built decisions. Latency compares two wall clocks of one machine: the event's ``occurred_at``
(stamped as it is published) and the decision's ``decided_at``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamjury.schemas import DeadLetter, Decision

PERCENTILES = (50, 95, 99)
SHOWN_IDS = 3
"""How many example event ids a problem line names."""


@dataclass(frozen=True)
class Published:
    """What the demo sent: the account is checked against this."""

    events: Mapping[str, str]
    """Every valid event: event_id -> event_type (``ride`` or ``upload``)."""
    warmup: frozenset[str] = frozenset()
    """Events sent alone before the rest to prove the pipeline is up; not timed."""
    malformed: int = 0
    expected_dead_letters: Collection[tuple[str, bytes]] = ()
    """(stage, original) of each dead letter the malformed records must cause."""
    first_publish: datetime | None = None
    """When the first timed record was sent (wall clock)."""

    @property
    def timed(self) -> set[str]:
        return set(self.events) - self.warmup


@dataclass(frozen=True)
class DecisionAccount:
    """Decisions read back, checked against the events published."""

    records: int
    current: dict[str, Decision]
    """Each event's highest revision."""
    first: dict[str, Decision]
    """Each event's lowest revision: when it was first decided."""
    missing: list[str]
    """Published, never decided."""
    extra: list[str]
    """Decided, never published."""
    duplicates: list[tuple[str, int]]
    """(event_id, revision) written more than once."""
    gaps: list[str]
    """Events whose revisions are not 1, 2, ... n: a revision was lost."""

    @property
    def exact(self) -> bool:
        """Every published event has exactly one current decision, and nothing else was decided."""
        return not (self.missing or self.extra or self.duplicates or self.gaps)


def account_decisions(expected: Collection[str], decisions: Iterable[Decision]) -> DecisionAccount:
    """Group decisions by event and compare them with the ``expected`` event ids."""
    revisions: defaultdict[str, Counter[int]] = defaultdict(Counter)
    current: dict[str, Decision] = {}
    first: dict[str, Decision] = {}
    records = 0
    for decision in decisions:
        records += 1
        event_id = decision.event_id
        revisions[event_id][decision.revision] += 1
        held = current.get(event_id)
        if held is None or decision.revision > held.revision:
            current[event_id] = decision
        earliest = first.get(event_id)
        if earliest is None or decision.revision < earliest.revision:
            first[event_id] = decision
    wanted = set(expected)
    return DecisionAccount(
        records=records,
        current=current,
        first=first,
        missing=sorted(wanted - current.keys()),
        extra=sorted(current.keys() - wanted),
        duplicates=sorted(
            (event_id, revision)
            for event_id, seen in revisions.items()
            for revision, count in seen.items()
            if count > 1
        ),
        gaps=sorted(
            event_id
            for event_id, seen in revisions.items()
            if sorted(seen) != list(range(1, len(seen) + 1))
        ),
    )


@dataclass(frozen=True)
class DeadLetterAccount:
    records: int
    missing: int
    """Expected (stage, original) pairs with no dead letter."""
    unexpected: int
    """Dead letters nobody expected: a valid event refused, or a stage we did not foresee."""


def account_dead_letters(
    expected: Collection[tuple[str, bytes]], letters: Iterable[DeadLetter]
) -> DeadLetterAccount:
    """Compare dead letters by (stage, original); a repeat of an expected one is not a problem."""
    wanted = set(expected)
    seen: Counter[tuple[str, bytes]] = Counter(
        (letter.stage, letter.original) for letter in letters
    )
    return DeadLetterAccount(
        records=sum(seen.values()),
        missing=len(wanted - seen.keys()),
        unexpected=sum(count for key, count in seen.items() if key not in wanted),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q% of values at or below it.

    Always a value that was observed, which is what a latency report should show.
    """
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Latency:
    """End-to-end latency in milliseconds, ``occurred_at`` to the first decision's ``decided_at``."""

    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, millis: Sequence[float]) -> Latency | None:
        if not millis:
            return None
        p50, p95, p99 = (percentile(millis, q) for q in PERCENTILES)
        return cls(len(millis), p50, p95, p99, max(millis))

    def figures(self) -> dict[str, float]:
        """``p50``, ``p95``, ``p99`` and ``max`` in milliseconds, as reports print them."""
        return {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms, "max": self.max_ms}


@dataclass(frozen=True)
class Summary:
    """Everything the demo reports; ``ok`` is its exit status."""

    events: dict[str, int]
    """Valid events published, by type."""
    malformed: int
    verdicts: int
    decisions: DecisionAccount
    outcomes: dict[str, int]
    """Current decisions by outcome."""
    incomplete: int
    """Current decisions with outcome ``incomplete``: a timeout left them without an answer."""
    partial: int
    """Current decisions made before every check reported: early removals and timeouts."""
    amendments: int
    """Events whose current decision is a revision > 1."""
    dead_letters: DeadLetterAccount
    throughput: float | None
    """Timed events per second, from the first publish to the last first decision."""
    elapsed_s: float | None
    latency: Latency | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def headline(self) -> str:
        """One line: the verdict of the run."""
        if self.ok:
            total = sum(self.events.values())
            return f"ok: every one of {total:,} events has exactly one current decision"
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for ``--json`` and scripts."""
        account = self.decisions
        return {
            "ok": self.ok,
            "headline": self.headline,
            "problems": list(self.problems),
            "events": {**self.events, "total": sum(self.events.values())},
            "malformed": self.malformed,
            "verdicts": self.verdicts,
            "decisions": {
                "records": account.records,
                "events": len(account.current),
                "by_outcome": dict(self.outcomes),
                "incomplete": self.incomplete,
                "partial": self.partial,
                "amendments": self.amendments,
                "exactly_one_current": account.exact,
                "missing": len(account.missing),
                "extra": len(account.extra),
                "duplicates": len(account.duplicates),
                "revision_gaps": len(account.gaps),
            },
            "dead_letters": {
                "records": self.dead_letters.records,
                "missing": self.dead_letters.missing,
                "unexpected": self.dead_letters.unexpected,
            },
            "throughput_events_per_s": self.throughput,
            "elapsed_s": self.elapsed_s,
            "latency_ms": None
            if self.latency is None
            else {"samples": self.latency.samples, **self.latency.figures()},
        }


def summarize(
    published: Published,
    decisions: Iterable[Decision],
    *,
    verdicts: int,
    dead_letters: Iterable[DeadLetter] = (),
    service_exits: Mapping[str, int] | None = None,
    timed_out_after: float | None = None,
) -> Summary:
    """Account for a run. ``service_exits``: exit codes on the final stop (0 is clean)."""
    account = account_decisions(published.events, decisions)
    letters = account_dead_letters(published.expected_dead_letters, dead_letters)
    timed = published.timed
    firsts = [account.first[event_id] for event_id in timed if event_id in account.first]
    millis = [(d.decided_at - d.event_occurred_at).total_seconds() * 1000 for d in firsts]
    elapsed: float | None = None
    throughput: float | None = None
    if firsts and published.first_publish is not None:
        last = max(d.decided_at for d in firsts)
        elapsed = (last - published.first_publish).total_seconds()
        throughput = len(firsts) / elapsed if elapsed > 0 else None
    current = account.current.values()
    problems = _problems(
        account, letters, service_exits or {}, timed_out_after, len(published.events)
    )
    return Summary(
        events=dict(sorted(Counter(published.events.values()).items())),
        malformed=published.malformed,
        verdicts=verdicts,
        decisions=account,
        outcomes=dict(sorted(Counter(d.outcome for d in current).items())),
        incomplete=sum(1 for d in current if d.outcome == "incomplete"),
        partial=sum(1 for d in current if d.missing_checks),
        amendments=sum(1 for d in current if d.revision > 1),
        dead_letters=letters,
        throughput=throughput,
        elapsed_s=elapsed,
        latency=Latency.of(millis),
        problems=problems,
    )


def _problems(
    account: DecisionAccount,
    letters: DeadLetterAccount,
    service_exits: Mapping[str, int],
    timed_out_after: float | None,
    total: int,
) -> list[str]:
    """Every reason the run is not a success, most telling first, each one line."""
    problems: list[str] = []
    if timed_out_after is not None:
        problems.append(
            f"timed out after {timed_out_after:g} s with {len(account.missing):,} of "
            f"{total:,} events undecided"
        )
    if account.missing:
        problems.append(
            f"{len(account.missing):,} of {total:,} events have no decision "
            f"(e.g. {_some(account.missing)})"
        )
    if account.duplicates:
        examples = _some(f"{event_id} revision {rev}" for event_id, rev in account.duplicates)
        problems.append(
            f"{len(account.duplicates):,} decisions were written twice (e.g. {examples})"
        )
    if account.gaps:
        problems.append(
            f"{len(account.gaps):,} events have a lost revision (e.g. {_some(account.gaps)})"
        )
    if account.extra:
        problems.append(
            f"{len(account.extra):,} decisions are for events never published "
            f"(e.g. {_some(account.extra)})"
        )
    if letters.missing:
        problems.append(f"{letters.missing:,} malformed records were not dead-lettered")
    if letters.unexpected:
        problems.append(f"{letters.unexpected:,} unexpected dead letters")
    for name, code in sorted(service_exits.items()):
        if code != 0:
            problems.append(f"service {name} exited with code {code} when stopped")
    return problems


def _some(items: Iterable[str]) -> str:
    listed = list(items)
    return ", ".join(listed[:SHOWN_IDS]) + (", ..." if len(listed) > SHOWN_IDS else "")
