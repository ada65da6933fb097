"""PutRecords batching and retries against kinesis-local, with faults injected around the real call.

The wrapper fails chosen entries without sending them, so a retry can be checked to re-send
exactly those entries, and the stream read back to show each record landed exactly once.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.errors import DeliveryError, PartialDeliveryError, UnknownStream
from streamjury.retry import RetryPolicy
from streamjury.streams.base import OutRecord
from streamjury.streams.kinesis import KinesisBackend
from streamjury.streams.kinesis.put import (
    MAX_BYTES_PER_CALL,
    MAX_RECORD_BYTES,
    RecordPutter,
    batches,
)

pytestmark = pytest.mark.kinesis

QUICK = RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.01)
THROTTLED = "ProvisionedThroughputExceededException"


class FaultyKinesis:
    """A real Kinesis client whose PutRecords fails the entries with chosen data values.

    Failing entries are answered with ``code`` and never reach the server, for the first
    ``times`` calls that carry them. Every call's entries (their data) are recorded.
    """

    def __init__(self, client: Any, failing: set[bytes], code: str = THROTTLED, times: int = 1):
        self._client = client
        self._failing = failing
        self._code = code
        self._left = {value: times for value in failing}
        self.calls: list[list[bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([entry["Data"] for entry in Records])
        fail = [self._left.get(entry["Data"], 0) > 0 for entry in Records]
        for entry, failed in zip(Records, fail, strict=True):
            if failed:
                self._left[entry["Data"]] -= 1
        passed = [entry for entry, failed in zip(Records, fail, strict=True) if not failed]
        real = iter(
            self._client.put_records(StreamName=StreamName, Records=passed)["Records"]
            if passed
            else []
        )
        answers = [
            {"ErrorCode": self._code, "ErrorMessage": "injected"} if failed else next(real)
            for failed in fail
        ]
        return {"FailedRecordCount": sum(fail), "Records": answers}


@pytest.fixture
def stream(backend: KinesisBackend) -> str:
    name = f"put-{uuid.uuid4().hex[:10]}"
    backend.ensure_streams([name])
    return name


def values_in(backend: KinesisBackend, stream: str) -> list[bytes]:
    return [
        record.value
        for partition in backend.partitions(stream)
        for record in backend.read_partition(stream, partition)
    ]


def numbered(count: int, size: int = 0) -> list[OutRecord]:
    return [OutRecord(f"key-{n % 7}", f"{n:06d}".encode().ljust(size, b".")) for n in range(count)]


# -- retries -----------------------------------------------------------------------------------


def test_only_the_failed_entries_are_sent_again_in_their_original_order(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(20)
    failing = {records[i].value for i in (3, 7, 15)}
    faulty = FaultyKinesis(kinesis_local.client(), failing)

    results = RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert faulty.calls == [[r.value for r in records], [records[i].value for i in (3, 7, 15)]]
    assert sorted(values_in(backend, stream)) == sorted(r.value for r in records)
    landed = {
        str(record.offset): record.value
        for partition in backend.partitions(stream)
        for record in backend.read_partition(stream, partition)
    }
    assert [landed[result.sequence_number] for result in results] == [r.value for r in records]


def test_internal_failures_are_retried_too(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(5)
    faulty = FaultyKinesis(kinesis_local.client(), {records[0].value}, "InternalFailure", times=2)

    RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert [len(call) for call in faulty.calls] == [5, 1, 1]
    assert sorted(values_in(backend, stream)) == sorted(r.value for r in records)


def test_an_entry_still_failing_after_the_budget_raises_delivery_error_naming_how_many_and_why(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(5)
    faulty = FaultyKinesis(kinesis_local.client(), {records[2].value}, times=100)

    with pytest.raises(DeliveryError, match=rf"1 of 5 records .*1 x {THROTTLED}"):
        RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert len(faulty.calls) == QUICK.attempts
    assert sorted(values_in(backend, stream)) == sorted(r.value for r in records if r != records[2])


def test_a_failure_names_exactly_the_unwritten_records_across_calls(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(700)  # two PutRecords calls: 500 + 200
    faulty = FaultyKinesis(kinesis_local.client(), {records[510].value}, times=100)

    with pytest.raises(PartialDeliveryError) as caught:
        RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert caught.value.unwritten == (510,)
    assert len(values_in(backend, stream)) == 699


def test_a_failure_in_an_earlier_call_leaves_later_calls_unwritten(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(600)
    faulty = FaultyKinesis(kinesis_local.client(), {records[3].value}, times=100)

    with pytest.raises(PartialDeliveryError) as caught:
        RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert caught.value.unwritten == (3, *range(500, 600))
    assert len(values_in(backend, stream)) == 499


def test_an_entry_error_that_retrying_cannot_fix_fails_at_once(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(3)
    faulty = FaultyKinesis(kinesis_local.client(), {records[1].value}, "KMS.AccessDeniedException")

    with pytest.raises(DeliveryError, match=r"KMS\.AccessDeniedException"):
        RecordPutter(faulty, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert len(faulty.calls) == 1


def test_retries_wait_with_exponential_backoff_and_jitter(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    policy = RetryPolicy(attempts=5, base_delay_s=0.01, max_delay_s=0.03)
    records = numbered(2)
    faulty = FaultyKinesis(kinesis_local.client(), {records[0].value}, times=4)
    waits: list[float] = []

    RecordPutter(faulty, policy, sleep=waits.append, rng=random.Random(7)).put(stream, records)  # type: ignore[arg-type]

    assert len(waits) == 4
    for retry, wait in enumerate(waits, start=1):
        assert 0 <= wait <= min(0.03, 0.01 * 2 ** (retry - 1))
    assert len(set(waits)) == 4


def test_a_stream_that_does_not_exist_is_unknown(kinesis_local: LocalKinesis) -> None:
    with pytest.raises(UnknownStream):
        RecordPutter(kinesis_local.client(), QUICK).put(f"missing-{uuid.uuid4().hex}", numbered(1))


# -- batching ----------------------------------------------------------------------------------


def test_more_than_500_records_go_in_calls_of_at_most_500(
    kinesis_local: LocalKinesis, backend: KinesisBackend, stream: str
) -> None:
    records = numbered(501)
    counting = FaultyKinesis(kinesis_local.client(), failing=set())

    RecordPutter(counting, QUICK).put(stream, records)  # type: ignore[arg-type]

    assert [len(call) for call in counting.calls] == [500, 1]
    assert sorted(values_in(backend, stream)) == sorted(r.value for r in records)


def test_a_call_fills_up_to_exactly_5_mib_counting_keys_and_data() -> None:
    """Checked without the server: kinesis-local does not enforce the limit, AWS does."""
    key = "k"
    data = MAX_BYTES_PER_CALL // 8 - len(key)
    exact = [OutRecord(key, b"x" * data) for _ in range(8)]
    one_byte_over = [*exact[:7], OutRecord(key, b"x" * (data + 1))]

    assert [len(batch) for batch in batches(exact)] == [8]
    assert [len(batch) for batch in batches(one_byte_over)] == [7, 1]
    assert [len(batch) for batch in batches(exact * 3)] == [8, 8, 8]


def test_records_kinesis_would_refuse_are_refused_before_any_call(
    kinesis_local: LocalKinesis,
) -> None:
    counting = FaultyKinesis(kinesis_local.client(), failing=set())
    putter = RecordPutter(counting, QUICK)  # type: ignore[arg-type]

    for bad in (
        OutRecord("", b"v"),
        OutRecord("k" * 257, b"v"),
        OutRecord("k", b"x" * MAX_RECORD_BYTES),
    ):
        with pytest.raises(DeliveryError):
            putter.put("any-stream", [OutRecord("ok", b"v"), bad])

    assert counting.calls == []
