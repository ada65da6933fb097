"""A dead letter always fits the sink it is written to, and says what was cut."""

from __future__ import annotations

import hashlib

import pytest

from consumers.lambda_deadletters import SINK_RECORD_BYTES, fit_dead_letter
from consumers.lambda_sinks import TargetKind
from streamjury.schemas import DeadLetter


@pytest.mark.parametrize("kind", ["kinesis", "sqs"])
def test_a_dead_letter_too_big_for_its_sink_is_cut_to_fit_with_length_and_sha256(
    kind: TargetKind,
) -> None:
    original = bytes(range(256)) * 4_000  # 1,024,000 bytes: 1.37 MB once base64-encoded
    letter = DeadLetter.of(original, "extra fields not permitted", "lambda:tip")

    fitted = fit_dead_letter(letter, "key-1", kind)

    assert len(fitted.to_bytes()) + len(b"key-1") <= SINK_RECORD_BYTES[kind]
    assert fitted.original_truncated is True
    assert original.startswith(fitted.original)
    assert len(fitted.original) > SINK_RECORD_BYTES[kind] // 2
    assert fitted.reason.startswith("extra fields not permitted")
    assert f"original {len(original)} bytes" in fitted.reason
    assert hashlib.sha256(original).hexdigest() in fitted.reason


def test_a_dead_letter_that_fits_is_left_alone() -> None:
    letter = DeadLetter.of(b"{not json", "invalid JSON", "lambda:tip")

    assert fit_dead_letter(letter, "k", "sqs") is letter
