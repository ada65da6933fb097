"""Lambda's retry rules as the local runner applies them: bisect, retries, partial batches, age.

Each test scripts a handler's behaviour and checks what was invoked, checkpointed and discarded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.lambda_events import KinesisEvent
from streamjury.esm.config import MappingSettings
from streamjury.esm.event import ShardRecord, StreamIdentity
from streamjury.esm.invoker import (
    MAX_SYNC_PAYLOAD_BYTES,
    PAYLOAD_TOO_LARGE,
    TIMED_OUT,
    BatchInvoker,
    InvokerConfig,
)

SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/rides"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:streamjury-test"
NOW = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
POISON = b"poison"


def make_records(payloads: list[bytes], arrival: datetime = NOW) -> list[ShardRecord]:
    return [
        ShardRecord(SHARD, str(4_960_000_000 + 10 * i), f"k{i}", data, arrival)
        for i, data in enumerate(payloads)
    ]


class Collected:
    """An on-failure destination that keeps what it is sent."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send(self, document: dict[str, Any]) -> None:
        self.documents.append(document)


class ScriptedHandler:
    """Records each batch it sees (as payload lists) and answers as ``respond`` says."""

    def __init__(self, respond: Callable[[list[bytes], list[str], int], Any]) -> None:
        self.respond = respond
        self.batches: list[list[bytes]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        parsed = KinesisEvent.model_validate(event)  # every event must be a valid Kinesis event
        payloads = [r.kinesis.data for r in parsed.Records]
        sequences = [r.sequence_number for r in parsed.Records]
        self.batches.append(payloads)
        return self.respond(payloads, sequences, len(self.batches))


def invoker(
    handler: Any,
    destination: Collected,
    clock: datetime = NOW,
    *,
    max_payload_bytes: int = MAX_SYNC_PAYLOAD_BYTES,
    timeout_s: float = 60.0,
    **settings: Any,
) -> BatchInvoker:
    config = InvokerConfig(
        function_name="streamjury-test",
        function_arn=FUNCTION_ARN,
        origin=StreamIdentity(STREAM_ARN, "us-east-1", "arn:aws:iam::123456789012:role/test"),
        retry_backoff_s=0.0,
        max_payload_bytes=max_payload_bytes,
        timeout_s=timeout_s,
    )
    return BatchInvoker(
        handler,
        MappingSettings(**settings),
        destination,
        config,
        clock=lambda: clock,
        sleep=lambda s: None,
    )


def raise_on_poison(payloads: list[bytes], sequences: list[str], call: int) -> Any:
    if POISON in payloads:
        raise ValueError("poison in batch")
    return {"batchItemFailures": []}


def test_a_successful_batch_is_invoked_once_and_checkpointed_at_its_end() -> None:
    records = make_records([b"a", b"b", b"c"])
    handler, destination = ScriptedHandler(raise_on_poison), Collected()
    checkpoints: list[ShardRecord] = []

    settled = invoker(handler, destination).settle(records, checkpoints.append)

    assert settled
    assert handler.batches == [[b"a", b"b", b"c"]]
    assert checkpoints == [records[-1]]
    assert destination.documents == []


def test_bisection_isolates_the_poison_record_and_only_it_is_discarded() -> None:
    payloads = [b"r0", b"r1", b"r2", b"r3", b"r4", POISON, b"r6", b"r7"]
    records = make_records(payloads)
    handler, destination = ScriptedHandler(raise_on_poison), Collected()
    checkpoints: list[ShardRecord] = []

    invoker(handler, destination, bisect_on_error=True, max_retries=2).settle(
        records, checkpoints.append
    )

    sizes = [len(batch) for batch in handler.batches]
    assert sizes[:4] == [8, 4, 4, 2]  # whole, left half ok, right half fails, and so on down
    succeeded = [p for batch in handler.batches if POISON not in batch for p in batch]
    assert sorted(succeeded) == sorted(p for p in payloads if p != POISON)
    assert handler.batches.count([POISON]) == 3  # alone: the first try and two retries
    [document] = destination.documents
    info = document["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == records[5].sequence_number
    assert info["batchSize"] == 1
    assert info["streamArn"] == STREAM_ARN
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["approximateInvokeCount"] == 3
    assert document["requestContext"]["functionArn"] == FUNCTION_ARN
    assert document["responseContext"]["functionError"] == "Unhandled"
    positions = [record.position for record in checkpoints]
    assert positions == sorted(positions)
    assert checkpoints[-1] == records[-1]


def test_without_bisection_the_whole_batch_is_retried_then_discarded() -> None:
    records = make_records([b"a", POISON, b"c"])
    handler, destination = ScriptedHandler(raise_on_poison), Collected()
    checkpoints: list[ShardRecord] = []

    invoker(handler, destination, bisect_on_error=False, max_retries=1).settle(
        records, checkpoints.append
    )

    assert [len(batch) for batch in handler.batches] == [3, 3]
    [document] = destination.documents
    assert document["KinesisBatchInfo"]["batchSize"] == 3
    assert document["KinesisBatchInfo"]["startSequenceNumber"] == records[0].sequence_number
    assert document["KinesisBatchInfo"]["endSequenceNumber"] == records[2].sequence_number
    assert checkpoints == [records[-1]]


def test_a_partial_failure_resumes_from_the_reported_record_without_repeating_earlier_ones() -> (
    None
):
    records = make_records([b"a", b"b", b"c", b"d", b"e"])

    def fail_c_once(payloads: list[bytes], sequences: list[str], call: int) -> Any:
        if call == 1:
            return {"batchItemFailures": [{"itemIdentifier": sequences[payloads.index(b"c")]}]}
        return {"batchItemFailures": []}

    handler, destination = ScriptedHandler(fail_c_once), Collected()
    checkpoints: list[ShardRecord] = []

    invoker(handler, destination).settle(records, checkpoints.append)

    assert handler.batches == [[b"a", b"b", b"c", b"d", b"e"], [b"c", b"d", b"e"]]
    assert checkpoints == [records[1], records[4]]
    assert destination.documents == []


def test_with_several_failures_reported_lambda_resumes_from_the_lowest() -> None:
    records = make_records([b"a", b"b", b"c", b"d"])

    def report_d_then_b(payloads: list[bytes], sequences: list[str], call: int) -> Any:
        if call == 1:
            return {
                "batchItemFailures": [{"itemIdentifier": s} for s in (sequences[3], sequences[1])]
            }
        return None  # a null response means success too

    handler = ScriptedHandler(report_d_then_b)

    invoker(handler, Collected()).settle(records, lambda record: None)

    assert handler.batches[1] == [b"b", b"c", b"d"]


def test_a_record_that_keeps_failing_partially_is_discarded_with_the_rest_of_its_batch() -> None:
    records = make_records([b"a", b"b", b"c"])

    def always_b(payloads: list[bytes], sequences: list[str], call: int) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": sequences[payloads.index(b"b")]}]}

    handler, destination = ScriptedHandler(always_b), Collected()
    checkpoints: list[ShardRecord] = []

    invoker(handler, destination, max_retries=2).settle(records, checkpoints.append)

    assert handler.batches == [[b"a", b"b", b"c"], [b"b", b"c"], [b"b", b"c"]]
    [document] = destination.documents
    assert document["KinesisBatchInfo"]["startSequenceNumber"] == records[1].sequence_number
    assert document["KinesisBatchInfo"]["batchSize"] == 2
    assert "functionError" not in document["responseContext"]
    assert checkpoints == [records[0], records[2]]


@pytest.mark.parametrize(
    "bad_item",
    [{"itemIdentifier": ""}, {"itemIdentifier": None}, {"id": "1"}, {"itemIdentifier": "42"}],
)
def test_an_invalid_partial_response_fails_the_whole_batch(bad_item: dict[str, Any]) -> None:
    records = make_records([b"a", b"b"])

    def invalid_once(payloads: list[bytes], sequences: list[str], call: int) -> Any:
        return {"batchItemFailures": [bad_item]} if call == 1 else {}

    handler = ScriptedHandler(invalid_once)

    invoker(handler, Collected(), bisect_on_error=False).settle(records, lambda record: None)

    assert handler.batches == [[b"a", b"b"], [b"a", b"b"]]


def test_without_report_batch_item_failures_the_response_is_ignored() -> None:
    records = make_records([b"a", b"b"])

    def report_a(payloads: list[bytes], sequences: list[str], call: int) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": sequences[0]}]}

    handler = ScriptedHandler(report_a)
    checkpoints: list[ShardRecord] = []

    invoker(handler, Collected(), report_batch_item_failures=False).settle(
        records, checkpoints.append
    )

    assert len(handler.batches) == 1
    assert checkpoints == [records[-1]]


def test_records_older_than_the_maximum_age_are_discarded_without_an_invocation() -> None:
    old = make_records([b"old0", b"old1"], arrival=NOW - timedelta(seconds=600))
    fresh = [
        ShardRecord(SHARD, str(4_970_000_000 + i), f"f{i}", b"fresh", NOW - timedelta(seconds=5))
        for i in range(2)
    ]
    handler, destination = ScriptedHandler(raise_on_poison), Collected()
    checkpoints: list[ShardRecord] = []

    invoker(handler, destination, max_record_age_s=60).settle(old + fresh, checkpoints.append)

    assert handler.batches == [[b"fresh", b"fresh"]]
    [document] = destination.documents
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in document
    assert document["KinesisBatchInfo"]["batchSize"] == 2
    assert checkpoints == [old[-1], fresh[-1]]


def test_a_stop_request_leaves_the_unsettled_rest_for_the_next_run() -> None:
    records = make_records([b"a", POISON])
    handler = ScriptedHandler(raise_on_poison)
    checkpoints: list[ShardRecord] = []
    calls = iter([False, True])

    settled = invoker(handler, Collected(), bisect_on_error=False, max_retries=5).settle(
        records, checkpoints.append, stop_requested=lambda: next(calls)
    )

    assert not settled
    assert len(handler.batches) == 1
    assert checkpoints == []


class Sizes:
    """A handler that remembers the byte size of every event it is sent."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.counts: list[int] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.sizes.append(len(json.dumps(event)))
        self.counts.append(len(event["Records"]))
        return {"batchItemFailures": []}


def test_no_invocation_exceeds_the_6_mb_synchronous_payload_cap() -> None:
    records = make_records([bytes([i]) * 700_000 for i in range(12)])  # 8.4 MB, ~11 MB base64
    handler, destination = Sizes(), Collected()
    checkpoints: list[ShardRecord] = []

    subject = invoker(handler, destination)
    settled = subject.settle(records, checkpoints.append)

    assert settled
    assert max(handler.sizes) <= MAX_SYNC_PAYLOAD_BYTES
    assert sum(handler.counts) == 12  # every record sent once, in order, none skipped
    assert handler.counts == [6, 6]
    assert checkpoints == [records[5], records[11]]
    assert subject.payload_splits == 1
    assert destination.documents == []


def test_a_lone_record_over_the_cap_is_never_invoked_and_is_discarded_after_the_retries() -> None:
    records = make_records([b"small", b"x" * 2_000, b"after"])
    handler, destination = ScriptedHandler(raise_on_poison), Collected()
    checkpoints: list[ShardRecord] = []

    subject = invoker(handler, destination, max_payload_bytes=2_000, max_retries=2)
    subject.settle(records, checkpoints.append)

    assert handler.batches == [[b"small"], [b"after"]]
    [document] = destination.documents
    assert document["KinesisBatchInfo"]["startSequenceNumber"] == records[1].sequence_number
    assert document["KinesisBatchInfo"]["batchSize"] == 1
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["approximateInvokeCount"] == 3
    refused = [i for i in subject.invocations if i.error and PAYLOAD_TOO_LARGE in i.error]
    assert len(refused) == 3
    assert checkpoints[-1] == records[-1]


def test_a_function_that_overruns_its_timeout_failed_even_if_it_answered_success() -> None:
    calls: list[int] = []

    def slow_first_time(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            time.sleep(0.3)
        return {"batchItemFailures": []}

    records = make_records([b"a", b"b"])
    destination = Collected()
    checkpoints: list[ShardRecord] = []

    subject = invoker(
        slow_first_time, destination, timeout_s=0.1, bisect_on_error=False, max_retries=3
    )
    subject.settle(records, checkpoints.append)

    assert calls == [2, 2]  # the timed-out invocation is retried as a whole
    assert subject.timeouts == 1
    assert subject.invocations[0].result == "error"
    assert subject.invocations[0].error is not None
    assert subject.invocations[0].error.startswith(TIMED_OUT)
    assert checkpoints == [records[-1]]
    assert destination.documents == []
