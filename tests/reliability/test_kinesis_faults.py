"""The fault proxy itself, against the real kinesis-local: what it says failed was not written,
what it says was written was, so a chaos run through it proves the retries and not the proxy."""

from __future__ import annotations

import time
import uuid

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.settings import KinesisSettings
from streamjury.streams.base import OutRecord
from streamjury.streams.kinesis.clients import kinesis_client
from streamjury.streams.kinesis.put import RecordPutter
from tests.reliability.kinesis_faults import (
    GET_RECORDS,
    PUT_RECORDS,
    FaultPlan,
    FaultRates,
    KinesisFaultProxy,
)

pytestmark = [pytest.mark.kinesis]


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_records_put_through_failing_entries_land_exactly_once(kinesis_local: LocalKinesis) -> None:
    rates = FaultRates(put_refused=0.3, put_partial=0.6, entry_failed=0.3, storm_every_s=None)
    plan = FaultPlan(rates, seed=5, clock=time.monotonic)
    direct = kinesis_local.client()
    stream = f"proxy-{uuid.uuid4().hex[:8]}"
    direct.create_stream(StreamName=stream, ShardCount=1)
    direct.get_waiter("stream_exists").wait(StreamName=stream)
    records = [OutRecord(f"k{n % 7}", f"record {n}".encode()) for n in range(400)]
    try:
        with KinesisFaultProxy(kinesis_local.endpoint_url, plan) as proxy:
            settings = KinesisSettings(endpoint_url=proxy.endpoint_url, region=kinesis_local.region)
            putter = RecordPutter(kinesis_client(settings))
            for start in range(0, len(records), 40):
                putter.put(stream, records[start : start + 40])
        shard = direct.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        iterator = direct.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        written = direct.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
    finally:
        direct.delete_stream(StreamName=stream)

    assert sorted(r["Data"] for r in written) == sorted(r.value for r in records)
    assert plan.injected["PutRecords entries failed"] > 0
    assert plan.injected["PutRecords refused"] > 0


def test_every_kind_of_fault_is_met_by_its_sure_call_even_when_chance_never_draws_it() -> None:
    never = FaultRates(put_refused=0.0, put_partial=0.0, get_throttled=0.0, storm_every_s=None)
    plan = FaultPlan(never, seed=1, clock=time.monotonic)

    puts = [plan.refuse(PUT_RECORDS) for _ in range(12)]
    gets = [plan.refuse(GET_RECORDS) for _ in range(12)]
    entries = [plan.failing_entries(4) for _ in range(12)]

    sure = never.sure_by_call - 1
    assert [n for n, refused in enumerate(puts) if refused] == [sure]
    assert [n for n, refused in enumerate(gets) if refused] == [sure]
    assert [n for n, failing in enumerate(entries) if failing] == [sure]
    assert plan.injected == {
        "PutRecords refused": 1,
        "GetRecords refused": 1,
        "PutRecords partially failed": 1,
        "PutRecords entries failed": 1,
    }
