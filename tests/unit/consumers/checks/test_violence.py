"""The violence check: a probability from text and uploader history, flagged from 0.5."""

from __future__ import annotations

from collections.abc import Callable

from consumers.checks.violence import SPEC
from models.store import ModelStore
from streamjury.schemas import UploadEvent


def test_reads_uploads_from_the_uploads_stream() -> None:
    assert (SPEC.name, SPEC.event_type, SPEC.stream) == ("violence", "upload", "uploads")


def test_an_obviously_violent_title_scores_higher_than_a_benign_one(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    model = SPEC.load_model(model_store)
    violent = build_upload(
        "violent",
        title="Brutal street fight, blood and gore",
        description="Brawl and beating, bloody assault caught on camera.",
        tags=["fight", "gore", "blood"],
    )
    benign = build_upload("benign", title="Baking bread with my kids")

    violent_p, benign_p = model.predict([violent, benign])

    assert violent_p.score is not None
    assert benign_p.score is not None
    assert violent_p.score > benign_p.score
    assert violent_p.label == "flag"
    assert benign_p.label == "clear"


def test_a_struck_new_account_scores_higher_than_an_old_clean_one_for_the_same_text(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    model = SPEC.load_model(model_store)
    text = {"title": "Wild insane crazy", "description": "Extreme savage stuff.", "tags": ["wild"]}
    risky = build_upload("risky", uploader_account_age_days=3, uploader_prior_strikes=6, **text)
    trusted = build_upload("trusted", uploader_account_age_days=3000, **text)

    risky_p, trusted_p = model.predict([risky, trusted])

    assert risky_p.score is not None
    assert trusted_p.score is not None
    assert risky_p.score > trusted_p.score
