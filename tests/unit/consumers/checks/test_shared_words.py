"""Text checks with equal vectorizers share one transform per batch, and score exactly as alone."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from consumers.checks import nsfw, violence
from consumers.checks._shared_words import fingerprint, shared_words
from consumers.checks._text_flag import TextFlagModel
from models.features import UploadColumns
from models.store import ModelStore
from streamjury.schemas import UploadEvent


def uploads(build_upload: Callable[..., UploadEvent], count: int, tag: str) -> list[UploadEvent]:
    return [
        build_upload(
            f"{tag}-{n}",
            title=f"Upload {n} {tag}",
            description="Explicit gore" if n % 3 == 0 else "A summer garden tour.",
        )
        for n in range(count)
    ]


def text_model(store: ModelStore, spec: Any) -> TextFlagModel:
    model = spec.SPEC.load_model(store)
    assert isinstance(model, TextFlagModel)
    return model


def count_transforms(model: TextFlagModel) -> list[int]:
    """Counts the calls of the vectorizer behind ``model``'s shared words."""
    calls = [0]
    vectorizer = model.words._vectorizer
    real = vectorizer.transform

    def counted(texts: Any) -> Any:
        calls[0] += 1
        return real(texts)

    vectorizer.transform = counted
    return calls


def test_models_trained_on_the_same_uploads_share_their_words(model_store: ModelStore) -> None:
    first, second = text_model(model_store, nsfw), text_model(model_store, violence)

    assert first.classifier.vectorizer is not second.classifier.vectorizer
    assert first.words is second.words


def test_one_transform_per_batch_for_both_models(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    first, second = text_model(model_store, nsfw), text_model(model_store, violence)
    calls = count_transforms(first)
    batch, later = uploads(build_upload, 20, "a"), uploads(build_upload, 20, "b")

    first.predict(batch)
    second.predict(batch)
    assert calls == [1]
    second.predict(later)
    first.predict(later)
    assert calls == [2]
    first.predict(batch)  # only the last batch is remembered
    assert calls == [3]


def test_shared_scores_equal_each_model_alone(
    model_store: ModelStore, build_upload: Callable[..., UploadEvent]
) -> None:
    batch = uploads(build_upload, 30, "c")
    columns = UploadColumns.from_events(batch)
    for spec in (nsfw, violence, nsfw):
        model = text_model(model_store, spec)
        alone = model.classifier.predict_proba(columns)

        scores = [prediction.score for prediction in model.predict(batch)]

        assert scores == alone.tolist()


def test_a_different_vocabulary_gets_its_own_words(model_store: ModelStore) -> None:
    model = text_model(model_store, nsfw)
    other = copy.deepcopy(model.classifier.vectorizer)
    other.vocabulary_ = {**other.vocabulary_, "never-seen-term": len(other.vocabulary_)}

    assert fingerprint(other) != fingerprint(model.classifier.vectorizer)
    assert shared_words(other) is not model.words


def test_different_idf_or_settings_change_the_fingerprint(model_store: ModelStore) -> None:
    vectorizer = text_model(model_store, nsfw).classifier.vectorizer
    reweighted = copy.deepcopy(vectorizer)
    reweighted.idf_ = np.asarray(vectorizer.idf_) * 2
    resettled = copy.deepcopy(vectorizer).set_params(sublinear_tf=not vectorizer.sublinear_tf)

    assert fingerprint(copy.deepcopy(vectorizer)) == fingerprint(vectorizer)
    assert fingerprint(reweighted) != fingerprint(vectorizer)
    assert fingerprint(resettled) != fingerprint(vectorizer)


def test_an_empty_batch_scores_nothing(model_store: ModelStore) -> None:
    assert text_model(model_store, nsfw).predict([]) == []
