"""The copyright check: is an upload's fingerprint a near-copy of a protected work?

Reads ``uploads``; ``score`` is 1 for an exact copy and 0.5 at the match threshold, ``label`` is
``match`` or ``clear``, ``details`` name the closest protected fingerprint and its distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumers.check import CheckModel, CheckSpec, ModelSource, Prediction
from consumers.checks._rounding import round_like_python
from models.copyright_index import CopyrightIndex
from models.features import only
from models.store import load_typed
from streamjury.schemas import RideEvent, UploadEvent

MODEL_NAME = "copyright"


@dataclass
class CopyrightModel:
    name: str
    version: str
    index: CopyrightIndex

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        uploads = only(events, UploadEvent)
        if not uploads:
            return []
        matches = self.index.lookup([upload.content_fingerprint for upload in uploads])
        # tolist(): plain ints and bools in one call each, not numpy scalars (same values)
        return [
            Prediction(
                score=score,
                label="match" if is_match else "clear",
                details={"best_match": best, "distance": distance},
            )
            for best, distance, score, is_match in zip(
                matches.best_match,
                matches.distance.tolist(),
                round_like_python(matches.score, 4),
                matches.is_match.tolist(),
                strict=True,
            )
        ]


def load_model(source: ModelSource) -> CheckModel:
    return CopyrightModel(
        name=MODEL_NAME,
        version=source.version(MODEL_NAME),
        index=load_typed(source, MODEL_NAME, CopyrightIndex),
    )


SPEC = CheckSpec(
    name="copyright",
    event_type="upload",
    stream="uploads",
    load_model=load_model,
    description="Hamming-distance match of the content fingerprint against protected works.",
)
