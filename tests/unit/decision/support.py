"""Helpers shared by the decision service's tests: a controllable clock and test policies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from decision.policy import Policy
from streamjury.schemas import Verdict

RIDE_CHECKS = ("duration", "tip")
OCCURRED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

DEFAULT_RIDE = """
[ride]
required = ["duration", "tip"]
timeout_s = 30.0
[ride.estimate]
long_ride_minutes = 45.0
no_tip_below = 0.5
"""

DEFAULT_UPLOAD = """
[upload]
required = ["copyright", "nsfw", "violence"]
timeout_s = 60.0
fallback = "review"
review_quorum = 2
[upload.thresholds.copyright]
remove = 0.9
review = 0.6
review_low = 0.4
[upload.thresholds.nsfw]
remove = 0.95
review = 0.7
review_low = 0.5
[upload.thresholds.violence]
remove = 0.95
review = 0.7
review_low = 0.5
"""


class FakeClock:
    """A clock that only moves when told to, so timeouts and retention are tested without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


VerdictFactory = Callable[..., Verdict]
PolicyFactory = Callable[..., Policy]


def upload_policy_text(fallback: str = "review", quorum: int | None = 2) -> str:
    """The default upload section with another fallback or quorum."""
    text = DEFAULT_UPLOAD.replace('fallback = "review"', f'fallback = "{fallback}"')
    if quorum is None:
        return text.replace("review_quorum = 2\n", "")
    return text.replace("review_quorum = 2", f"review_quorum = {quorum}")
