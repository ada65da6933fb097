"""Comparing live and shadow verdicts: policy bands for classifiers, value differences for regressors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from decision.model_compare import compare
from decision.policy import load_policy
from models.shadow import ShadowVerdict
from streamjury.schemas import SourcePosition, Verdict

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = load_policy()


def verdict(
    event: str, check: str, version: str, *, score: float | None = None, value: float | None = None
) -> Verdict:
    return Verdict(
        event_id=event,
        event_type="upload" if score is not None else "ride",
        check=check,
        model_name=check,
        model_version=version,
        score=score,
        value=value,
        event_occurred_at=WHEN,
        produced_at=WHEN,
        source=SourcePosition(stream="s", partition="0", offset=0),
    )


def pair(
    live: Verdict, shadow: Verdict, live_s: float = 0.01, shadow_s: float = 0.03
) -> ShadowVerdict:
    return ShadowVerdict(
        live=live, shadow=shadow, batch_events=10, live_predict_s=live_s, shadow_predict_s=shadow_s
    )


def test_classifier_agreement_and_confusion_are_counted_in_policy_bands() -> None:
    # nsfw: remove >= 0.95, review >= 0.7, low >= 0.5
    scores = [(0.1, 0.2), (0.96, 0.97), (0.1, 0.8), (0.75, 0.99)]
    pairs = [
        pair(verdict(f"e{i}", "nsfw", "v1", score=a), verdict(f"e{i}", "nsfw", "v2", score=b))
        for i, (a, b) in enumerate(scores)
    ]

    result = compare("nsfw", pairs, POLICY)

    assert result.kind == "classification"
    assert result.agreement == pytest.approx(0.5)
    assert result.decisions_changed == 2
    assert result.confusion == {
        ("clear", "clear"): 1,
        ("remove", "remove"): 1,
        ("clear", "review"): 1,
        ("review", "remove"): 1,
    }
    assert result.live_predict_ms == pytest.approx(1.0)
    assert result.shadow_predict_ms == pytest.approx(3.0)


def test_regression_differences_are_shadow_minus_live_and_flags_count_as_changed() -> None:
    # duration: long_ride at >= 45 minutes
    values = [(10.0, 12.0), (44.0, 46.0), (30.0, 26.0)]
    pairs = [
        pair(
            verdict(f"r{i}", "duration", "v1", value=a), verdict(f"r{i}", "duration", "v2", value=b)
        )
        for i, (a, b) in enumerate(values)
    ]

    result = compare("duration", pairs, POLICY)

    assert result.kind == "regression"
    assert result.mean_abs_diff == pytest.approx(8 / 3)
    assert result.mean_signed_diff == pytest.approx(0.0)
    assert result.decisions_changed == 1
    assert (result.live_versions, result.shadow_versions) == (("v1",), ("v2",))
