"""Exact accounting of a run: every event decided once, every hostile record dead-lettered.

Shared by every reliability test, whatever the backend: the outputs are read back from the
streams without a consumer group (on Kafka, ``read_committed``), then held against what went in.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streamjury.schemas import DeadLetter, Decision, Verdict
from streamjury.streams.base import Backend, Record


@dataclass(frozen=True)
class Expected:
    """What a run put in: valid event ids, and the dead letters it must cause."""

    events: frozenset[str]
    """Every valid event id produced; each must end with exactly one current decision."""
    dead_letters: frozenset[tuple[str, bytes]]
    """(stage, original): each hostile record, once for every consumer of its stream."""
    conflicts: frozenset[str] = frozenset()
    """Event ids sent twice with different content: the decision service must dead-letter one."""
    verdicts: frozenset[tuple[str, str]] = frozenset()
    """(event_id, check) that must each have a verdict: a verdict lost on its way would
    otherwise hide behind the fallback decision its join's timeout gives."""


@dataclass
class Accounting:
    """The figures of a run, and every way it departed from an exact accounting."""

    events: int
    decisions: int
    dead_letters: int
    amendments: int
    lost: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicated: dict[tuple[str, int], int] = field(default_factory=dict)
    revision_gaps: dict[str, list[int]] = field(default_factory=dict)
    missing_dead_letters: list[tuple[str, bytes]] = field(default_factory=list)
    without_reason: int = 0
    unexplained_conflicts: list[str] = field(default_factory=list)
    missing_verdicts: list[tuple[str, str]] = field(default_factory=list)
    differing: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    """The distinct contents (bar ``decided_at``) of the first few duplicated keys: what a
    failure report needs to tell a replayed decision from a second one."""
    redelivered: int = 0
    """Copies of a decision identical to one already written (bar ``decided_at``): allowed only
    where decisions are at least once (Kinesis); anywhere else every copy is a duplicate."""

    @property
    def exact(self) -> bool:
        return not (
            self.lost
            or self.unknown
            or self.duplicated
            or self.revision_gaps
            or self.missing_dead_letters
            or self.without_reason
            or self.unexplained_conflicts
            or self.missing_verdicts
        )

    def summary(self) -> str:
        return (
            f"{self.events} events, {self.decisions} decisions ({self.amendments} amendments), "
            f"{self.dead_letters} dead letters; lost {len(self.lost)}, duplicated "
            f"{len(self.duplicated)}, redelivered {self.redelivered}, missing dead letters "
            f"{len(self.missing_dead_letters)}, missing verdicts {len(self.missing_verdicts)}"
        )

    def assert_exact(self) -> None:
        problems = {
            "lost (no decision)": self.lost[:10],
            "decisions for events never produced": self.unknown[:10],
            "duplicate (event_id, revision)": list(self.duplicated.items())[:10],
            "their contents": self.differing,
            "revisions not 1..n": list(self.revision_gaps.items())[:10],
            "hostile records not dead-lettered by": [
                (stage, original[:60]) for stage, original in self.missing_dead_letters[:10]
            ],
            "dead letters without a reason": self.without_reason,
            "conflicting duplicates not dead-lettered": self.unexplained_conflicts[:10],
            "(event_id, check) without a verdict": self.missing_verdicts[:10],
        }
        found = {what: sample for what, sample in problems.items() if sample}
        assert not found, f"{self.summary()}: {found}"


def account(
    expected: Expected,
    decisions: Sequence[Decision],
    dead_letters: Sequence[DeadLetter],
    verdicts: Sequence[Verdict] = (),
    *,
    redeliveries: bool = False,
) -> Accounting:
    """Hold the outputs of a run against what went in.

    ``redeliveries``: identical copies of a decision are redeliveries, not duplicates (the
    at-least-once decisions of Kinesis, which readers de-duplicate); copies that differ are
    duplicates on every backend.
    """
    revisions: defaultdict[str, list[int]] = defaultdict(list)
    for decision in decisions:
        revisions[decision.event_id].append(decision.revision)
    counts = Counter((d.event_id, d.revision) for d in decisions)
    contents: defaultdict[tuple[str, int], set[str]] = defaultdict(set)
    for decision in decisions:
        contents[(decision.event_id, decision.revision)].add(
            decision.model_dump_json(exclude={"decided_at"})
        )
    duplicated = {
        key: n
        for key, n in counts.items()
        if n > 1 and (not redeliveries or len(contents[key]) > 1)
    }
    seen_letters = {(letter.stage, identity(letter)) for letter in dead_letters}
    decision_letters = " ".join(
        letter.reason for letter in dead_letters if letter.stage == "decision"
    )
    return Accounting(
        events=len(expected.events),
        decisions=len(decisions),
        dead_letters=len(dead_letters),
        amendments=sum(1 for d in decisions if d.revision > 1),
        lost=sorted(expected.events - revisions.keys()),
        unknown=sorted(revisions.keys() - expected.events),
        duplicated=duplicated,
        differing={key: sorted(contents[key]) for key in list(duplicated)[:3]},
        redelivered=sum(n - 1 for key, n in counts.items() if n > 1 and key not in duplicated),
        revision_gaps={
            event_id: sorted(seen)
            for event_id, seen in revisions.items()
            if sorted(set(seen)) != list(range(1, max(seen) + 1))
        },
        missing_dead_letters=sorted(
            (stage, original)
            for stage, original in expected.dead_letters
            if (stage, hashlib.sha256(original).hexdigest()) not in seen_letters
        ),
        without_reason=sum(1 for letter in dead_letters if not letter.reason.strip()),
        unexplained_conflicts=sorted(
            event_id
            for event_id in expected.conflicts
            if f"conflicting duplicate: event {event_id} " not in decision_letters
        ),
        missing_verdicts=sorted(expected.verdicts - {v.verdict_key for v in verdicts}),
    )


def identity(letter: DeadLetter) -> str:
    """The sha256 of the whole original: a letter cut to fit its sink (a 900 KB record on Kafka)
    keeps only the first part of the original, but always its hash."""
    return letter.original_sha256 or hashlib.sha256(letter.original).hexdigest()


def read_stream(backend: Backend, stream: str) -> list[Record]:
    """Every record of ``stream`` up to its end now, each partition read without a group (on
    Kafka ``read_committed``, up to the end once every transaction open now has finished:
    a stream written in transactions ends on a commit marker, not on a record)."""
    return [
        record
        for partition in backend.partitions(stream)
        for record in backend.read_partition(stream, partition)
    ]


def read_outputs(
    backend: Backend, decisions: str, deadletter: str
) -> tuple[list[Decision], list[DeadLetter]]:
    return (
        [Decision.model_validate_json(r.value) for r in read_stream(backend, decisions)],
        [DeadLetter.model_validate_json(r.value) for r in read_stream(backend, deadletter)],
    )


def read_verdicts(backend: Backend, verdicts: str) -> list[Verdict]:
    return [Verdict.model_validate_json(r.value) for r in read_stream(backend, verdicts)]


def for_every_reader(
    records: Iterable[tuple[str, bytes]], readers: dict[str, list[str]]
) -> frozenset[tuple[str, bytes]]:
    """(stage, original) for each (stream, payload), once for every check reading that stream."""
    return frozenset(
        (f"consumer:{check}", payload)
        for stream, payload in records
        for check in readers.get(stream, [])
    )
