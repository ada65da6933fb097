"""The registry: five checks by name, and a helpful error for any other name."""

from __future__ import annotations

import pytest

from consumers.registry import CHECKS, get_check
from streamjury.errors import ConfigError


def test_knows_the_five_checks_by_their_own_names() -> None:
    assert sorted(CHECKS) == ["copyright", "duration", "nsfw", "tip", "violence"]
    assert all(spec.name == name for name, spec in CHECKS.items())


def test_ride_checks_read_rides_and_upload_checks_read_uploads() -> None:
    streams = {name: (spec.event_type, spec.stream) for name, spec in CHECKS.items()}

    assert streams["duration"] == streams["tip"] == ("ride", "rides")
    assert streams["copyright"] == streams["nsfw"] == streams["violence"] == ("upload", "uploads")


def test_get_check_returns_the_spec() -> None:
    assert get_check("tip") is CHECKS["tip"]


def test_an_unknown_check_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="copyright, duration, nsfw, tip, violence"):
        get_check("fraud")
