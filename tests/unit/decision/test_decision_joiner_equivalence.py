"""The joiner on plain join objects gives the very bytes the immutable-model joiner gave.

Random runs (verdicts of several events in any order, redeliveries, conflicting duplicates,
unusable verdicts, timeouts, amendments, expiries, held partitions, restores from the changelog)
go through both ``decision.joiner.Joiner`` and the reference (``reference_joiner``, the code it
replaced); every rejection, every offer's answer, and every batch's decisions and changelog
records must be identical, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from decision.joiner import Joiner
from decision.policy import Policy, load_policy, parse_policy
from streamjury.schemas import SourcePosition, Verdict
from tests.unit.decision.reference_joiner import ReferenceJoiner
from tests.unit.decision.support import DEFAULT_RIDE, upload_policy_text

PARTITIONS = ("0", "1")
EVENTS = 4
START = 1_700_000_000.25
RETENTION_S = 600.0
OPTIONAL_COPYRIGHT = """
[upload]
required = ["nsfw", "violence"]
optional = ["copyright"]
timeout_s = 45.0
fallback = "incomplete"
[upload.thresholds.copyright]
remove = 0.9
review = 0.6
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
review_low = 0.3
[upload.thresholds.violence]
remove = 0.95
review = 0.7
"""
POLICIES: list[Policy] = [
    load_policy(),
    parse_policy(DEFAULT_RIDE + upload_policy_text(fallback="remove", quorum=None)),
    parse_policy(DEFAULT_RIDE + OPTIONAL_COPYRIGHT),
]
RIDE_CHECKS = ("duration", "tip", "duration", "tip", "weather")
UPLOAD_CHECKS = ("copyright", "nsfw", "violence", "copyright", "nsfw", "violence", "deepfake")
"""Each event's checks, the policy's ones most often; one check not in any policy."""
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
STEPS = [0.0, 0.0, 0.0, 0.001, 1.0, 1.0, 29.999, 30.0, 44.5, 60.0, 61.0, 599.0, 600.0, 3600.0]


@dataclass(frozen=True)
class Offer:
    event: int
    check: int
    """Which of its event type's checks (``RIDE_CHECKS``, ``UPLOAD_CHECKS``)."""
    number: float | None
    label: str | None
    details: dict[str, Any]
    offset: int
    as_other_type: bool


@dataclass(frozen=True)
class Burst:
    """Every check of the event's type but the last (the unknown one), all with one number."""

    event: int
    number: float
    offset: int


@dataclass(frozen=True)
class Settle:
    advance: float


@dataclass(frozen=True)
class Hold:
    partition: str
    resume: bool


@dataclass(frozen=True)
class Restart:
    """Release a partition and restore it from the changelog written so far, held or not."""

    partition: str
    hold: bool


offers = st.builds(
    Offer,
    event=st.integers(0, EVENTS - 1),
    check=st.integers(0, len(UPLOAD_CHECKS) - 1),
    number=st.sampled_from(
        [None, 0.0, 0.0, 0.1, 0.1, 0.1, 0.3, 0.45, 0.5, 0.65, 0.7, 0.9, 0.95, 0.99, 1.0]
    )
    | st.floats(0, 1),
    label=st.one_of(st.none(), TEXT),
    details=st.dictionaries(
        TEXT,
        st.one_of(
            st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(-1e20, 1e20), TEXT
        ),
        max_size=3,
    ),
    offset=st.integers(0, 3),
    as_other_type=st.sampled_from([False] * 9 + [True]),
)
bursts = st.builds(
    Burst,
    event=st.integers(0, EVENTS - 1),
    number=st.sampled_from([0.0, 0.1, 0.2, 0.45, 0.55, 0.6, 0.75]),
    offset=st.integers(0, 1),
)
operations = st.lists(
    st.one_of(
        bursts,
        offers,
        offers,
        offers,
        offers,
        offers,
        st.builds(Settle, st.sampled_from(STEPS)),
        st.builds(Hold, st.sampled_from(PARTITIONS), st.booleans()),
        st.builds(Restart, st.sampled_from(PARTITIONS), st.booleans()),
    ),
    min_size=5,
    max_size=80,
)


def event_type(event: int) -> str:
    return "ride" if event % 2 == 0 else "upload"


