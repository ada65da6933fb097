"""Specification of one event's join: open, de-duplicate, decide, amend, expire."""

from __future__ import annotations

import pytest

from decision.join_state import (
    JoinState,
    conflict_reason,
    decide,
    is_expired,
    record_verdict,
    wake_at,
)
from decision.policy import Policy
from streamjury.errors import InvalidEvent
from streamjury.schemas import MAX_RECORD_BYTES
from tests.unit.decision.support import PolicyFactory, VerdictFactory

NOW = 1_700_000_000.0
COPYRIGHT_OPTIONAL = """
[upload]
required = ["nsfw", "violence"]
optional = ["copyright"]
timeout_s = 60.0
[upload.thresholds.copyright]
remove = 0.9
review = 0.6
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
[upload.thresholds.violence]
remove = 0.95
review = 0.7
"""


def joined(make_verdict: VerdictFactory, *checks: tuple[str, float], now: float = NOW) -> JoinState:
    """A join of upload verdicts (check, score), all recorded at ``now``."""
    state = None
    for check, score in checks:
        state = record_verdict(state, make_verdict(check, score=score), now) or state
    assert state is not None
    return state


def test_the_first_verdict_opens_the_join_at_the_current_time(make_verdict: VerdictFactory) -> None:
    state = record_verdict(None, make_verdict("nsfw", score=0.1), NOW)

    assert state is not None
    assert state.opened_at == NOW
    assert [v.check for v in state.verdicts] == ["nsfw"]
    assert state.decided is None


def test_a_second_verdict_of_the_same_check_is_a_duplicate_and_changes_nothing(
    make_verdict: VerdictFactory,
) -> None:
    state = joined(make_verdict, ("nsfw", 0.1))

    again = record_verdict(state, make_verdict("nsfw", score=0.99), NOW + 5)

    assert again is None
    assert state.by_check["nsfw"].score == 0.1


def test_a_first_decision_has_revision_1_and_carries_every_verdict(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    state = joined(
        make_verdict, ("copyright", 0.1), ("nsfw", 0.1), ("violence", 0.1), ("deepfake", 0.9)
    )

    decided, decision = decide(state, policy, NOW + 1)

    assert decision is not None
    assert decision.outcome == "approve"
    assert decision.revision == 1
    assert [v.check for v in decision.verdicts] == ["copyright", "nsfw", "violence", "deepfake"]
    assert decided.decided is not None
    assert (decided.decided.outcome, decided.decided.revision) == ("approve", 1)


def test_an_undecidable_join_publishes_nothing_and_stays_the_same(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    state = joined(make_verdict, ("nsfw", 0.1))

    after, decision = decide(state, policy, NOW + 1)

    assert decision is None
    assert after is state


def test_a_late_verdict_that_changes_the_outcome_amends_with_the_next_revision(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    policy = make_policy(upload=COPYRIGHT_OPTIONAL)
    approved, first = decide(joined(make_verdict, ("nsfw", 0.1), ("violence", 0.1)), policy, NOW)
    late = record_verdict(approved, make_verdict("copyright", score=0.97), NOW + 10)
    assert late is not None

    amended, decision = decide(late, policy, NOW + 10)

    assert first is not None
    assert first.outcome == "approve"
    assert decision is not None
    assert (decision.outcome, decision.revision) == ("remove", 2)
    assert amended.decided is not None
    assert amended.decided.revision == 2


def test_a_late_verdict_that_keeps_the_outcome_publishes_nothing_but_is_recorded(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    policy = make_policy(upload=COPYRIGHT_OPTIONAL)
    approved, _ = decide(joined(make_verdict, ("nsfw", 0.1), ("violence", 0.1)), policy, NOW)
    late = record_verdict(approved, make_verdict("copyright", score=0.2), NOW + 10)
    assert late is not None

    after, decision = decide(late, policy, NOW + 10)

    assert decision is None
    assert "copyright" in after.by_check
    assert after.decided == approved.decided


def test_an_incomplete_ride_becomes_an_estimate_when_the_missing_check_arrives(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    opened = record_verdict(None, make_verdict("duration", value=20.0), NOW)
    assert opened is not None
    timed_out, incomplete = decide(opened, policy, NOW + policy.ride.timeout_s)
    late = record_verdict(timed_out, make_verdict("tip", value=3.0), NOW + 100)
    assert late is not None

    _, decision = decide(late, policy, NOW + 100)

    assert incomplete is not None
    assert (incomplete.outcome, incomplete.missing_checks) == ("incomplete", ["tip"])
    assert decision is not None
    assert (decision.outcome, decision.revision) == ("estimate", 2)
    assert decision.missing_checks == []


def test_an_early_remove_is_not_amended_by_the_checks_that_follow(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    removed, first = decide(joined(make_verdict, ("copyright", 0.99)), policy, NOW)
    rest = joined(make_verdict, ("nsfw", 0.1), ("violence", 0.1))
    state = removed
    for verdict in rest.verdicts:
        state = record_verdict(state, verdict, NOW + 1) or state

    _, decision = decide(state, policy, NOW + 1)

    assert first is not None
    assert first.outcome == "remove"
    assert decision is None


def test_a_verdict_naming_another_event_type_conflicts(make_verdict: VerdictFactory) -> None:
    state = joined(make_verdict, ("nsfw", 0.1))

    reason = conflict_reason(state, make_verdict("duration", value=3.0))

    assert reason is not None
    assert "ride" in reason


def test_a_state_survives_its_changelog_encoding(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    state, _ = decide(joined(make_verdict, ("copyright", 0.99)), policy, NOW)

    assert JoinState.from_bytes(state.to_bytes()) == state


def test_a_corrupt_changelog_value_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent):
        JoinState.from_bytes(b'{"event_id": "x"}')


def test_an_open_join_wakes_at_its_timeout_and_a_decided_one_at_its_expiry(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    open_join = joined(make_verdict, ("copyright", 0.1))
    decided, _ = decide(joined(make_verdict, ("copyright", 0.99)), policy, NOW + 3)

    assert wake_at(open_join, policy, retention_s=600) == NOW + policy.upload.timeout_s
    assert wake_at(decided, policy, retention_s=600) == NOW + 3 + 600


def test_only_a_decided_join_expires_after_the_retention(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    open_join = joined(make_verdict, ("copyright", 0.1))
    decided, _ = decide(joined(make_verdict, ("copyright", 0.99)), policy, NOW)

    assert not is_expired(decided, NOW + 599, retention_s=600)
    assert is_expired(decided, NOW + 600, retention_s=600)
    assert not is_expired(open_join, NOW + 10_000, retention_s=600)


def test_a_state_larger_than_a_wire_record_still_decodes(make_verdict: VerdictFactory) -> None:
    # Eight verdicts with 9 kB of details each: over the 64 kB limit of one wire record.
    state = None
    for n in range(8):
        verdict = make_verdict(f"check_{n}", score=0.1)
        verdict = verdict.model_copy(update={"details": {"note": "v" * 9_000}})
        state = record_verdict(state, verdict, NOW) or state
    assert state is not None
    raw = state.to_bytes()
    assert len(raw) > MAX_RECORD_BYTES

    assert JoinState.from_bytes(raw) == state
