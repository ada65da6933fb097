"""Specification of the demo's accounting: exactly one current decision per published event,
and latency and throughput measured from the decisions themselves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from streamjury.demo.summary import (
    Published,
    account_dead_letters,
    account_decisions,
    percentile,
    summarize,
)
from streamjury.schemas import DeadLetter, Decision, Outcome

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def decision(
    event_id: str,
    *,
    revision: int = 1,
    outcome: Outcome = "approve",
    occurred_ms: int = 0,
    decided_ms: int = 100,
    missing: Sequence[str] = (),
) -> Decision:
    return Decision(
        event_id=event_id,
        event_type="ride" if outcome in ("estimate", "incomplete") else "upload",
        outcome=outcome,
        revision=revision,
        missing_checks=list(missing),
        event_occurred_at=T0 + timedelta(milliseconds=occurred_ms),
        decided_at=T0 + timedelta(milliseconds=decided_ms),
    )


def published(
    *event_ids: str,
    warmup: Sequence[str] = (),
    first_publish: datetime | None = None,
    malformed: int = 0,
    expected_dead_letters: Sequence[tuple[str, bytes]] = (),
) -> Published:
    return Published(
        events={e: "ride" if e.startswith("ride") else "upload" for e in event_ids},
        warmup=frozenset(warmup),
        malformed=malformed,
        expected_dead_letters=expected_dead_letters,
        first_publish=first_publish,
    )


# -- exactly one current decision --------------------------------------------------------------


def test_one_decision_per_published_event_is_exact() -> None:
    account = account_decisions(["a", "b"], [decision("a"), decision("b")])

    assert account.exact
    assert account.records == 2
    assert set(account.current) == {"a", "b"}


def test_an_event_without_a_decision_is_missing() -> None:
    account = account_decisions(["a", "b", "c"], [decision("b")])

    assert not account.exact
    assert account.missing == ["a", "c"]


def test_a_decision_for_an_event_never_published_is_extra() -> None:
    account = account_decisions(["a"], [decision("a"), decision("stranger")])

    assert not account.exact
    assert account.extra == ["stranger"]
    assert account.missing == []


def test_the_same_revision_written_twice_is_a_duplicate() -> None:
    account = account_decisions(["a"], [decision("a"), decision("a")])

    assert not account.exact
    assert account.duplicates == [("a", 1)]


def test_a_repeated_older_revision_is_a_duplicate_even_though_the_current_one_is_unique() -> None:
    records = [decision("a"), decision("a", revision=2), decision("a")]

    account = account_decisions(["a"], records)

    assert account.duplicates == [("a", 1)]
    assert account.current["a"].revision == 2


def test_an_amendment_supersedes_and_the_first_decision_is_kept_for_latency() -> None:
    records = [
        decision("r", revision=2, outcome="estimate", decided_ms=900),
        decision("r", revision=1, outcome="incomplete", decided_ms=300),
    ]

    account = account_decisions(["r"], records)

    assert account.exact
    assert account.current["r"].outcome == "estimate"
    assert account.first["r"].outcome == "incomplete"


def test_a_skipped_revision_is_a_lost_decision() -> None:
    account = account_decisions(["a"], [decision("a"), decision("a", revision=3)])

    assert not account.exact
    assert account.gaps == ["a"]


# -- dead letters -----------------------------------------------------------------------------


def letter(stage: str, original: bytes) -> DeadLetter:
    return DeadLetter.of(original, "broken", stage)


def test_each_expected_dead_letter_must_arrive_and_nothing_else() -> None:
    expected = [("consumer:tip", b"x"), ("consumer:duration", b"x"), ("consumer:nsfw", b"y")]
    letters = [
        letter("consumer:tip", b"x"),
        letter("consumer:tip", b"x"),  # a redelivery's repeat: not a problem
        letter("consumer:nsfw", b"y"),
        letter("consumer:nsfw", b"valid event"),
    ]

    account = account_dead_letters(expected, letters)

    assert account.records == 4
    assert account.missing == 1
    assert account.unexpected == 1


# -- percentiles ------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank_so_always_an_observed_value() -> None:
    values = [float(v) for v in range(100, 0, -1)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([10.0, 20.0, 30.0], 50) == 20.0
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [0, -1, 101])
def test_a_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], q)


def test_no_values_have_no_percentile() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


# -- the summary ------------------------------------------------------------------------------


def test_latency_and_throughput_come_from_first_decisions_of_timed_events() -> None:
    run = published(
        "warm",
        "ride-1",
        "up-1",
        "up-2",
        warmup=["warm"],
        first_publish=T0 + timedelta(seconds=10),
    )
    decisions = [
        decision("warm", occurred_ms=0, decided_ms=9_000),  # start-up: not timed
        decision("ride-1", outcome="estimate", occurred_ms=10_000, decided_ms=10_100),
        decision("up-1", occurred_ms=10_000, decided_ms=10_300),
        decision("up-2", occurred_ms=10_500, decided_ms=12_500),
        decision("up-2", revision=2, outcome="review", occurred_ms=10_500, decided_ms=19_000),
    ]

    summary = summarize(run, decisions, verdicts=12)

    assert summary.ok, summary.problems
    assert summary.latency is not None
    assert summary.latency.samples == 3
    assert (summary.latency.p50_ms, summary.latency.max_ms) == (300.0, 2_000.0)
    assert summary.elapsed_s == pytest.approx(2.5)
    assert summary.throughput == pytest.approx(3 / 2.5)
    assert summary.amendments == 1
    assert summary.outcomes == {"approve": 2, "estimate": 1, "review": 1}
    assert summary.events == {"ride": 1, "upload": 3}


def test_incomplete_counts_the_outcome_and_partial_counts_missing_checks() -> None:
    decisions = [
        decision("ride-1", outcome="incomplete", missing=["tip"]),
        decision("up-1", outcome="remove", missing=["nsfw", "violence"]),
        decision("up-2"),
    ]

    summary = summarize(published("ride-1", "up-1", "up-2"), decisions, verdicts=6)

    assert (summary.incomplete, summary.partial) == (1, 2)
    assert summary.ok


def test_a_missing_decision_fails_the_run_with_a_one_line_reason() -> None:
    summary = summarize(published("up-1", "up-2"), [decision("up-1")], verdicts=6)

    assert not summary.ok
    assert summary.headline == "1 of 2 events have no decision (e.g. up-2)"
    assert "\n" not in summary.headline


def test_a_timeout_is_named_first() -> None:
    summary = summarize(published("up-1"), [], verdicts=0, timed_out_after=120.0)

    assert summary.problems[0] == "timed out after 120 s with 1 of 1 events undecided"
    assert summary.headline.endswith("(and 1 more problems)")


def test_a_service_that_did_not_exit_cleanly_fails_the_run() -> None:
    summary = summarize(
        published("up-1"), [decision("up-1")], verdicts=3, service_exits={"tip": 0, "nsfw": -9}
    )

    assert summary.problems == ["service nsfw exited with code -9 when stopped"]


def test_a_malformed_record_that_was_not_dead_lettered_fails_the_run() -> None:
    run = published("up-1", malformed=1, expected_dead_letters=[("consumer:nsfw", b"x")])

    summary = summarize(run, [decision("up-1")], verdicts=3, dead_letters=[])

    assert summary.problems == ["1 malformed records were not dead-lettered"]


def test_the_json_form_says_whether_every_event_has_exactly_one_current_decision() -> None:
    summary = summarize(published("up-1", "up-2"), [decision("up-1"), decision("up-1")], verdicts=6)

    data = json.loads(json.dumps(summary.as_dict()))

    assert data["ok"] is False
    assert data["decisions"]["exactly_one_current"] is False
    assert (data["decisions"]["missing"], data["decisions"]["duplicates"]) == (1, 1)
    assert data["events"] == {"upload": 2, "total": 2}
    assert data["latency_ms"]["samples"] == 1
