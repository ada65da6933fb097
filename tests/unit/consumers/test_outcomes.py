"""A batch's outcomes as records to publish: verdicts by event id, dead letters by one key rule."""

from __future__ import annotations

from consumers.batch import process_batch
from consumers.check import CheckSpec
from consumers.outcomes import dead_letter_key
from streamjury.schemas import DeadLetter, Verdict
from streamjury.streams.base import Record
from tests.unit.consumers.doubles import MinutesPerMileModel, RecordFactory, RideFactory


def test_a_dead_letter_keeps_its_input_key() -> None:
    record = Record("rides", "3", 17, "ride-9", b"{}", 0)

    assert dead_letter_key(record) == "ride-9"


def test_a_keyless_input_dead_letters_under_its_position() -> None:
    record = Record("rides", "3", 17, "", b"{}", 0)

    assert dead_letter_key(record) == "rides/3@17"


def test_output_records_pair_each_output_with_its_input_in_order(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    records = [
        make_record(make_ride(event_id="r0"), offset=0, key="a"),
        make_record(b"not json", offset=1, key=""),
        make_record(make_ride(event_id="r2"), offset=2, key="c"),
        make_record(b"{}", offset=3, key="d"),
    ]
    result = process_batch(spec, model, records, stage="s")

    out = result.output_records()

    assert [r.key for r in out.verdicts] == ["r0", "r2"]
    assert out.verdict_inputs == [0, 2]
    assert [Verdict.model_validate_json(r.value).event_id for r in out.verdicts] == ["r0", "r2"]
    assert [r.key for r in out.dead_letters] == ["rides/0@1", "d"]
    assert out.dead_letter_inputs == [1, 3]
    originals = [DeadLetter.model_validate_json(r.value).original for r in out.dead_letters]
    assert originals == [b"not json", b"{}"]


def test_verdict_outcomes_give_the_verdicts_event_times_in_order(
    spec: CheckSpec, model: MinutesPerMileModel, make_ride: RideFactory, make_record: RecordFactory
) -> None:
    records = [
        make_record(make_ride(event_id=f"r{i}"), offset=i) if i != 4 else make_record(b"{}")
        for i in range(12)
    ]
    result = process_batch(spec, model, records, stage="s")

    stamps = result.verdict_outcomes()

    assert len(stamps) == 11
    assert [s.event_occurred_at for s in stamps] == [v.event_occurred_at for v in result.verdicts]
    assert stamps[-1].event_occurred_at == result.verdicts[-1].event_occurred_at
