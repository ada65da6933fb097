"""Fixtures for the decision service's tests: a controllable clock, verdicts, and policies."""

from __future__ import annotations

import pytest

from decision.policy import Policy, load_policy, parse_policy
from streamjury.schemas import SourcePosition, Verdict
from tests.unit.decision.support import (
    DEFAULT_RIDE,
    DEFAULT_UPLOAD,
    OCCURRED_AT,
    RIDE_CHECKS,
    FakeClock,
    PolicyFactory,
    VerdictFactory,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy() -> Policy:
    """The default policy shipped with the package."""
    return load_policy()


@pytest.fixture
def make_policy() -> PolicyFactory:
    """A policy from TOML sections; each defaults to a copy of the shipped default's."""

    def make(*, ride: str = DEFAULT_RIDE, upload: str = DEFAULT_UPLOAD) -> Policy:
        return parse_policy(ride + upload)

    return make


@pytest.fixture
def make_verdict() -> VerdictFactory:
    """``make_verdict("nsfw", score=0.2, event_id=...)``; the event type follows from the check."""

    def make(
        check: str,
        *,
        event_id: str = "evt-1",
        event_type: str | None = None,
        score: float | None = None,
        value: float | None = None,
    ) -> Verdict:
        kind = event_type or ("ride" if check in RIDE_CHECKS else "upload")
        return Verdict(
            event_id=event_id,
            event_type=kind,  # type: ignore[arg-type]
            check=check,
            model_name=f"{check}-model",
            model_version="1",
            score=score,
            value=value,
            event_occurred_at=OCCURRED_AT,
            produced_at=OCCURRED_AT,
            source=SourcePosition(stream=f"{kind}s", partition="0", offset=0),
        )

    return make
