"""The checks this deployment knows, by name.

Adding a sixth check: write ``consumers/checks/<name>.py`` exposing ``SPEC: CheckSpec`` (see
``consumers/check.py``), then add its SPEC to the tuple below. Nothing else changes.
"""

from __future__ import annotations

from consumers.check import CheckSpec
from consumers.checks.copyright import SPEC as COPYRIGHT
from consumers.checks.duration import SPEC as DURATION
from consumers.checks.nsfw import SPEC as NSFW
from consumers.checks.tip import SPEC as TIP
from consumers.checks.violence import SPEC as VIOLENCE
from streamjury.errors import ConfigError

CHECKS: dict[str, CheckSpec] = {
    spec.name: spec for spec in (DURATION, TIP, COPYRIGHT, NSFW, VIOLENCE)
}


def get_check(name: str) -> CheckSpec:
    """The spec of check ``name``, or a ConfigError listing the known ones."""
    try:
        return CHECKS[name]
    except KeyError:
        known = ", ".join(sorted(CHECKS))
        raise ConfigError(f"unknown check {name!r}: expected one of {known}") from None
