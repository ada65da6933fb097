"""Reads outside the consumer's poll (restores, a shard's last record) ride out throttling.

A decision service restoring its joins during a throttling spell longer than botocore's own
retries once exited instead of waiting (the process-fault suite's Kinesis run caught it). The
retry logic is exercised here against a stub client so no real throttling has to be arranged; the
reliability suite meets the same spells for real through its fault proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from streamjury.errors import StreamError
from streamjury.retry import RetryPolicy
from streamjury.streams.kinesis import shards
from streamjury.streams.kinesis.shards import Position, ShardInfo, last_sequence, read_to_tip

SHARD = ShardInfo("shardId-000000000000", (), 0, False)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "GetRecords")


class ThrottledThenServing:
    """Refuses the first ``refusals`` GetRecords calls with ``code``, then serves two records."""

    def __init__(self, refusals: int, code: str = "ProvisionedThroughputExceededException"):
        self.refusals = refusals
        self.code = code
        self.get_records_calls = 0

    def get_shard_iterator(self, **_: Any) -> dict[str, str]:
        return {"ShardIterator": "iterator-1"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.get_records_calls += 1
        if self.get_records_calls <= self.refusals:
            raise client_error(self.code)
        arrived = datetime(2026, 12, 5, tzinfo=UTC)
        records = [
            {
                "SequenceNumber": str(n),
                "PartitionKey": f"k{n}",
                "Data": b"v",
                "ApproximateArrivalTimestamp": arrived,
            }
            for n in (11, 12)
        ]
        return {"Records": records, "NextShardIterator": "iterator-2", "MillisBehindLatest": 0}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy's attempts, without its waits."""
    monkeypatch.setattr(
        shards, "THROTTLED_READ_RETRY", RetryPolicy(attempts=4, base_delay_s=0.0, max_delay_s=0.0)
    )


def test_a_read_throttled_for_a_while_still_returns_every_record() -> None:
    client = ThrottledThenServing(refusals=3)

    records = list(read_to_tip(client, "verdicts", SHARD, Position.trim_horizon()))  # type: ignore[arg-type]

    assert [record.offset for record in records] == [11, 12]
    assert client.get_records_calls == 4


def test_the_last_record_is_found_through_throttling() -> None:
    client = ThrottledThenServing(refusals=2, code="LimitExceededException")

    assert last_sequence(client, "verdicts", SHARD) == 12  # type: ignore[arg-type]


def test_throttling_that_outlasts_the_policy_is_an_error_naming_the_stream() -> None:
    client = ThrottledThenServing(refusals=4)

    with pytest.raises(StreamError, match="reading Kinesis stream 'verdicts' failed"):
        list(read_to_tip(client, "verdicts", SHARD, Position.trim_horizon()))  # type: ignore[arg-type]
    assert client.get_records_calls == 4


def test_other_errors_are_not_retried() -> None:
    client = ThrottledThenServing(refusals=1, code="AccessDeniedException")

    with pytest.raises(StreamError, match="AccessDeniedException"):
        list(read_to_tip(client, "verdicts", SHARD, Position.trim_horizon()))  # type: ignore[arg-type]
    assert client.get_records_calls == 1
