"""Specification of the ride rules: an estimate with flags once duration and tip are in."""

from __future__ import annotations

from decision.policy import Policy
from decision.rules import judge_ride, unusable_reason
from streamjury.schemas import Verdict
from tests.unit.decision.support import VerdictFactory


def ride(
    make_verdict: VerdictFactory, *, duration: float | None, tip: float | None
) -> dict[str, Verdict]:
    """A ride's verdicts by check; a None number means that check has not reported."""
    verdicts = {}
    if duration is not None:
        verdicts["duration"] = make_verdict("duration", value=duration)
    if tip is not None:
        verdicts["tip"] = make_verdict("tip", value=tip)
    return verdicts


def test_estimates_eta_and_tip_from_the_duration_and_tip_values(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_ride(policy.ride, ride(make_verdict, duration=12.5, tip=2.75), timed_out=False)

    assert ruling is not None
    assert ruling.outcome == "estimate"
    assert ruling.estimate is not None
    assert ruling.estimate.eta_minutes == 12.5
    assert ruling.estimate.expected_tip == 2.75
    assert ruling.estimate.flags == []


def test_flags_a_long_ride_at_the_policy_threshold(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_ride(policy.ride, ride(make_verdict, duration=45.0, tip=5.0), timed_out=False)

    assert ruling is not None
    assert ruling.estimate is not None
    assert ruling.estimate.flags == ["long_ride"]


def test_flags_no_tip_expected_under_the_policy_threshold(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_ride(policy.ride, ride(make_verdict, duration=10.0, tip=0.2), timed_out=False)

    assert ruling is not None
    assert ruling.estimate is not None
    assert ruling.estimate.flags == ["no_tip_expected"]


def test_waits_for_the_tip_before_the_timeout(policy: Policy, make_verdict: VerdictFactory) -> None:
    ruling = judge_ride(policy.ride, ride(make_verdict, duration=10.0, tip=None), timed_out=False)

    assert ruling is None


def test_timeout_without_the_tip_is_incomplete_and_names_it(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_ride(policy.ride, ride(make_verdict, duration=10.0, tip=None), timed_out=True)

    assert ruling is not None
    assert ruling.outcome == "incomplete"
    assert ruling.missing_checks == ("tip",)
    assert ruling.estimate is None


def test_a_duration_verdict_without_a_value_counts_as_missing(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    verdicts = {
        "duration": make_verdict("duration", value=None),
        "tip": make_verdict("tip", value=1.0),
    }

    ruling = judge_ride(policy.ride, verdicts, timed_out=True)

    assert ruling is not None
    assert ruling.missing_checks == ("duration",)
    assert unusable_reason(policy, verdicts["duration"]) is not None
