"""PutRecords refuses an undeliverable record before its first call, so nothing is half-written."""

from __future__ import annotations

from typing import Any

import pytest

from streamjury.errors import DeliveryError
from streamjury.streams.base import OutRecord
from streamjury.streams.kinesis.put import MAX_RECORD_BYTES, RecordPutter


class CountingClient:
    """Stands in for the Kinesis client: these tests are about what is never sent."""

    def __init__(self) -> None:
        self.calls = 0

    def put_records(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        return {"Records": [{"SequenceNumber": "1", "ShardId": "s"} for _ in request["Records"]]}


def test_an_oversized_record_late_in_the_input_is_refused_before_any_call() -> None:
    client = CountingClient()
    small = [OutRecord(f"k{n}", b"x" * 100) for n in range(600)]  # two PutRecords calls' worth
    oversized = OutRecord("big", b"x" * MAX_RECORD_BYTES)

    with pytest.raises(DeliveryError, match=r"big|1048576"):
        RecordPutter(client).put("s", [*small, oversized])  # type: ignore[arg-type]

    assert client.calls == 0
