"""How a shadow (or canary) model compares with the live one on the same events.

Classification checks are compared by the band the decision policy puts each score in (what a
decision depends on); regression checks by the difference of their values. "Decisions changed"
counts events whose decision-relevant reading differs, the other checks held as they were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from decision.policy import Policy
from models.shadow import ShadowVerdict
from streamjury.schemas import RideCompleted, Verdict

Kind = Literal["classification", "regression"]
BANDS = ("remove", "review", "low", "clear")


@dataclass(frozen=True, slots=True)
class Comparison:
    """Figures for one check over a window of paired verdicts."""

    check: str
    kind: Kind
    pairs: int
    live_versions: tuple[str, ...]
    shadow_versions: tuple[str, ...]
    live_predict_ms: float
    """Mean predict time per event, in milliseconds (batch time over batch size)."""
    shadow_predict_ms: float
    decisions_changed: int
    agreement: float | None = None
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    """(live band, shadow band) -> events, classification only."""
    mean_abs_diff: float | None = None
    mean_signed_diff: float | None = None
    """Shadow minus live, regression only: positive means the shadow predicts more."""


def band(verdict: Verdict, policy: Policy) -> str:
    """What a decision reads from ``verdict``: an upload score's band, a ride value's flag."""
    if verdict.event_type == "upload":
        thresholds = policy.upload.thresholds.get(verdict.check)
        score = verdict.score if verdict.score is not None else 0.0
        if thresholds is None:
            return "flagged" if score >= 0.5 else "clear"
        if score >= thresholds.remove:
            return "remove"
        if score >= thresholds.review:
            return "review"
        return "low" if score >= thresholds.quorum_floor else "clear"
    estimate = policy.ride.estimate
    value = verdict.value if verdict.value is not None else 0.0
    if verdict.check == estimate.eta_check:
        return "long_ride" if value >= estimate.long_ride_minutes else "normal"
    if verdict.check == estimate.tip_check:
        return "no_tip_expected" if value < estimate.no_tip_below else "tip_expected"
    return "value"


def compare(check: str, pairs: Sequence[ShadowVerdict], policy: Policy) -> Comparison:
    """The figures of ``check`` over ``pairs`` (all of that check)."""
    if not pairs:
        raise ValueError(f"no paired verdicts of check {check!r} to compare")
    count = len(pairs)
    kind: Kind = "classification" if pairs[0].live.score is not None else "regression"
    bands = [(band(p.live, policy), band(p.shadow, policy)) for p in pairs]
    changed = sum(1 for live, shadow in bands if live != shadow)
    common = Comparison(
        check=check,
        kind=kind,
        pairs=count,
        live_versions=tuple(sorted({p.live.model_version for p in pairs})),
        shadow_versions=tuple(sorted({p.shadow.model_version for p in pairs})),
        live_predict_ms=1000 * sum(p.live_predict_s / p.batch_events for p in pairs) / count,
        shadow_predict_ms=1000 * sum(p.shadow_predict_s / p.batch_events for p in pairs) / count,
        decisions_changed=changed,
    )
    if kind == "classification":
        return _with(common, agreement=(count - changed) / count, confusion=dict(Counter(bands)))
    diffs = [(p.shadow.value or 0.0) - (p.live.value or 0.0) for p in pairs]
    return _with(
        common,
        mean_abs_diff=sum(abs(d) for d in diffs) / count,
        mean_signed_diff=sum(diffs) / count,
    )


def _with(base: Comparison, **changes: object) -> Comparison:
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ArmFigures:
    """One arm of a canary over a window of live verdicts."""

    arm: str
    events: int
    versions: tuple[str, ...]
    mean_prediction: float
    """Mean value (regression) or mean score (classification)."""
    bands: dict[str, int]
    """Events per decision-relevant band under the policy (e.g. ``long_ride``, ``review``)."""


def per_arm(verdicts: Sequence[Verdict], policy: Policy) -> list[ArmFigures]:
    """Figures per arm (``live``, ``canary``) of verdicts that carry one, arms sorted."""
    arms: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.arm is not None:
            arms.setdefault(verdict.arm, []).append(verdict)
    figures = []
    for arm, group in sorted(arms.items()):
        predictions = [(v.score if v.score is not None else v.value) or 0.0 for v in group]
        figures.append(
            ArmFigures(
                arm=arm,
                events=len(group),
                versions=tuple(sorted({v.model_version for v in group})),
                mean_prediction=sum(predictions) / len(group),
                bands=dict(Counter(band(v, policy) for v in group)),
            )
        )
    return figures


TRUTH_OF_CHECK = {"duration": "duration_minutes", "tip": "tip_amount"}
"""Which field of a ``ride_completed`` outcome each ride check predicts."""


@dataclass(frozen=True, slots=True)
class LiveQuality:
    """Mean absolute error against what really happened, for one model version in one role."""

    role: str
    """``live``, ``canary`` (the arm of the verdict) or ``shadow``."""
    version: str
    events: int
    mae: float


def live_quality(
    check: str,
    verdicts: Sequence[Verdict],
    pairs: Sequence[ShadowVerdict],
    outcomes: Sequence[RideCompleted],
) -> list[LiveQuality]:
    """MAE per (role, version) over the events that have an outcome; empty for other checks."""
    field_name = TRUTH_OF_CHECK.get(check)
    if field_name is None:
        return []
    truth = {outcome.event_id: float(getattr(outcome, field_name)) for outcome in outcomes}
    scored: list[tuple[str, Verdict]] = [(v.arm or "live", v) for v in verdicts]
    scored += [("shadow", pair.shadow) for pair in pairs]
    errors: dict[tuple[str, str], dict[str, float]] = {}
    for role, verdict in scored:
        if verdict.event_id in truth and verdict.value is not None:
            per_event = errors.setdefault((role, verdict.model_version), {})
            per_event[verdict.event_id] = abs(verdict.value - truth[verdict.event_id])
    return [
        LiveQuality(role, version, len(per_event), sum(per_event.values()) / len(per_event))
        for (role, version), per_event in sorted(errors.items())
    ]
