"""The accounting itself: it must catch what it claims to catch, or a green chaos run means
nothing. In process, no servers."""

from __future__ import annotations

from datetime import timedelta

from streamjury.schemas import DeadLetter, Decision, Verdict, utc_now
from tests.reliability.accounting import Expected, account

NOW = utc_now()


def decision(
    event_id: str, revision: int = 1, outcome: str = "approve", **extra: object
) -> Decision:
    return Decision.model_validate(
        {
            "event_id": event_id,
            "event_type": "ride",
            "outcome": outcome,
            "revision": revision,
            "event_occurred_at": NOW,
            "decided_at": NOW,
            **extra,
        }
    )


def verdict(event_id: str, check: str) -> Verdict:
    return Verdict.model_validate(
        {
            "event_id": event_id,
            "event_type": "ride",
            "check": check,
            "model_name": "m",
            "model_version": "1",
            "event_occurred_at": NOW,
            "produced_at": NOW,
            "source": {"stream": "rides", "partition": "0", "offset": 1},
        }
    )


def test_an_identical_copy_is_a_redelivery_only_where_decisions_are_at_least_once() -> None:
    expected = Expected(events=frozenset({"a"}), dead_letters=frozenset())
    copy = decision("a", decided_at=NOW + timedelta(seconds=5))

    at_least_once = account(expected, [decision("a"), copy], [], redeliveries=True)
    exactly_once = account(expected, [decision("a"), copy], [])

    assert (at_least_once.exact, at_least_once.redelivered) == (True, 1)
    assert exactly_once.duplicated == {("a", 1): 2}


def test_copies_that_differ_are_duplicates_even_where_redeliveries_are_allowed() -> None:
    expected = Expected(events=frozenset({"a"}), dead_letters=frozenset())

    found = account(
        expected, [decision("a"), decision("a", outcome="review")], [], redeliveries=True
    )

    assert found.duplicated == {("a", 1): 2}
    assert not found.exact


def test_a_dead_letter_cut_to_fit_its_sink_still_accounts_for_its_original() -> None:
    original = b"x" * 100_000
    cut = DeadLetter.of(original, "too large", "consumer:tip", max_bytes=10_000)
    expected = Expected(events=frozenset(), dead_letters=frozenset({("consumer:tip", original)}))

    assert cut.original_truncated
    assert account(expected, [], [cut]).exact
    assert not account(expected, [], []).exact


def test_a_lost_verdict_is_caught_even_when_a_fallback_decided_its_event() -> None:
    expected = Expected(
        events=frozenset({"a"}),
        dead_letters=frozenset(),
        verdicts=frozenset({("a", "duration"), ("a", "tip")}),
    )
    fallback = decision("a", outcome="incomplete", missing_checks=["tip"])

    found = account(expected, [fallback], [], [verdict("a", "duration")])

    assert found.missing_verdicts == [("a", "tip")]
    assert not found.exact
