"""The AWS Lambda entry point of every check: ``consumers.lambda_handler.handler``.

A Kinesis batch goes through the same ``process_batch`` as the streaming consumer; the outputs
are published, and a partial batch response tells Lambda where to resume if a write failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from consumers.batch import BatchResult, process_batch
from consumers.check import CheckModel, CheckSpec
from consumers.lambda_events import KinesisEvent, PartialBatchResponse
from consumers.lambda_settings import LambdaSettings
from consumers.lambda_sinks import RecordSink, open_sink
from consumers.registry import get_check
from models.store import ModelStore
from streamjury.errors import ConfigError, InvalidEvent, StreamError
from streamjury.schemas import describe_validation_error
from streamjury.streams.base import OutRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a function publishes: verdicts to one sink, dead letters (with payload) to another."""

    verdicts: RecordSink
    dead_letters: RecordSink


class LambdaAdapter:
    """Turns one Kinesis invocation into verdicts and dead letters, and reports failed writes.

    ``outputs=None`` is dry-run mode: nothing is published and the outputs are returned.
    """

    def __init__(
        self, spec: CheckSpec, model: CheckModel, outputs: Outputs | None, *, stage: str
    ) -> None:
        self.spec = spec
        self.model = model
        self.outputs = outputs
        self.stage = stage

    def handle(self, event: Mapping[str, Any]) -> PartialBatchResponse:
        """Score the batch, write its outputs, and name the first record not fully written.

        A malformed *event* (not a malformed record) raises InvalidEvent: only AWS or a broken
        test harness sends one, and failing the invocation is the honest answer.
        """
        started = time.perf_counter()
        try:
            parsed = KinesisEvent.model_validate(event)
        except ValidationError as exc:
            raise InvalidEvent(f"not a Kinesis event: {describe_validation_error(exc)}") from exc
        records = [item.to_record() for item in parsed.Records]
        result = process_batch(self.spec, self.model, records, stage=self.stage)
        if self.outputs is None:
            return _dry_run_response(result)

        unwritten = self._publish(result)
        response: PartialBatchResponse = {"batchItemFailures": []}
        if unwritten:
            first = parsed.Records[min(unwritten)]
            response["batchItemFailures"] = [{"itemIdentifier": first.sequence_number}]
            log.warning(
                "%d of %d records not fully written; Lambda resumes at %s",
                len(unwritten),
                len(records),
                first.eventID,
            )
        log.info(
            "check %s: %d records, %d verdicts, %d dead letters in %.0f ms",
            self.spec.name,
            len(records),
            len(result.verdicts),
            len(result.dead_letters),
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _publish(self, result: BatchResult) -> set[int]:
        """Write every output; the indices of the inputs whose output was not written."""
        assert self.outputs is not None
        verdicts: list[tuple[int, OutRecord]] = []
        letters: list[tuple[int, OutRecord]] = []
        for index, outcome in enumerate(result.outcomes):
            if outcome.verdict is not None:
                verdict = outcome.verdict
                verdicts.append((index, OutRecord(verdict.event_id, verdict.to_bytes())))
            elif outcome.dead_letter is not None:
                letter = outcome.dead_letter
                letters.append((index, OutRecord(outcome.record.key, letter.to_bytes())))
        return _put(self.outputs.verdicts, verdicts) | _put(self.outputs.dead_letters, letters)


def _put(sink: RecordSink, rows: Sequence[tuple[int, OutRecord]]) -> set[int]:
    """Input indices whose outputs ``sink`` did not write; a sink that fails outright fails all."""
    if not rows:
        return set()
    try:
        failed = sink.put([record for _, record in rows])
    except StreamError as exc:
        log.error("could not write %d records to %s: %s", len(rows), sink.target, exc)
        return {index for index, _ in rows}
    return {rows[position][0] for position in failed}


def _dry_run_response(result: BatchResult) -> PartialBatchResponse:
    return {
        "batchItemFailures": [],
        "verdicts": [verdict.model_dump(mode="json") for verdict in result.verdicts],
        "deadLetters": [letter.model_dump(mode="json") for letter in result.dead_letters],
    }


def build_adapter(
    settings: LambdaSettings, load_model: Callable[[CheckSpec], CheckModel] | None = None
) -> LambdaAdapter:
    """An adapter for ``settings``: the check's model, and sinks unless this is a dry run."""
    spec = get_check(settings.check)
    model = (
        load_model(spec)
        if load_model is not None
        else spec.load_model(ModelStore(settings.models, settings.model_cache))
    )
    outputs = None
    if not settings.dry_run:
        outputs = Outputs(
            verdicts=open_sink(f"kinesis:{settings.output_stream}", settings.kinesis),
            dead_letters=open_sink(settings.deadletter_target, settings.kinesis),
        )
    return LambdaAdapter(spec, model, outputs, stage=settings.stage)


class ColdStartCache:
    """What one Lambda execution environment builds once and reuses for every invocation.

    Loading a model (and verifying its sha256) takes far longer than scoring a batch, so it is
    done on the first invocation of a cold start only. Models are keyed by (check, location)
    and adapters by their settings, so a changed environment (in tests) builds afresh.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], CheckModel] = {}
        self._adapters: dict[str, LambdaAdapter] = {}

    def adapter(self, settings: LambdaSettings) -> LambdaAdapter:
        key = settings.model_dump_json()
        if key not in self._adapters:
            self._adapters[key] = build_adapter(settings, lambda spec: self._model(spec, settings))
        return self._adapters[key]

    def _model(self, spec: CheckSpec, settings: LambdaSettings) -> CheckModel:
        key = (spec.name, settings.models)
        if key not in self._models:
            log.info("cold start: loading the %s model from %s", spec.name, settings.models)
            store = ModelStore(settings.models, settings.model_cache)
            self._models[key] = spec.load_model(store)
        return self._models[key]

    def clear(self) -> None:
        """Forget everything, as a new execution environment would."""
        self._models.clear()
        self._adapters.clear()


COLD_START = ColdStartCache()
"""The one deliberate module-level object: Lambda reuses it across warm invocations."""


def handler(event: Mapping[str, Any], context: object) -> PartialBatchResponse:
    """Lambda's entry point: settings from the environment, the cached adapter, one batch."""
    try:
        settings = LambdaSettings()
    except ValidationError as exc:
        raise ConfigError(f"invalid function settings: {describe_validation_error(exc)}") from exc
    return COLD_START.adapter(settings).handle(event)
