"""Invokes a handler with one shard's batch and applies Lambda's rules until every record is settled.

Settled means processed, or discarded to the on-failure destination; the caller checkpoints as
each prefix settles. The rules are AWS's: bisect on error, bounded retries, maximum record age,
and partial batch responses that resume from the lowest failed sequence number.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from streamjury.esm.config import UNLIMITED, MappingSettings
from streamjury.esm.context import LocalContext
from streamjury.esm.destinations import (
    Condition,
    DiscardedBatch,
    FailureDestination,
    failure_document,
)
from streamjury.esm.event import ShardRecord, StreamIdentity, event_record, kinesis_event

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: ``handler(event, context)``."""
Result = Literal["ok", "partial", "error"]
MAX_RETRY_DELAY_S = 30.0
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
"""AWS Lambda's cap on a synchronous invocation's payload; the mapping never sends more."""
_EVENT_OVERHEAD_BYTES = len('{"Records": []}')
PAYLOAD_TOO_LARGE = "RequestEntityTooLargeException"
TIMED_OUT = "Task timed out"


@dataclass(frozen=True, slots=True)
class Invocation:
    """One call of the handler, as the runner saw it."""

    shard_id: str
    first_sequence_number: str
    size: int
    result: Result
    failed_from: str | None = None
    """For ``partial``: the sequence number the function asked to resume from."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Response:
    result: Result
    failed_index: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class InvokerConfig:
    """Who is invoked and how patiently: the function's identity, timeouts and retry pacing."""

    function_name: str
    function_arn: str
    origin: StreamIdentity
    timeout_s: float = 60.0
    retry_backoff_s: float = 1.0
    """First retry's delay after a failed invocation; doubles each time, capped at 30 s."""
    max_payload_bytes: int = MAX_SYNC_PAYLOAD_BYTES
    """A batch is cut to the records whose event fits; a lone record too big cannot be sent."""


