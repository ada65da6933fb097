"""The AWS Lambda entry point of every check: ``consumers.lambda_handler.handler``.

A Kinesis batch goes through the same ``process_batch`` as the streaming consumer, chunk by
chunk while the function has time; a partial batch response tells Lambda where to resume.
A canary and a shadow work as in the streaming consumer (the same scorers): shadow pairs are
written with their chunk's verdicts, before the chunk counts as done.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from consumers.batch import process_batch
from consumers.canary import CanaryScorer
from consumers.check import CheckModel, CheckSpec
from consumers.lambda_deadletters import fit_dead_letter
from consumers.lambda_events import (
    EventRecord,
    KinesisEventRecord,
    PartialBatchResponse,
    UnreadableRecord,
    parse_event,
)
from consumers.lambda_logging import (
    InvocationFields,
    configure_function_logging,
    install_context_filter,
    invocation_fields,
)
from consumers.lambda_metrics import (
    EmfMetrics,
    InvocationMetrics,
    InvocationObserver,
    iterator_age_ms,
)
from consumers.lambda_settings import DEFAULT_DEADLINE_MARGIN_MS, LambdaSettings
from consumers.lambda_sinks import RecordSink, open_sink
from consumers.lambda_tracing import DECODE, PREDICT, WRITE, NoTracing, Tracing, build_tracing
from consumers.outcomes import BatchResult, RecordOutcome, dead_letter_key, source_of
from consumers.registry import get_check
from consumers.rollout import ModelRollout
from consumers.shadow import ShadowScorer
from models.store import ModelStore
from streamjury.errors import ConfigError, StreamError, StreamjuryError
from streamjury.redaction import redact, remember_environ
from streamjury.schemas import DeadLetter, describe_validation_error
from streamjury.settings import describe_settings_error
from streamjury.streams.base import OutRecord

log = logging.getLogger(__name__)

CHUNK_RECORDS = 100
"""Records scored and written at a time; the remaining time is checked between chunks."""
LOCAL_FUNCTION_NAME = "streamjury-local"
IN_LAMBDA_ENV = "AWS_LAMBDA_RUNTIME_API"
"""Set by the Lambda runtime (and its emulators) only."""


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a function publishes: verdicts to one sink, dead letters (with payload) to another,
    and shadow pairs (with ``--shadow``) to a third."""

    verdicts: RecordSink
    dead_letters: RecordSink
    shadow: RecordSink | None = None


@dataclass(frozen=True, slots=True)
class _Scored:
    """A chunk's outcomes, and its shadow pairs with the chunk index each came from."""

    result: BatchResult
    shadow: list[OutRecord] = field(default_factory=list)
    shadow_inputs: list[int] = field(default_factory=list)


