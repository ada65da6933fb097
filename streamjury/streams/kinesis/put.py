"""PutRecords done right: batches within Kinesis limits, retrying only the entries that failed.

Shared by the Kinesis producer, the atomic writer and the Lambda adapter (which publishes verdicts).

Ordering: Kinesis appends the entries of one successful PutRecords call to each shard in request
order, and batches are sent one after another, so records of one key keep their order when
nothing fails. PutRecords does not stop at a failed entry, though: when an entry is throttled and
retried, later entries of the same key that succeeded in the same call are already written
before it. No client can undo that (PutRecord's SequenceNumberForOrdering would cost one call per
record), so consumers must tolerate it; streamjury's are idempotent per (event_id, check) and
decisions carry revisions.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import DeliveryError, PartialDeliveryError, UnknownStream
from streamjury.retry import RetryPolicy
from streamjury.streams.base import OutRecord
from streamjury.streams.kinesis.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
"""The request limit counts every entry's partition key and data bytes."""
MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_CHARS = 256
RETRYABLE_ENTRY_ERRORS = frozenset({"ProvisionedThroughputExceededException", "InternalFailure"})
RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "ServiceUnavailable",
        "ThrottlingException",
        "LimitExceededException",
    }
)


PUT_RETRY = RetryPolicy(attempts=8, base_delay_s=0.05, max_delay_s=2.0, jitter="full")
"""Failed entries: up to 8 calls, waits of up to 50 ms doubling to 2 s, fully jittered."""


@dataclass(frozen=True, slots=True)
class PutResult:
    """Where one record landed."""

    shard_id: str
    sequence_number: str


def record_size(record: OutRecord) -> int:
    """What a record counts against the request and record limits: key plus data bytes."""
    return len(record.key.encode()) + len(record.value)


def check_record(record: OutRecord) -> None:
    """Raise DeliveryError for a record Kinesis would reject whatever we retried."""
    if not 1 <= len(record.key) <= MAX_KEY_CHARS:
        raise DeliveryError(
            f"a Kinesis partition key must have 1 to {MAX_KEY_CHARS} characters, "
            f"got {len(record.key)}"
        )
    if record_size(record) > MAX_RECORD_BYTES:
        raise DeliveryError(
            f"record {record.key!r} has {record_size(record)} bytes; Kinesis takes at most "
            f"{MAX_RECORD_BYTES} (key plus data)"
        )


def batches(
    records: Sequence[OutRecord],
    max_records: int = MAX_RECORDS_PER_CALL,
    max_bytes: int = MAX_BYTES_PER_CALL,
) -> Iterator[list[OutRecord]]:
    """Consecutive runs of ``records`` that each fit one PutRecords call, in order."""
    batch: list[OutRecord] = []
    size = 0
    for record in records:
        check_record(record)
        if batch and (len(batch) == max_records or size + record_size(record) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size(record)
    if batch:
        yield batch


class RecordPutter:
    """Writes records to one stream after another with PutRecords; thread-safe if the client is.

    Each call's failed entries, and only those, are retried in their original order with
    exponential backoff and jitter, while their error is retryable (throttling, internal
    failure) and the policy's attempts and the deadline last. Whole-call throttling and 5xx are
    retried by botocore first, then by the same loop.
    """

    def __init__(
        self,
        client: KinesisClient,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self.policy = policy or PUT_RETRY
        self._sleep = sleep
        self._rng = rng or random.Random()

    def put(
        self, stream: str, records: Sequence[OutRecord], *, timeout: float | None = None
    ) -> list[PutResult]:
        """Write ``records`` in order; where each landed, in the order given.

        Raises DeliveryError, before anything is sent, if any record can never be written (too
        large, bad key). Raises PartialDeliveryError once retries are spent, naming how many
        records failed and why, with ``unwritten`` = the indices of ``records`` not written: the
        failed entries of that call and every record after it (never attempted). Re-sending is
        at-least-once.
        """
        for record in records:  # all before the first call: none is written if one cannot be
            check_record(record)
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[PutResult] = []
        start = 0
        for batch in batches(records):
            try:
                results.extend(self._put_batch(stream, batch, deadline))
            except PartialDeliveryError as exc:
                after = range(start + len(batch), len(records))
                unwritten = (*(start + index for index in exc.unwritten), *after)
                raise PartialDeliveryError(str(exc), unwritten) from exc
            start += len(batch)
        return results

    def _put_batch(
        self, stream: str, batch: list[OutRecord], deadline: float | None
    ) -> list[PutResult]:
        entries = [{"Data": record.value, "PartitionKey": record.key} for record in batch]
        results: list[PutResult | None] = [None] * len(batch)
        pending = list(range(len(batch)))
        errors: Counter[str] = Counter()
        for attempt in self.policy.tries(sleep=self._sleep, rng=self._rng, deadline=deadline):
            pending, errors, fatal = self._attempt(stream, entries, pending, results)
            if not pending:
                return [result for result in results if result is not None]
            if fatal:
                break
            log.debug(
                "PutRecords to %s: retrying %d of %d entries (attempt %d): %s",
                stream,
                len(pending),
                len(batch),
                attempt,
                dict(errors),
            )
        why = ", ".join(f"{count} x {code}" for code, count in errors.most_common())
        raise PartialDeliveryError(
            f"{len(pending)} of {len(batch)} records could not be written to Kinesis stream "
            f"{stream!r} ({why})",
            tuple(pending),
        )

    def _attempt(
        self,
        stream: str,
        entries: list[dict[str, Any]],
        pending: list[int],
        results: list[PutResult | None],
    ) -> tuple[list[int], Counter[str], bool]:
        """One PutRecords call for the ``pending`` entries: (still pending, why, give up now)."""
        try:
            response = self._client.put_records(
                StreamName=stream,
                Records=[entries[i] for i in pending],  # type: ignore[misc]
            )
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise UnknownStream(f"Kinesis stream {stream!r} does not exist") from exc
            if code not in RETRYABLE_CALL_ERRORS:
                raise DeliveryError(f"PutRecords to {stream!r} failed: {exc}") from exc
            return pending, Counter({code: len(pending)}), False
        except BotoCoreError as exc:
            return pending, Counter({type(exc).__name__: len(pending)}), False
        still: list[int] = []
        errors: Counter[str] = Counter()
        fatal = False
        for index, entry in zip(pending, response["Records"], strict=True):
            failure = entry.get("ErrorCode")
            if failure is None:
                results[index] = PutResult(
                    entry.get("ShardId", ""), entry.get("SequenceNumber", "")
                )
                continue
            still.append(index)
            errors[failure] += 1
            fatal = fatal or failure not in RETRYABLE_ENTRY_ERRORS
        return still, errors, fatal
