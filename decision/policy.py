"""The decision policy: which checks each event type needs, their thresholds, and the timeouts.

Loaded from TOML and validated strictly, so a misspelt key is a one-line error naming it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from streamjury.errors import ConfigError
from streamjury.schemas import CheckName, describe_validation_error

DEFAULT_POLICY_RESOURCE = "default_policy.toml"
EventType = Literal["ride", "upload"]


class _PolicyModel(BaseModel):
    """Strict and closed: no coercion from strings, no unknown keys, immutable once loaded."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class _EventPolicy(_PolicyModel):
    """What every event type's policy says: which checks to wait for, and for how long."""

    required: tuple[CheckName, ...] = Field(min_length=1, strict=False)
    """Checks that must all report before the event is decided normally."""
    optional: tuple[CheckName, ...] = Field(default=(), strict=False)
    """Checks used when they report (before the decision, or late) but never waited for."""
    timeout_s: float = Field(gt=0)
    """Seconds from a join's first verdict until it is decided without its missing checks."""

    @property
    def known_checks(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)

    @model_validator(mode="after")
    def _checks_listed_once(self) -> Self:
        seen: set[str] = set()
        for check in self.known_checks:
            if check in seen:
                raise PydanticCustomError(
                    "policy",
                    "check '{check}' is listed twice in required/optional",
                    {"check": check},
                )
            seen.add(check)
        return self


class RideEstimatePolicy(_PolicyModel):
    """Where a ride estimate's numbers come from, and when to flag them."""

    eta_check: CheckName = "duration"
    """The check whose verdict ``value`` is the ETA in minutes."""
    tip_check: CheckName = "tip"
    """The check whose verdict ``value`` is the expected tip in dollars."""
    long_ride_minutes: float = Field(default=45.0, gt=0)
    """Flag ``long_ride`` when the ETA is at or over this."""
    no_tip_below: float = Field(default=0.5, ge=0)
    """Flag ``no_tip_expected`` when the expected tip is under this many dollars."""


class RidePolicy(_EventPolicy):
    """Rides get an estimate once their required checks are in."""

    fallback: Literal["incomplete"] = "incomplete"
    estimate: RideEstimatePolicy = Field(default_factory=RideEstimatePolicy)

    @model_validator(mode="after")
    def _estimate_checks_required(self) -> Self:
        for role in ("eta_check", "tip_check"):
            check = getattr(self.estimate, role)
            if check not in self.required:
                raise PydanticCustomError(
                    "policy",
                    "estimate.{role} '{check}' must be one of the required checks",
                    {"role": role, "check": check},
                )
        return self


class CheckThresholds(_PolicyModel):
    """Score thresholds of one moderation check: ``review_low <= review <= remove``."""

    remove: float = Field(ge=0, le=1)
    """At or over: remove at once, without waiting for the other checks."""
    review: float = Field(ge=0, le=1)
    """At or over (and under ``remove``): send the upload to human review."""
    review_low: float | None = Field(default=None, ge=0, le=1)
    """At or over (and under ``remove``): counts toward the quorum rule; defaults to ``review``."""

    @property
    def quorum_floor(self) -> float:
        return self.review if self.review_low is None else self.review_low

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.quorum_floor <= self.review <= self.remove:
            raise PydanticCustomError(
                "policy", "thresholds must satisfy review_low <= review <= remove", {}
            )
        return self


class UploadPolicy(_EventPolicy):
    """Uploads are removed early, reviewed, or approved once every required check is clear."""

    fallback: Literal["incomplete", "review", "remove"] = "review"
    """The outcome when the timeout hits with required checks missing (never ``approve``)."""
    review_quorum: int | None = Field(default=None, ge=1)
    """Review when at least this many checks score in their ``[review_low, remove)`` band."""
    thresholds: dict[CheckName, CheckThresholds]
    """Thresholds of every required and optional check, and of no other."""

    @model_validator(mode="after")
    def _thresholds_match_checks(self) -> Self:
        known = self.known_checks
        for check in self.thresholds:
            if check not in known:
                raise PydanticCustomError(
                    "policy",
                    "thresholds.{check}: check '{check}' is not listed in required or optional",
                    {"check": check},
                )
        for check in known:
            if check not in self.thresholds:
                raise PydanticCustomError(
                    "policy",
                    "thresholds.{check} is missing: every known check needs thresholds",
                    {"check": check},
                )
        if self.review_quorum is not None and self.review_quorum > len(known):
            raise PydanticCustomError(
                "policy",
                "review_quorum {quorum} exceeds the {count} known checks: it can never apply",
                {"quorum": self.review_quorum, "count": len(known)},
            )
        return self


class Policy(_PolicyModel):
    """The whole policy: one section per event type."""

    ride: RidePolicy
    upload: UploadPolicy

    def for_event_type(self, event_type: EventType) -> RidePolicy | UploadPolicy:
        return self.ride if event_type == "ride" else self.upload


def parse_policy(text: str, origin: str = "policy") -> Policy:
    """A validated Policy from TOML text; ConfigError with one line naming the bad key otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe_validation_error(exc)}") from exc


def load_policy(path: Path | None = None) -> Policy:
    """The policy at ``path``, or the default one shipped with the package when ``path`` is None."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_POLICY_RESOURCE).read_text("utf-8")
        return parse_policy(text, origin=f"default policy {DEFAULT_POLICY_RESOURCE}")
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"policy file {path} is not UTF-8 text") from exc
    return parse_policy(text, origin=f"policy file {path}")
