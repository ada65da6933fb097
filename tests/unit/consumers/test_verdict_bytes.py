"""Verdict bytes written from a batch's columns: the model's own bytes, or none at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from consumers.batch import process_batch
from consumers.check import CheckSpec
from consumers.outcomes import BatchResult, RecordOutcome
from streamjury.schemas import Verdict
from tests.unit.consumers.doubles import MinutesPerMileModel, RecordFactory, RideFactory


def test_a_batch_on_the_fast_path_carries_each_verdicts_own_bytes(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    model.name = 'odd "name" 100%s %d %% é'  # constants go into a %-template: none may format
    records = [
        replace(make_record(make_ride(event_id=f"r{i}"), offset=i), partition=f'p"{i % 3}')
        for i in range(12)
    ]

    result = process_batch(spec, model, records, stage="s")

    assert all(outcome.encoded is not None for outcome in result.outcomes)
    for outcome in result.outcomes:
        assert outcome.verdict is not None
        assert outcome.encoded == outcome.verdict.to_bytes()
    written = [record.value for record in result.output_records().verdicts]
    assert written == [verdict.to_bytes() for verdict in result.verdicts]
    assert Verdict.model_validate_json(written[5]).model_name == model.name


def test_a_batch_too_small_for_the_fast_path_is_serialised_verdict_by_verdict(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    records = [make_record(make_ride(event_id=f"r{i}"), offset=i) for i in range(3)]

    result = process_batch(spec, model, records, stage="s")

    assert [outcome.encoded for outcome in result.outcomes] == [None, None, None]
    written = [record.value for record in result.output_records().verdicts]
    assert written == [verdict.to_bytes() for verdict in result.verdicts]


class UnbuildableRows:
    """Rows whose verdicts must never be built: writing and counting may not ask for one."""

    def __init__(self, verdict: Verdict) -> None:
        self._verdict = verdict

    def verdict(self, index: int) -> Verdict:
        raise AssertionError("a verdict model was built to write or count it")

    def event_id(self, index: int) -> str:
        return self._verdict.event_id

    def event_occurred_at(self, index: int) -> datetime:
        return self._verdict.event_occurred_at


def test_output_records_write_an_outcomes_bytes_when_it_has_them(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    record = make_record(make_ride(event_id="r0"))
    (verdict,) = process_batch(spec, model, [record], stage="s").verdicts
    carried = BatchResult(
        [RecordOutcome.deferred(record, b"as written", UnbuildableRows(verdict), 0)]
    )
    plain = BatchResult([RecordOutcome(record, verdict=verdict)])

    assert [r.value for r in carried.output_records().verdicts] == [b"as written"]
    assert [r.value for r in plain.output_records().verdicts] == [verdict.to_bytes()]
    assert [r.key for r in carried.output_records().verdicts] == ["r0"]
    (counted,) = carried.verdict_outcomes()
    assert counted.event_occurred_at == verdict.event_occurred_at
