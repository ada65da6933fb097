"""What the nsfw and violence checks share: a text classifier whose probability becomes a flag.

Not a check itself (no ``SPEC``); each check module builds its spec with ``text_flag_spec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from consumers.checks._shared_words import SharedWords, shared_words
from models.features import UploadColumns
from models.moderation import TextFlagClassifier
from models.store import load_typed
from streamjury.schemas import RideEvent, UploadEvent

FLAG_THRESHOLD = 0.5


@dataclass
class TextFlagModel:
    name: str
    version: str
    classifier: TextFlagClassifier
    words: SharedWords
    """The classifier's vectorizer's transform, shared with every loaded model whose
    vectorizer is equal (one transform per batch between them)."""

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        columns = UploadColumns.from_events(events)
        if len(columns) == 0:
            return []
        probabilities = self.classifier.probabilities(self.words.transform(columns.text), columns)
        # tolist(): plain floats in one call, not a numpy scalar per upload (same values)
        return [
            Prediction(score=p, label="flag" if p >= FLAG_THRESHOLD else "clear")
            for p in probabilities.tolist()
        ]


def text_flag_spec(check_name: str, model_name: str, description: str) -> CheckSpec:
    """A check over ``uploads`` that flags at probability 0.5 using artifact ``model_name``."""

    def load_model(source: ModelSource) -> CheckModel:
        classifier = load_typed(source, model_name, TextFlagClassifier)
        return TextFlagModel(
            name=model_name,
            version=source.version(model_name),
            classifier=classifier,
            words=shared_words(classifier.vectorizer),
        )

    return CheckSpec(
        name=check_name,
        event_type="upload",
        stream="uploads",
        load_model=load_model,
        description=description,
    )
