"""Shadow scoring: every batch is also scored by a second model whose verdicts decide nothing.

They go to ``verdicts-shadow`` beside the live verdict of the same event, in the same flush as the
batch's live outputs. A failing shadow model is logged and skipped: it never holds up the live one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from consumers.batch import BatchResult, process_batch
from consumers.check import CheckModel, CheckSpec, Prediction
from consumers.rollout import ModelRollout
from models.shadow import ShadowVerdict
from streamjury.schemas import RideEvent, UploadEvent
from streamjury.streams.base import OutRecord, Record

log = logging.getLogger(__name__)


class Stopwatch:
    """A model whose predict calls in the current batch are timed (bisection calls add up)."""

    def __init__(self, model: CheckModel) -> None:
        self.model = model
        self.name = model.name
        self.version = model.version
        self.seconds = 0.0

    def predict(self, events: Sequence[RideEvent | UploadEvent]) -> list[Prediction]:
        started = time.perf_counter()
        try:
            return self.model.predict(events)
        finally:
            self.seconds += time.perf_counter() - started


class ShadowScorer:
    """``SideOutputs`` for the runtime: the shadow's verdicts of a batch, paired with the live ones.

    Wrap the live model with ``watch_live`` (the rollout's ``wrap``) so its predict time is known.
    """

    def __init__(self, spec: CheckSpec, shadow: ModelRollout, stream: str) -> None:
        self.spec = spec
        self.shadow = shadow
        self.stream = stream
        self.stage = f"shadow:{spec.name}"
        self._live: Stopwatch | None = None
        self.failures = 0

    def watch_live(self, model: CheckModel) -> CheckModel:
        self._live = Stopwatch(model)
        return self._live

    def __call__(
        self, batch: Sequence[Record], result: BatchResult
    ) -> Mapping[str, list[OutRecord]]:
        live = {verdict.event_id: verdict for verdict in result.verdicts}
        live_s = self._live.seconds if self._live is not None else 0.0
        if self._live is not None:
            self._live.seconds = 0.0
        if not live:
            return {}
        shadow = Stopwatch(self.shadow.current())
        try:
            scored = process_batch(self.spec, shadow, batch, stage=self.stage)
        except Exception as exc:  # the shadow must never stop the live model
            self.failures += 1
            log.error("shadow %s failed on a batch of %d: %s", shadow.version, len(batch), exc)
            return {}
        pairs = [
            ShadowVerdict(
                live=live[verdict.event_id],
                shadow=verdict,
                batch_events=len(batch),
                live_predict_s=live_s,
                shadow_predict_s=shadow.seconds,
            )
            for verdict in scored.verdicts
            if verdict.event_id in live
        ]
        return {self.stream: [OutRecord(p.live.event_id, p.to_bytes()) for p in pairs]}
