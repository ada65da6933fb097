"""The copyright check: exact and near copies of protected works match, anything else is clear."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from consumers.checks.copyright import SPEC
from models.copyright_index import parse_fingerprints, popcount
from models.store import ModelStore
from producers.synthetic import protected_fingerprints
from streamjury.schemas import UploadEvent


def far_from_registry(seed: int) -> str:
    """A random fingerprint at least 15 bits from every protected one (checked, not assumed)."""
    registry = parse_fingerprints(protected_fingerprints())
    rng = np.random.default_rng(seed)
    while True:
        candidate = rng.integers(0, 2**64, dtype=np.uint64)
        if popcount(registry ^ candidate).min() >= 15:
            return f"{int(candidate):016x}"


def test_reads_uploads_from_the_uploads_stream() -> None:
    assert (SPEC.name, SPEC.event_type, SPEC.stream) == ("copyright", "upload", "uploads")


def test_an_exact_protected_fingerprint_is_a_match_at_distance_zero(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    protected = protected_fingerprints()[17]

    (prediction,) = SPEC.load_model(model_store).predict(
        [build_upload(content_fingerprint=protected)]
    )

    assert prediction.label == "match"
    assert prediction.score == 1.0
    assert prediction.details == {"best_match": protected, "distance": 0}


def test_a_copy_with_a_few_bits_flipped_still_matches_its_source(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    protected = protected_fingerprints()[5]
    near_copy = f"{int(protected, 16) ^ 0b1000_0000_0101:016x}"

    (prediction,) = SPEC.load_model(model_store).predict(
        [build_upload(content_fingerprint=near_copy)]
    )

    assert prediction.label == "match"
    assert prediction.details == {"best_match": protected, "distance": 3}


def test_a_random_fingerprint_is_clear(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    (prediction,) = SPEC.load_model(model_store).predict(
        [build_upload(content_fingerprint=far_from_registry(seed=1))]
    )

    assert prediction.label == "clear"
    assert prediction.score is not None
    assert prediction.score < 0.5
    assert isinstance(prediction.details["distance"], int)
    assert prediction.details["distance"] >= 15
