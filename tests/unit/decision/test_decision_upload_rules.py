"""Specification of the upload rules: early remove, review band, quorum, approve, timeout."""

from __future__ import annotations

from decision.policy import Policy
from decision.rules import judge, judge_upload, unusable_reason
from streamjury.schemas import Verdict
from tests.unit.decision.support import PolicyFactory, VerdictFactory, upload_policy_text

UPLOAD_WITH_OPTIONAL_SPAM = """
[upload]
required = ["nsfw"]
optional = ["spam"]
timeout_s = 60.0
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
[upload.thresholds.spam]
remove = 0.9
review = 0.8
"""


def scores(make_verdict: VerdictFactory, **by_check: float) -> dict[str, Verdict]:
    """Upload verdicts by check, one per keyword: ``scores(make_verdict, nsfw=0.2)``."""
    return {check: make_verdict(check, score=score) for check, score in by_check.items()}


def test_removes_as_soon_as_one_check_reaches_its_remove_threshold(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(policy.upload, scores(make_verdict, copyright=0.97), timed_out=False)

    assert ruling is not None
    assert ruling.outcome == "remove"
    assert ruling.missing_checks == ("nsfw", "violence")
    assert "copyright" in ruling.reasons[0]


def test_the_remove_threshold_itself_removes(policy: Policy, make_verdict: VerdictFactory) -> None:
    ruling = judge_upload(policy.upload, scores(make_verdict, copyright=0.9), timed_out=False)

    assert ruling is not None
    assert ruling.outcome == "remove"


def test_waits_while_a_required_check_is_missing_and_nothing_removes(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(
        policy.upload, scores(make_verdict, copyright=0.1, nsfw=0.1), timed_out=False
    )

    assert ruling is None


def test_a_score_in_the_review_band_still_waits_for_the_other_required_checks(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(policy.upload, scores(make_verdict, nsfw=0.8), timed_out=False)

    assert ruling is None


def test_approves_only_when_every_required_check_is_in_and_clear(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(
        policy.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.2, violence=0.3),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "approve"
    assert ruling.missing_checks == ()


def test_reviews_a_score_in_a_checks_review_band(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(
        policy.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.8, violence=0.1),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "review"
    assert any("nsfw" in reason for reason in ruling.reasons)


def test_reviews_when_the_quorum_of_checks_is_in_the_low_band(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    # Neither 0.55 reaches the review threshold (0.7) alone; two reach review_low (0.5).
    ruling = judge_upload(
        policy.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.55, violence=0.55),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "review"
    assert any("quorum is 2" in reason for reason in ruling.reasons)


def test_one_check_in_the_low_band_is_short_of_the_quorum(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(
        policy.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.55, violence=0.1),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "approve"


def test_low_band_scores_approve_when_the_policy_has_no_quorum(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    no_quorum = make_policy(upload=upload_policy_text(quorum=None))

    ruling = judge_upload(
        no_quorum.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.55, violence=0.55),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "approve"


def test_an_optional_check_is_not_waited_for(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    with_spam = make_policy(upload=UPLOAD_WITH_OPTIONAL_SPAM)

    ruling = judge_upload(with_spam.upload, scores(make_verdict, nsfw=0.1), timed_out=False)

    assert ruling is not None
    assert ruling.outcome == "approve"


def test_an_optional_check_that_reports_can_remove(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    with_spam = make_policy(upload=UPLOAD_WITH_OPTIONAL_SPAM)

    ruling = judge_upload(
        with_spam.upload, scores(make_verdict, nsfw=0.1, spam=0.93), timed_out=False
    )

    assert ruling is not None
    assert ruling.outcome == "remove"


def test_a_check_the_policy_does_not_know_never_blocks_nor_decides(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(
        policy.upload,
        scores(make_verdict, copyright=0.1, nsfw=0.1, violence=0.1, deepfake=1.0),
        timed_out=False,
    )

    assert ruling is not None
    assert ruling.outcome == "approve"


def test_timeout_with_missing_checks_gives_the_fallback_naming_them(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    ruling = judge_upload(policy.upload, scores(make_verdict, copyright=0.1), timed_out=True)

    assert ruling is not None
    assert ruling.outcome == "review"  # the default policy's fallback
    assert ruling.missing_checks == ("nsfw", "violence")


def test_timeout_with_fallback_incomplete_never_approves(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    incomplete = make_policy(upload=upload_policy_text(fallback="incomplete"))

    ruling = judge_upload(
        incomplete.upload, scores(make_verdict, copyright=0.1, nsfw=0.1), timed_out=True
    )

    assert ruling is not None
    assert ruling.outcome == "incomplete"
    assert ruling.missing_checks == ("violence",)


def test_on_timeout_evidence_for_review_outranks_an_incomplete_fallback(
    make_policy: PolicyFactory, make_verdict: VerdictFactory
) -> None:
    incomplete = make_policy(upload=upload_policy_text(fallback="incomplete"))

    ruling = judge_upload(
        incomplete.upload, scores(make_verdict, copyright=0.1, nsfw=0.8), timed_out=True
    )

    assert ruling is not None
    assert ruling.outcome == "review"
    assert ruling.missing_checks == ("violence",)


def test_judge_times_the_join_out_exactly_timeout_s_after_it_opened(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    verdicts = scores(make_verdict, copyright=0.1)
    opened = 1_700_000_000.1

    before = judge(policy, "upload", verdicts, opened_at=opened, now=opened + 59.999)
    at = judge(policy, "upload", verdicts, opened_at=opened, now=opened + 60.0)

    assert before is None
    assert at is not None
    assert at.outcome == "review"


def test_a_known_upload_check_without_a_score_is_unusable(
    policy: Policy, make_verdict: VerdictFactory
) -> None:
    assert unusable_reason(policy, make_verdict("nsfw", score=None)) is not None
    assert unusable_reason(policy, make_verdict("deepfake", score=None)) is None
    assert unusable_reason(policy, make_verdict("nsfw", score=0.3)) is None