def partition_of(event: int) -> str:
    return PARTITIONS[(event // 2) % len(PARTITIONS)]


def make_verdict(op: Offer, occurred: datetime) -> Verdict:
    kind = event_type(op.event)
    if op.as_other_type:
        kind = "upload" if kind == "ride" else "ride"
    ride_check = kind == "ride"
    checks = RIDE_CHECKS if ride_check else UPLOAD_CHECKS
    check = checks[op.check % len(checks)]
    return Verdict(
        event_id=f"evt-{op.event}",
        event_type=kind,  # type: ignore[arg-type]
        check=check,
        model_name=f"{check}-model",
        model_version="1",
        score=None if ride_check else op.number,
        value=op.number * 80 if ride_check and op.number is not None else None,
        label=op.label,
        details=op.details,
        event_occurred_at=occurred,
        produced_at=occurred + timedelta(seconds=1),
        source=SourcePosition(stream=f"{kind}s", partition="0", offset=op.offset),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=st.sampled_from(POLICIES),
    ops=operations,
    zone=st.sampled_from(ZONES),
    micros=st.integers(0, 999_999),
)
def test_the_joiner_decides_and_writes_exactly_as_the_reference(
    policy: Policy, ops: list[Any], zone: timezone, micros: int
) -> None:
    joiner = Joiner(policy, retention_s=RETENTION_S)
    reference = ReferenceJoiner(policy, retention_s=RETENTION_S)
    changelog: dict[str, list[tuple[str, bytes]]] = {p: [] for p in PARTITIONS}
    for partition in PARTITIONS:
        joiner.restore(partition, [])
        reference.restore(partition, [])
    now = START
    occurred = datetime(2026, 3, 1, 12, 0, 0, micros, tzinfo=zone)
    for op in ops:
        if isinstance(op, Offer | Burst):
            if isinstance(op, Burst):
                count = len(RIDE_CHECKS if event_type(op.event) == "ride" else UPLOAD_CHECKS) - 1
                each = [
                    Offer(op.event, n, op.number, None, {}, op.offset, False) for n in range(count)
                ]
            else:
                each = [op]
            for offer in each:
                verdict = make_verdict(offer, occurred + timedelta(minutes=offer.event))
                partition = partition_of(offer.event)
                rejection = reference.rejection(partition, verdict)
                if offer.offset % 2:  # the service's path: rejection and offer in one call
                    joined = joiner.join(partition, verdict, now)
                    if rejection is None:
                        assert joined is reference.offer(partition, verdict, now)
                    else:
                        assert joined == rejection
                        event(f"rejected: {rejection.split(':')[0].split(' ')[0]}")
                    continue
                assert joiner.rejection(partition, verdict) == rejection
                if rejection is not None:
                    event(f"rejected: {rejection.split(':')[0].split(' ')[0]}")
                    continue
                accepted = joiner.offer(partition, verdict, now)
                assert accepted == reference.offer(partition, verdict, now)
        elif isinstance(op, Settle):
            now += op.advance
            expected = reference.settle(now)
            changes = joiner.settle(now)
            assert [record.value for record in changes.decision_records] == [
                decision.to_bytes() for decision in expected.decisions
            ]
            assert [(r.event_id, r.outcome, r.revision) for r in changes.decision_records] == [
                (d.event_id, d.outcome, d.revision) for d in expected.decisions
            ]
            written = [
                (event_id, b"" if state is None else state.to_bytes())
                for event_id, state in expected.states.items()
            ]
            assert list(changes.state_records.items()) == written
            assert changes.dropped == sum(1 for state in expected.states.values() if state is None)
            assert bool(changes) == bool(expected)
            for record in changes.decision_records:
                event("amendment" if record.revision > 1 else f"decision: {record.outcome}")
            if changes.dropped:
                event("a join expired")
            for event_id, value in written:
                changelog[partition_of(int(event_id.split("-")[1]))].append((event_id, value))
        elif isinstance(op, Hold):
            if op.resume:
                joiner.resume(op.partition)
                reference.resume(op.partition)
            else:
                joiner.hold(op.partition)
                reference.hold(op.partition)
        else:
            for each in (joiner, reference):
                each.release(op.partition)
                each.restore(op.partition, changelog[op.partition])
                if op.hold:
                    each.hold(op.partition)
        assert len(joiner) == len(reference)
        assert joiner.held() == reference.held()


def settle_both(joiner: Joiner, reference: ReferenceJoiner, now: float) -> list[tuple[str, int]]:
    """Settle both at ``now``; their outputs must be the same bytes. (event_id, revision)s."""
    expected = reference.settle(now)
    changes = joiner.settle(now)
    assert [record.value for record in changes.decision_records] == [
        decision.to_bytes() for decision in expected.decisions
    ]
    assert list(changes.state_records.items()) == [
        (event_id, b"" if state is None else state.to_bytes())
        for event_id, state in expected.states.items()
    ]
    return [(record.event_id, record.revision) for record in changes.decision_records]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=st.sampled_from(POLICIES),
    numbers=st.lists(st.sampled_from([0.0, 0.1, 0.45, 0.6, 0.75, 0.97]), min_size=24, max_size=24),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.tuples(st.integers(0, 24), st.sampled_from(STEPS)), max_size=6),
)
def test_any_order_and_batching_of_the_same_verdicts_decides_as_the_reference(
    policy: Policy, numbers: list[float], order: Any, cuts: list[tuple[int, float]]
) -> None:
    # Every check of EVENTS events (an unknown one included), shuffled, cut into batches with
    # the clock moving on between them: timeouts, amendments and expiries in every order.
    verdicts = []
    for n in range(EVENTS):
        checks = RIDE_CHECKS if event_type(n) == "ride" else UPLOAD_CHECKS
        for check in dict.fromkeys(checks):
            offer = Offer(n, checks.index(check), numbers[len(verdicts)], "x", {}, 0, False)
            verdicts.append((n, offer))
    order.shuffle(verdicts)
    steps = dict(cuts)
    joiner = Joiner(policy, retention_s=RETENTION_S)
    reference = ReferenceJoiner(policy, retention_s=RETENTION_S)
    for partition in PARTITIONS:
        joiner.restore(partition, [])
        reference.restore(partition, [])
    now = START
    occurred = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for position, (n, offer) in enumerate(verdicts):
        if position in steps:
            for _, revision in settle_both(joiner, reference, now):
                event("amendment" if revision > 1 else "decision")
            now += steps[position]
        verdict = make_verdict(offer, occurred)
        partition = partition_of(n)
        joined = joiner.join(partition, verdict, now)  # the service's path
        rejection = reference.rejection(partition, verdict)
        if rejection is None:
            assert joined is reference.offer(partition, verdict, now)
        else:
            assert joined == rejection
    for step in (0.0, *STEPS):
        now += step
        for _, revision in settle_both(joiner, reference, now):
            event("amendment" if revision > 1 else "decision")
    assert len(joiner) == len(reference) == 0
