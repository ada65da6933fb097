"""The decision rules: an event's verdicts so far, its policy and the time -> an outcome or None.

Pure functions with no I/O, so every rule is tested directly and the service only composes them.

Upload semantics, in order:

1. **remove** as soon as any known check scores at or over its ``remove`` threshold (an early
   decision: the other checks are not waited for).
2. Otherwise nothing is decided while a required check is missing and the timeout has not passed:
   a check still to come could remove the upload, and publishing ``review`` first would only
   cause an amendment.
3. **review** when a check scores in its own band ``[review, remove)``, or when at least
   ``review_quorum`` checks (of those that reported) score in their ``[review_low, remove)`` band.
4. **approve** when every required check is in and none of the above applies.
5. On timeout with required checks missing: the more severe of the policy's ``fallback`` and what
   the reported checks call for (``review``), naming the missing checks. Never ``approve``.

Rides get an **estimate** once their required checks are in, or the fallback (``incomplete``)
on timeout. Checks the policy does not list are ignored here (the service keeps their verdicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from decision.policy import EventType, Policy, RidePolicy, UploadPolicy
from streamjury.schemas import Outcome, RideEstimate, Verdict

SEVERITY: dict[Outcome, int] = {
    "approve": 0,
    "estimate": 0,
    "incomplete": 1,
    "review": 2,
    "remove": 3,
}
"""How strongly an outcome acts; on timeout the stronger of fallback and evidence wins."""


@dataclass(slots=True)
class Ruling:
    """What the rules decided for one event, before it becomes a Decision record.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, and one is
    made for every decision; nothing changes it after the rules made it."""

    outcome: Outcome
    reasons: tuple[str, ...]
    missing_checks: tuple[str, ...] = ()
    estimate: RideEstimate | None = None


def judge(
    policy: Policy,
    event_type: EventType,
    verdicts: Mapping[str, Verdict],
    *,
    opened_at: float,
    now: float,
    may_time_out: bool = True,
) -> Ruling | None:
    """The ruling for an event with ``verdicts`` (by check), or None while it must wait.

    ``opened_at`` and ``now`` are clock seconds: the join times out ``timeout_s`` after opening
    (computed as ``opened_at + timeout_s``, exactly as the service's timers are, so a timer that
    fires always finds the join timed out). With ``may_time_out`` False it never times out: its
    partition is still reading verdicts that were already in the stream.
    """
    if event_type == "ride":
        timed_out = may_time_out and now >= opened_at + policy.ride.timeout_s
        return judge_ride(policy.ride, verdicts, timed_out=timed_out)
    timed_out = may_time_out and now >= opened_at + policy.upload.timeout_s
    return judge_upload(policy.upload, verdicts, timed_out=timed_out)


def unusable_reason(policy: Policy, verdict: Verdict) -> str | None:
    """Why the policy cannot use ``verdict`` (a known check without its number), else None."""
    if verdict.event_type == "upload":
        if verdict.check in policy.upload.known_checks and verdict.score is None:
            return f"upload check {verdict.check!r} sent a verdict without a score"
        return None
    estimate = policy.ride.estimate
    if verdict.check in (estimate.eta_check, estimate.tip_check) and verdict.value is None:
        return f"ride check {verdict.check!r} sent a verdict without a value"
    return None


def judge_ride(
    policy: RidePolicy, verdicts: Mapping[str, Verdict], *, timed_out: bool
) -> Ruling | None:
    """An estimate once the required checks are in; the fallback on timeout; else None."""
    settings = policy.estimate
    eta_verdict = verdicts.get(settings.eta_check)
    tip_verdict = verdicts.get(settings.tip_check)
    eta = None if eta_verdict is None else eta_verdict.value
    tip = None if tip_verdict is None else tip_verdict.value
    if eta is None or tip is None or not all(check in verdicts for check in policy.required):
        if not timed_out:
            return None  # the common case, checked without building what a ruling needs
        numbers = (settings.eta_check, settings.tip_check)
        missing = tuple(
            check
            for check in policy.required
            if check not in verdicts or (check in numbers and verdicts[check].value is None)
        )
        return Ruling(policy.fallback, (_timeout_reason(policy.timeout_s, missing),), missing)
    flags = []
    if eta >= settings.long_ride_minutes:
        flags.append("long_ride")
    if tip < settings.no_tip_below:
        flags.append("no_tip_expected")
    reason = (
        f"eta {eta:.1f} min from {settings.eta_check}, tip ${tip:.2f} from {settings.tip_check}"
    )
    return Ruling(
        "estimate",
        (reason,),
        estimate=RideEstimate(eta_minutes=eta, expected_tip=tip, flags=flags),
    )


def judge_upload(
    policy: UploadPolicy, verdicts: Mapping[str, Verdict], *, timed_out: bool
) -> Ruling | None:
    """remove early; otherwise review / approve once complete; fallback on timeout; else None."""
    if not timed_out and _upload_waits(policy, verdicts):
        return None
    scores: dict[str, float] = {}
    for check in policy.known_checks:
        verdict = verdicts.get(check)
        if verdict is not None and verdict.score is not None:
            scores[check] = verdict.score
    missing = tuple(check for check in policy.required if check not in scores)
    removals = [
        f"{check} score {score:.2f} >= remove threshold {policy.thresholds[check].remove:.2f}"
        for check, score in scores.items()
        if score >= policy.thresholds[check].remove
    ]
    if removals:
        return Ruling("remove", tuple(removals), missing)
    if missing and not timed_out:
        return None
    reviews = _review_reasons(policy, scores)
    if missing:
        evidence: Outcome = "review" if reviews else "incomplete"
        outcome = max(policy.fallback, evidence, key=SEVERITY.__getitem__)
        return Ruling(outcome, (*reviews, _timeout_reason(policy.timeout_s, missing)), missing)
    if reviews:
        return Ruling("review", tuple(reviews))
    return Ruling("approve", (f"all required checks clear: {', '.join(policy.required)}",))


def _upload_waits(policy: UploadPolicy, verdicts: Mapping[str, Verdict]) -> bool:
    """Whether ``judge_upload`` (before its timeout) must wait: a required check has no score
    yet and no score reached its ``remove`` threshold. Most verdicts end here, so it is checked
    first, without building the scores and reasons a ruling needs."""
    thresholds = policy.thresholds
    waiting = False
    for check in policy.required:
        verdict = verdicts.get(check)
        if verdict is None or verdict.score is None:
            waiting = True
        elif verdict.score >= thresholds[check].remove:
            return False
    if not waiting:
        return False
    for check in policy.optional:
        verdict = verdicts.get(check)
        score = None if verdict is None else verdict.score
        if score is not None and score >= thresholds[check].remove:
            return False
    return True


def _review_reasons(policy: UploadPolicy, scores: Mapping[str, float]) -> list[str]:
    """Why the scores (all under their remove thresholds) call for review; empty if they don't."""
    reasons = [
        f"{check} score {score:.2f} >= review threshold {policy.thresholds[check].review:.2f}"
        for check, score in scores.items()
        if score >= policy.thresholds[check].review
    ]
    if policy.review_quorum is not None:
        in_band = [
            check
            for check, score in scores.items()
            if score >= policy.thresholds[check].quorum_floor
        ]
        if len(in_band) >= policy.review_quorum:
            reasons.append(
                f"{len(in_band)} of {len(scores)} checks in their review_low band "
                f"({', '.join(in_band)}), quorum is {policy.review_quorum}"
            )
    return reasons


def _timeout_reason(timeout_s: float, missing: tuple[str, ...]) -> str:
    return f"timed out after {timeout_s:g}s without {', '.join(missing)}"
