"""The nsfw check: a probability from text and uploader history, flagged from 0.5."""

from __future__ import annotations

from collections.abc import Callable

from consumers.checks.nsfw import SPEC
from models.store import ModelStore
from streamjury.schemas import UploadEvent


def test_reads_uploads_from_the_uploads_stream() -> None:
    assert (SPEC.name, SPEC.event_type, SPEC.stream) == ("nsfw", "upload", "uploads")


def test_explicit_text_scores_higher_than_a_garden_tour(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    model = SPEC.load_model(model_store)
    explicit = build_upload(
        "explicit",
        title="Explicit uncensored nude",
        description="Uncensored explicit adult nude video.",
        tags=["nsfw", "explicit", "nude"],
    )
    benign = build_upload("benign")

    explicit_p, benign_p = model.predict([explicit, benign])

    assert explicit_p.score is not None
    assert benign_p.score is not None
    assert explicit_p.score > benign_p.score
    assert explicit_p.label == "flag"
    assert benign_p.label == "clear"


def test_scores_are_probabilities(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    (prediction,) = SPEC.load_model(model_store).predict([build_upload()])

    assert prediction.score is not None
    assert 0.0 <= prediction.score <= 1.0
    assert prediction.value is None
