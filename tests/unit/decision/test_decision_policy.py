"""Specification of policy loading: the shipped default is valid, mistakes are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from decision.policy import load_policy, parse_policy
from streamjury.errors import ConfigError
from tests.unit.decision.support import DEFAULT_RIDE, DEFAULT_UPLOAD


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_policy(text, origin="test.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_shipped_default_policy_loads() -> None:
    policy = load_policy()

    assert policy.ride.required == ("duration", "tip")
    assert policy.upload.required == ("copyright", "nsfw", "violence")


def test_a_policy_file_is_loaded_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_RIDE + DEFAULT_UPLOAD.replace("timeout_s = 60.0", "timeout_s = 5"))

    policy = load_policy(path)

    assert policy.upload.timeout_s == 5.0


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_policy(tmp_path / "nope.toml")


def test_invalid_toml_is_reported_with_its_origin() -> None:
    assert config_error("[ride\n").startswith("test.toml: invalid TOML")


def test_a_misspelt_key_is_named() -> None:
    message = config_error(DEFAULT_RIDE + DEFAULT_UPLOAD.replace("review_quorum", "review_qorum"))

    assert "upload.review_qorum" in message


def test_a_missing_section_is_named() -> None:
    assert "upload: Field required" in config_error(DEFAULT_RIDE)


def test_a_string_where_a_number_belongs_is_refused() -> None:
    message = config_error(
        DEFAULT_RIDE.replace("timeout_s = 30.0", 'timeout_s = "30"') + DEFAULT_UPLOAD
    )

    assert "ride.timeout_s" in message


def test_thresholds_out_of_order_are_refused() -> None:
    message = config_error(DEFAULT_RIDE + DEFAULT_UPLOAD.replace("review = 0.6", "review = 0.95"))

    assert "upload.thresholds.copyright" in message
    assert "review_low <= review <= remove" in message


def test_thresholds_for_an_unlisted_check_are_refused() -> None:
    extra = DEFAULT_UPLOAD + "[upload.thresholds.spam]\nremove = 0.9\nreview = 0.5\n"

    assert "thresholds.spam" in config_error(DEFAULT_RIDE + extra)


def test_a_known_check_without_thresholds_is_refused() -> None:
    text = DEFAULT_UPLOAD.replace(
        'required = ["copyright", "nsfw", "violence"]',
        'required = ["copyright", "nsfw", "violence", "spam"]',
    )

    assert "thresholds.spam is missing" in config_error(DEFAULT_RIDE + text)


def test_a_quorum_larger_than_the_known_checks_is_refused() -> None:
    message = config_error(
        DEFAULT_RIDE + DEFAULT_UPLOAD.replace("review_quorum = 2", "review_quorum = 4")
    )

    assert "review_quorum 4" in message


def test_approve_is_not_an_allowed_fallback() -> None:
    message = config_error(
        DEFAULT_RIDE + DEFAULT_UPLOAD.replace('fallback = "review"', 'fallback = "approve"')
    )

    assert "upload.fallback" in message


def test_the_ride_estimate_checks_must_be_required() -> None:
    message = config_error(
        DEFAULT_RIDE.replace('required = ["duration", "tip"]', 'required = ["duration"]')
        + DEFAULT_UPLOAD
    )

    assert "estimate.tip_check 'tip'" in message


def test_a_check_listed_as_required_and_optional_is_refused() -> None:
    text = DEFAULT_RIDE.replace("timeout_s = 30.0", 'optional = ["tip"]\ntimeout_s = 30.0')

    assert "listed twice" in config_error(text + DEFAULT_UPLOAD)
