"""The rules answer "wait" (None) exactly when the module's semantics say so.

Most verdicts reach an event that cannot be decided yet, so the rules check that case first,
without building scores or reasons. These properties hold the shortcut to the semantics as the
rules' docstring states them, over any set of verdicts, with optional checks and extra required
ones, and show that a timed-out join is always decided.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision.policy import Policy, RidePolicy, UploadPolicy
from decision.rules import judge_ride, judge_upload
from streamjury.schemas import Verdict
from tests.unit.decision.support import DEFAULT_RIDE, DEFAULT_UPLOAD, PolicyFactory, VerdictFactory

UPLOAD_WITH_OPTIONAL = """
[upload]
required = ["nsfw", "violence"]
optional = ["copyright", "spam"]
timeout_s = 60.0
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
[upload.thresholds.violence]
remove = 0.8
review = 0.6
[upload.thresholds.copyright]
remove = 0.9
review = 0.6
[upload.thresholds.spam]
remove = 0.5
review = 0.4
"""

RIDE_WITH_EXTRA_CHECK = """
[ride]
required = ["duration", "tip", "fare"]
optional = ["surge"]
timeout_s = 30.0
"""

ANY_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
"""The fixtures used here are pure factories: nothing carries over between examples."""

maybe_number = st.none() | st.floats(min_value=0.0, max_value=1.0)
upload_checks = st.dictionaries(
    st.sampled_from(["nsfw", "violence", "copyright", "spam", "unlisted"]), maybe_number
)
ride_checks = st.dictionaries(
    st.sampled_from(["duration", "tip", "fare", "surge", "unlisted"]),
    st.none() | st.floats(min_value=0.0, max_value=120.0),
)


def must_wait_upload(policy: UploadPolicy, verdicts: dict[str, Verdict]) -> bool:
    """Rules 1 and 2 of ``decision.rules``: no known check at its remove threshold, and a
    required check without a score."""
    scores = {
        check: verdict.score
        for check, verdict in verdicts.items()
        if check in policy.known_checks and verdict.score is not None
    }
    if any(score >= policy.thresholds[check].remove for check, score in scores.items()):
        return False
    return any(check not in scores for check in policy.required)


def must_wait_ride(policy: RidePolicy, verdicts: dict[str, Verdict]) -> bool:
    """A ride waits while a required check is missing, or the ETA or tip check has no value."""
    numbers = (policy.estimate.eta_check, policy.estimate.tip_check)
    return any(
        check not in verdicts or (check in numbers and verdicts[check].value is None)
        for check in policy.required
    )


@ANY_FIXTURE
@given(by_check=upload_checks, optional=st.booleans())
def test_an_upload_waits_exactly_when_nothing_removes_and_a_required_score_is_missing(
    make_policy: PolicyFactory,
    make_verdict: VerdictFactory,
    by_check: dict[str, float | None],
    optional: bool,
) -> None:
    policy: Policy = make_policy(upload=UPLOAD_WITH_OPTIONAL if optional else DEFAULT_UPLOAD)
    verdicts = {
        check: make_verdict(check, event_type="upload", score=score)
        for check, score in by_check.items()
    }

    waiting = judge_upload(policy.upload, verdicts, timed_out=False)
    timed_out = judge_upload(policy.upload, verdicts, timed_out=True)

    assert (waiting is None) == must_wait_upload(policy.upload, verdicts)
    assert timed_out is not None
    if waiting is not None:
        assert timed_out == waiting  # the timeout changes nothing once the rules can decide


@ANY_FIXTURE
@given(by_check=ride_checks, extra_check=st.booleans())
def test_a_ride_waits_exactly_while_a_required_check_or_number_is_missing(
    make_policy: PolicyFactory,
    make_verdict: VerdictFactory,
    by_check: dict[str, float | None],
    extra_check: bool,
) -> None:
    policy: Policy = make_policy(ride=RIDE_WITH_EXTRA_CHECK if extra_check else DEFAULT_RIDE)
    verdicts = {
        check: make_verdict(check, event_type="ride", value=value)
        for check, value in by_check.items()
    }

    waiting = judge_ride(policy.ride, verdicts, timed_out=False)
    timed_out = judge_ride(policy.ride, verdicts, timed_out=True)

    assert (waiting is None) == must_wait_ride(policy.ride, verdicts)
    assert timed_out is not None
    if waiting is None:
        assert timed_out.outcome == policy.ride.fallback
    else:
        assert timed_out == waiting
