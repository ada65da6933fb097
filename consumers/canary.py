"""Canary rollout: a fixed share of events gets its live verdict from a candidate model.

Which events is decided by a hash of the event id, so the same event goes to the same arm on
every consumer, after every restart and on every redelivery. Each verdict names its arm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from consumers.batch import BatchResult, RecordOutcome, process_batch
from consumers.check import CheckModel, CheckSpec
from consumers.rollout import ModelRollout
from streamjury.schemas import MAX_DEAD_LETTER_BYTES, utc_now
from streamjury.streams.base import Record

BUCKETS = 10_000
"""Shares are resolved to 0.01 %."""


def in_canary(event_id: str, percent: float) -> bool:
    """Whether ``event_id`` falls in the canary's ``percent`` share (stable, uniform)."""
    bucket = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big") % BUCKETS
    return bucket < round(percent * BUCKETS / 100)


class CanaryScorer:
    """Scores a batch as two sub-batches, live and canary, and merges them back in input order.

    Records are routed by their key (the event id, as every producer writes it); a record with no
    key stays live. Each sub-batch uses one model, so no verdict mixes versions.
    """

    def __init__(
        self,
        spec: CheckSpec,
        canary: ModelRollout,
        percent: float,
        *,
        stage: str,
        now: Callable[[], datetime] = utc_now,
        deadletter_max_bytes: int = MAX_DEAD_LETTER_BYTES,
    ) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"canary percent must be within 0..100, got {percent}")
        self.spec = spec
        self.canary = canary
        self.percent = percent
        self.stage = stage
        self._now = now
        self.deadletter_max_bytes = deadletter_max_bytes

    def __call__(self, live_model: CheckModel, batch: Sequence[Record]) -> BatchResult:
        arms = ["canary" if r.key and in_canary(r.key, self.percent) else "live" for r in batch]
        merged: list[RecordOutcome | None] = [None] * len(batch)
        for arm, model in (("live", live_model), ("canary", self.canary.current())):
            index = [i for i, a in enumerate(arms) if a == arm]
            if not index:
                continue
            records = [batch[i] for i in index]
            result = process_batch(
                self.spec,
                model,
                records,
                stage=self.stage,
                now=self._now,
                deadletter_max_bytes=self.deadletter_max_bytes,
            )
            for i, outcome in zip(index, result.outcomes, strict=True):
                if outcome.verdict is not None:
                    stamped = outcome.verdict.model_copy(update={"arm": arm})
                    outcome = RecordOutcome(outcome.record, verdict=stamped)
                merged[i] = outcome
        return BatchResult([outcome for outcome in merged if outcome is not None])