class _TimedModel:
    """The check's model, timed (for PredictTime) and traced (the ``predict`` subsegment)."""

    def __init__(self, model: CheckModel, adapter: LambdaAdapter) -> None:
        self._model = model
        self._adapter = adapter
        self.name = model.name
        self.version = model.version
        self.seconds = 0.0

    def predict(self, events: Sequence[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            with self._adapter.tracing.subsegment(PREDICT, self._adapter.annotations(len(events))):
                return self._model.predict(events)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass
class _Progress:
    """How far one invocation got: outcomes settled so far, and where Lambda must resume."""

    verdicts: list[RecordOutcome] = field(default_factory=list)
    dead_letters: list[Any] = field(default_factory=list)
    shadow: list[OutRecord] = field(default_factory=list)
    resume_at: int | None = None
    deadline_stop: bool = False


class LambdaAdapter:
    """Turns one Kinesis invocation into verdicts and dead letters, and reports what is left.

    ``outputs=None`` is dry-run mode: nothing is published and the outputs are returned.
    ``observers`` hear the figures of every invocation (EMF on AWS, a live table locally).
    ``canary`` splits each chunk between the live model and a candidate; ``shadow`` also scores
    each chunk with a second model (its pairs go to ``outputs.shadow``).
    """

    def __init__(
        self,
        spec: CheckSpec,
        model: CheckModel,
        outputs: Outputs | None,
        *,
        stage: str,
        observers: Sequence[InvocationObserver] = (),
        tracing: Tracing | None = None,
        deadline_margin_ms: int = DEFAULT_DEADLINE_MARGIN_MS,
        chunk_records: int = CHUNK_RECORDS,
        canary: CanaryScorer | None = None,
        shadow: ShadowScorer | None = None,
    ) -> None:
        if shadow is not None and outputs is not None and outputs.shadow is None:
            raise ConfigError("a shadow model needs a sink for its verdicts")
        self.spec = spec
        self.model = model
        self.outputs = outputs
        self.stage = stage
        self.observers = list(observers)
        self.tracing: Tracing = tracing or NoTracing()
        self.deadline_margin_ms = deadline_margin_ms
        self.chunk_records = chunk_records
        self.canary = canary
        self.shadow = shadow
        self._cold_start = True

    def annotations(self, records: int) -> dict[str, str | int]:
        return {"check": self.spec.name, "model_version": self.model.version, "records": records}

    def handle(self, event: Mapping[str, Any], context: Any = None) -> PartialBatchResponse:
        """Score the batch chunk by chunk, write each chunk's outputs, and name where to resume.

        Resuming is needed when an output could not be written, or when the function's time
        ran short (``context.get_remaining_time_in_millis()``): the first record not done is
        reported, so Lambda redelivers it and everything after it. A malformed *event* (not a
        malformed record) raises InvalidEvent: only a broken harness sends one.
        """
        started = time.perf_counter()
        now_s = time.time()
        cold_start, self._cold_start = self._cold_start, False
        with self.tracing.subsegment(DECODE, self.annotations(len(event.get("Records") or []))):
            records = parse_event(event)
        fields = _fields_of(context, self.spec.name, cold_start, records)
        timed = _TimedModel(self.model, self)
        live = self.shadow.watch_live(timed) if self.shadow is not None else timed
        with invocation_fields(fields):
            progress = self._run(records, live, context)
            response: PartialBatchResponse = {"batchItemFailures": []}
            if progress.resume_at is not None:
                first = records[progress.resume_at]
                response["batchItemFailures"] = [{"itemIdentifier": first.sequence_number}]
                log.warning(
                    "%d of %d records not done (%s); Lambda resumes at %s",
                    len(records) - progress.resume_at,
                    len(records),
                    "function timeout near" if progress.deadline_stop else "write failed",
                    first.sequence_number,
                )
            if self.outputs is None:
                response["verdicts"] = [
                    o.verdict.model_dump(mode="json") for o in progress.verdicts if o.verdict
                ]
                response["deadLetters"] = [d.model_dump(mode="json") for d in progress.dead_letters]
                if self.shadow is not None:
                    response["shadowVerdicts"] = [json.loads(r.value) for r in progress.shadow]
            metrics = InvocationMetrics(
                function_name=fields.function_name,
                request_id=fields.function_request_id,
                check=self.spec.name,
                model_version=self.model.version,
                records_in=len(records),
                verdicts=len(progress.verdicts),
                dead_letters=len(progress.dead_letters),
                reported_failures=(
                    0 if progress.resume_at is None else len(records) - progress.resume_at
                ),
                handler_ms=(time.perf_counter() - started) * 1000,
                predict_ms=timed.seconds * 1000,
                iterator_age_ms=iterator_age_ms([r.arrival_s for r in records], now_s),
                cold_start=cold_start,
                deadline_stop=progress.deadline_stop,
                shard_id=fields.shard_id,
                first_sequence=fields.sequence_first,
                last_sequence=fields.sequence_last,
            )
            log.info(
                "check %s: %d records, %d verdicts, %d dead letters, %d handed back in %.0f ms",
                self.spec.name,
                metrics.records_in,
                metrics.verdicts,
                metrics.dead_letters,
                metrics.reported_failures,
                metrics.handler_ms,
            )
            for observer in self.observers:
                observer.observe(metrics)
        return response

    def _run(self, records: Sequence[EventRecord], model: CheckModel, context: Any) -> _Progress:
        progress = _Progress()
        slowest_chunk_s = 0.0
        for start in range(0, len(records), self.chunk_records):
            if start and self._near_deadline(context, slowest_chunk_s):
                progress.resume_at, progress.deadline_stop = start, True
                break
            chunk_started = time.perf_counter()
            scored = self._score(records[start : start + self.chunk_records], model)
            result = scored.result
            done = len(result.outcomes)
            if self.outputs is not None:
                with self.tracing.subsegment(WRITE, self.annotations(done)):
                    unwritten = self._publish(scored)
                if unwritten:
                    done = min(unwritten)
                    progress.resume_at = start + done
            progress.shadow += [
                pair
                for pair, at in zip(scored.shadow, scored.shadow_inputs, strict=True)
                if at < done
            ]
            for outcome in result.outcomes[:done]:
                if outcome.is_verdict:  # kept as the outcome: its model is built only if read
                    progress.verdicts.append(outcome)
                elif outcome.dead_letter is not None:
                    progress.dead_letters.append(outcome.dead_letter)
            if progress.resume_at is not None:
                break  # everything after it is redelivered: writing more would only duplicate
            slowest_chunk_s = max(slowest_chunk_s, time.perf_counter() - chunk_started)
        return progress

    def _near_deadline(self, context: Any, slowest_chunk_s: float) -> bool:
        """Too little time left for another chunk (twice the slowest so far) and the margin."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return False
        left_ms = float(remaining())
        return left_ms < self.deadline_margin_ms + 2 * slowest_chunk_s * 1000

    def _score(self, chunk: Sequence[EventRecord], model: CheckModel) -> _Scored:
        """``process_batch`` (or the canary's split) over the readable records, then the shadow's
        pairs; an unreadable record is dead-lettered."""
        readable = [(i, r) for i, r in enumerate(chunk) if isinstance(r, KinesisEventRecord)]
        batch = [record.to_record() for _, record in readable]
        if self.canary is not None:
            scored = self.canary(model, batch)
        else:
            scored = process_batch(self.spec, model, batch, stage=self.stage)
        outcomes: list[RecordOutcome | None] = [None] * len(chunk)
        for (index, _), scored_outcome in zip(readable, scored.outcomes, strict=True):
            outcomes[index] = scored_outcome
        for index, item in enumerate(chunk):
            if isinstance(item, UnreadableRecord):
                record = item.to_record()
                letter = DeadLetter.of(item.sent, item.reason, self.stage, source=source_of(record))
                outcomes[index] = RecordOutcome(record, dead_letter=letter)
        if self.outputs is not None:  # a dead letter its sink refuses could never be delivered
            kind = self.outputs.dead_letters.target.kind
            for index, item_outcome in enumerate(outcomes):
                if item_outcome is not None and item_outcome.dead_letter is not None:
                    letter = item_outcome.dead_letter
                    key = dead_letter_key(item_outcome.record)
                    fitted = fit_dead_letter(letter, key, kind)
                    if fitted is not letter:
                        outcomes[index] = RecordOutcome(item_outcome.record, dead_letter=fitted)
        result = BatchResult([outcome for outcome in outcomes if outcome is not None])
        if self.shadow is None:
            return _Scored(result)
        pairs = self.shadow(batch, scored).get(self.shadow.stream, [])
        where = {o.verdict.event_id: i for i, o in enumerate(result.outcomes) if o.verdict}
        return _Scored(result, pairs, [where[pair.key] for pair in pairs])

    def _publish(self, scored: _Scored) -> set[int]:
        """Write every output; the indices of the inputs whose output was not written."""
        assert self.outputs is not None
        out = scored.result.output_records()
        unwritten = _put(self.outputs.verdicts, out.verdicts, out.verdict_inputs)
        unwritten |= _put(self.outputs.dead_letters, out.dead_letters, out.dead_letter_inputs)
        if scored.shadow:
            if self.outputs.shadow is None:  # never drop the pairs silently
                raise ConfigError("a shadow model needs a sink for its verdicts")
            unwritten |= _put(self.outputs.shadow, scored.shadow, scored.shadow_inputs)
        return unwritten


def _put(sink: RecordSink, records: Sequence[OutRecord], inputs: Sequence[int]) -> set[int]:
    """Input indices whose records ``sink`` did not write; a sink that fails outright fails all.

    ``inputs[i]`` is the index of the input ``records[i]`` was made from.
    """
    if not records:
        return set()
    try:
        failed = sink.put(records)
    except StreamError as exc:
        log.error("could not write %d records to %s: %s", len(records), sink.target, exc)
        return set(inputs)
    return {inputs[position] for position in failed}


def _fields_of(
    context: Any, check: str, cold_start: bool, records: Sequence[EventRecord]
) -> InvocationFields:
    """The log fields of one invocation, from Lambda's context object and the batch."""
    function_name = getattr(context, "function_name", None) or os.environ.get(
        "AWS_LAMBDA_FUNCTION_NAME", LOCAL_FUNCTION_NAME
    )
    return InvocationFields(
        function_name=str(function_name),
        function_request_id=str(getattr(context, "aws_request_id", None) or "-"),
        cold_start=cold_start,
        check=check,
        shard_id=records[0].shard_id if records else None,
        sequence_first=records[0].sequence_number if records else None,
        sequence_last=records[-1].sequence_number if records else None,
    )


def build_adapter(
    settings: LambdaSettings,
    load_model: Callable[[CheckSpec], CheckModel] | None = None,
    *,
    observers: Sequence[InvocationObserver] | None = None,
    rollout_of: Callable[[CheckSpec, str], ModelRollout] | None = None,
) -> LambdaAdapter:
    """An adapter for ``settings``: the check's model, sinks unless this is a dry run, EMF
    metrics (unless other ``observers`` are given) and X-Ray tracing if the settings say so.

    ``rollout_of(spec, ref)`` gives the shadow's and the canary's models (which follow their
    alias); by default they are loaded from the settings' model location.
    """
    spec = get_check(settings.check)
    model = (
        load_model(spec)
        if load_model is not None
        else spec.load_model(ModelStore(settings.models, settings.model_cache))
    )
    if rollout_of is None:
        rollout_of = partial(_rollout_at, settings)
    outputs = None
    if not settings.dry_run:
        outputs = Outputs(
            verdicts=open_sink(f"kinesis:{settings.output_stream}", settings.kinesis),
            dead_letters=open_sink(settings.deadletter_target, settings.kinesis),
            shadow=(
                open_sink(f"kinesis:{settings.shadow_stream}", settings.kinesis)
                if settings.shadow is not None
                else None
            ),
        )
    if observers is None:
        observers = [EmfMetrics(settings.metrics_namespace, settings.service)]
    return LambdaAdapter(
        spec,
        model,
        outputs,
        stage=settings.stage,
        observers=observers,
        tracing=build_tracing(settings.tracing, settings.service),
        deadline_margin_ms=settings.deadline_margin_ms,
        canary=(
            CanaryScorer(
                spec,
                rollout_of(spec, settings.canary),
                settings.canary_percent,
                stage=settings.stage,
            )
            if settings.canary is not None
            else None
        ),
        shadow=(
            ShadowScorer(spec, rollout_of(spec, settings.shadow), settings.shadow_stream)
            if settings.shadow is not None
            else None
        ),
    )


def _rollout_at(settings: LambdaSettings, spec: CheckSpec, ref: str) -> ModelRollout:
    """``spec``'s model at ``ref`` (alias or version) in the settings' location, followed."""
    store = ModelStore.from_settings(settings).at(ref)
    return ModelRollout(spec, store, poll_interval_s=settings.model_poll_s)


class ColdStartCache:
    """What one Lambda execution environment builds once and reuses for every invocation.

    Loading a model (and verifying its sha256) takes far longer than scoring a batch, so it is
    done on the first invocation of a cold start only. Models are keyed by (check, location)
    and adapters by their settings, so a changed environment (in tests) builds afresh.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], ModelRollout] = {}
        self._adapters: dict[str, LambdaAdapter] = {}
        self.logging_configured = False

    def is_warm(self, settings: LambdaSettings) -> bool:
        return settings.model_dump_json() in self._adapters

    def adapter(self, settings: LambdaSettings) -> LambdaAdapter:
        key = settings.model_dump_json()
        if key not in self._adapters:
            self._adapters[key] = build_adapter(
                settings,
                lambda spec: self._model(spec, settings),
                rollout_of=lambda spec, ref: self._rollout(spec, settings, ref),
            )
        adapter = self._adapters[key]
        # A warm function re-reads its alias every STREAMJURY_MODEL_POLL_S, between invocations.
        adapter.model = self._rollout(adapter.spec, settings).current()
        return adapter

    def _model(self, spec: CheckSpec, settings: LambdaSettings) -> CheckModel:
        return self._rollout(spec, settings).model

    def _rollout(
        self, spec: CheckSpec, settings: LambdaSettings, ref: str | None = None
    ) -> ModelRollout:
        """The model of ``spec`` at ``ref`` (the served alias by default), loaded once."""
        ref = ref or settings.model_alias
        key = (spec.name, settings.models, ref)
        if key not in self._models:
            log.info("cold start: loading the %s model %s from %s", spec.name, ref, settings.models)
            self._models[key] = _rollout_at(settings, spec, ref)
        return self._models[key]

    def clear(self) -> None:
        """Forget everything, as a new execution environment would."""
        self._models.clear()
        self._adapters.clear()
        self.logging_configured = False


COLD_START = ColdStartCache()
"""The one deliberate module-level object: Lambda reuses it across warm invocations."""


def handler(event: Mapping[str, Any], context: object) -> PartialBatchResponse:
    """Lambda's entry point: settings from the environment, the cached adapter, one batch.

    An error that escapes reaches the Lambda runtime, which logs its message: it is redacted
    first, like every log line, so a setting quoted in it never shows a secret.
    """
    try:
        return _handle(event, context)
    except Exception as exc:
        message = str(exc)
        safe = redact(message)
        if safe == message:
            raise
        if isinstance(exc, ConfigError):
            raise ConfigError(safe) from None
        raise StreamjuryError(f"{type(exc).__name__}: {safe}") from None


def _handle(event: Mapping[str, Any], context: object) -> PartialBatchResponse:
    remember_environ()
    try:
        settings = LambdaSettings()
    except ValidationError as exc:
        raise ConfigError(f"invalid function settings: {describe_validation_error(exc)}") from exc
    except SettingsError as exc:
        raise ConfigError(f"invalid function settings: {describe_settings_error(exc)}") from exc
    if not COLD_START.logging_configured:
        if IN_LAMBDA_ENV in os.environ:  # replace the runtime's text handler: JSON lines only
            configure_function_logging(settings.log_level)
        else:  # a local caller configured logging already: only add the Lambda fields
            install_context_filter()
        COLD_START.logging_configured = True
    loading = InvocationFields(  # the cold start's own lines (model loading) carry the request
        function_name=str(getattr(context, "function_name", None) or LOCAL_FUNCTION_NAME),
        function_request_id=str(getattr(context, "aws_request_id", None) or "-"),
        cold_start=not COLD_START.is_warm(settings),
        check=settings.check,
    )
    with invocation_fields(loading):
        adapter = COLD_START.adapter(settings)
    return adapter.handle(event, context)