class BatchInvoker:
    """Settles batches for one mapping; ``invocations`` keeps the most recent calls for tests/logs."""

    def __init__(
        self,
        handler: Handler,
        settings: MappingSettings,
        destination: FailureDestination,
        config: InvokerConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], object] = time.sleep,
        history: int = 10_000,
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.destination = destination
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self.invocations: deque[Invocation] = deque(maxlen=history)
        self.calls = 0
        self.discarded_records = 0
        self.payload_splits = 0
        """How many times a batch was cut short to keep its event under the payload cap."""
        self.timeouts = 0

    def settle(
        self,
        records: Sequence[ShardRecord],
        checkpoint: Callable[[ShardRecord], None],
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Invoke until every record of ``records`` is processed or discarded, in order.

        ``checkpoint`` is called with the last record of each settled prefix. Returns False if
        a stop was requested first: the unsettled rest is left for the next run to read again.
        """
        work: deque[tuple[list[ShardRecord], int]] = deque([(list(records), 0)])
        while work:
            if stop_requested():
                return False
            batch, failures = work.popleft()
            batch = self._drop_expired(batch, failures, checkpoint)
            if not batch:
                continue
            batch, rest = self._fit_payload(batch)
            if rest:
                work.appendleft((rest, failures))  # after this batch, whatever becomes of it
            response = self._invoke(batch)
            if response.result == "ok":
                checkpoint(batch[-1])
                continue
            if response.result == "partial" and response.failed_index is not None:
                done, batch = batch[: response.failed_index], batch[response.failed_index :]
                if done:
                    checkpoint(done[-1])
            elif self.settings.bisect_on_error and len(batch) > 1:
                middle = len(batch) // 2
                log.info("bisecting a failed batch of %d records", len(batch))
                work.extendleft([(batch[middle:], failures), (batch[:middle], failures)])
                continue  # splitting does not use up the retry quota
            failures += 1
            if self._retries_exhausted(failures):
                error = "Unhandled" if response.result == "error" else None
                self._discard(
                    DiscardedBatch(batch, "RetryAttemptsExhausted", failures, error), checkpoint
                )
                continue
            self._sleep(min(self.config.retry_backoff_s * 2 ** (failures - 1), MAX_RETRY_DELAY_S))
            work.appendleft((batch, failures))
        return True

    def _fit_payload(self, batch: list[ShardRecord]) -> tuple[list[ShardRecord], list[ShardRecord]]:
        """The longest prefix whose event fits ``max_payload_bytes`` (at least one record),
        and the rest, which goes in the next invocation: AWS sends fewer records, not more."""
        size = _EVENT_OVERHEAD_BYTES
        for index, record in enumerate(batch):
            size += event_size(record, self.config.origin) + (2 if index else 0)
            if size > self.config.max_payload_bytes and index > 0:
                self.payload_splits += 1
                log.info(
                    "batch of %d records cut to %d: its event would exceed %d bytes",
                    len(batch),
                    index,
                    self.config.max_payload_bytes,
                )
                return batch[:index], batch[index:]
        return batch, []

    def _retries_exhausted(self, failures: int) -> bool:
        limit = self.settings.max_retries
        return limit != UNLIMITED and failures > limit

    def _drop_expired(
        self, batch: list[ShardRecord], failures: int, checkpoint: Callable[[ShardRecord], None]
    ) -> list[ShardRecord]:
        """Discard the records older than MaximumRecordAgeInSeconds (the oldest come first)."""
        if self.settings.max_record_age_s == UNLIMITED:
            return batch
        oldest_allowed = self._clock() - timedelta(seconds=self.settings.max_record_age_s)
        expired = 0
        while expired < len(batch) and batch[expired].arrival < oldest_allowed:
            expired += 1
        if expired:
            self._discard(
                DiscardedBatch(batch[:expired], "RecordAgeExceeded", failures), checkpoint
            )
        return batch[expired:]

    def _discard(self, batch: DiscardedBatch, checkpoint: Callable[[ShardRecord], None]) -> None:
        document = failure_document(
            batch,
            function_arn=self.config.function_arn,
            stream_arn=self.config.origin.stream_arn,
            now=self._clock(),
        )
        self.destination.send(document)
        self.discarded_records += len(batch.records)
        log.warning(
            "discarded %d records of %s from %s: %s",
            len(batch.records),
            batch.records[0].shard_id,
            batch.records[0].sequence_number,
            _describe(batch.condition),
        )
        checkpoint(batch.records[-1])

    def _invoke(self, batch: list[ShardRecord]) -> _Response:
        event = kinesis_event(batch, self.config.origin)
        payload = len(json.dumps(event))
        if payload > self.config.max_payload_bytes:  # a lone record: Invoke itself refuses it
            error = (
                f"{PAYLOAD_TOO_LARGE}: the event of record {batch[0].sequence_number} is "
                f"{payload} bytes, over the {self.config.max_payload_bytes}-byte invocation cap"
            )
            log.warning("%s", error)
            response = _Response("error", error=error)
            self._remember(batch, response)
            return response
        context = LocalContext(
            function_name=self.config.function_name,
            invoked_function_arn=self.config.function_arn,
            timeout_s=self.config.timeout_s,
        )
        self.calls += 1
        started = time.monotonic()
        try:
            answer = self.handler(event, context)
        except Exception as exc:  # the function failed: whatever it raised is its error
            log.warning("function error on %d records: %s: %s", len(batch), type(exc).__name__, exc)
            response = _Response("error", error=f"{type(exc).__name__}: {exc}")
        else:
            response = self._read_response(answer, batch)
        elapsed = time.monotonic() - started
        if elapsed > self.config.timeout_s:  # AWS would have stopped it: its answer is lost
            self.timeouts += 1
            error = f"{TIMED_OUT} after {self.config.timeout_s:.2f} seconds ({elapsed:.2f} s)"
            log.warning("function error on %d records: %s", len(batch), error)
            response = _Response("error", error=error)
        self._remember(batch, response)
        return response

    def _remember(self, batch: list[ShardRecord], response: _Response) -> None:
        failed_from = (
            batch[response.failed_index].sequence_number
            if response.failed_index is not None
            else None
        )
        self.invocations.append(
            Invocation(
                shard_id=batch[0].shard_id,
                first_sequence_number=batch[0].sequence_number,
                size=len(batch),
                result=response.result,
                failed_from=failed_from,
                error=response.error,
            )
        )

    def _read_response(self, answer: Any, batch: Sequence[ShardRecord]) -> _Response:
        """AWS's reading of a partial batch response, including what makes it invalid."""
        if not self.settings.report_batch_item_failures:
            return _Response("ok")
        if not isinstance(answer, Mapping) or not answer.get("batchItemFailures"):
            return _Response("ok")  # None, {}, or an empty/null list all mean success
        items = answer["batchItemFailures"]
        positions = {record.sequence_number: index for index, record in enumerate(batch)}
        failed: list[int] = []
        for item in items if isinstance(items, list) else [items]:
            identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
            if not isinstance(identifier, str) or identifier not in positions:
                error = f"invalid batchItemFailures entry {item!r}: the whole batch failed"
                log.warning("%s", error)
                return _Response("error", error=error)
            failed.append(positions[identifier])
        return _Response("partial", failed_index=min(failed))


def event_size(record: ShardRecord, origin: StreamIdentity) -> int:
    """Bytes one record adds to an invocation event, as ``json.dumps`` writes it."""
    return len(json.dumps(event_record(record, origin)))


def _describe(condition: Condition) -> str:
    if condition == "RecordAgeExceeded":
        return "older than MaximumRecordAgeInSeconds"
    return "MaximumRetryAttempts exhausted"
