"""Hostile records through the real consumer core and the decision service's parser, in process.

Every check dead-letters every hostile record of its stream with a reason and never raises;
generated records (hypothesis) hold the same property, with one outcome per record in order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.batch import process_batch
from consumers.check import CheckModel
from consumers.registry import CHECKS
from models.store import ModelStore
from streamjury.errors import InvalidEvent
from streamjury.schemas import DeadLetter, RideEvent, UploadEvent, Verdict, parse_model
from streamjury.streams.base import Record
from tests.reliability.hostile import hostile_records

NAMES = sorted(CHECKS)


@pytest.fixture(scope="module")
def models(model_store: ModelStore) -> dict[str, CheckModel]:
    return {name: CHECKS[name].load_model(model_store) for name in NAMES}


def as_records(stream: str, payloads: list[bytes], keys: list[str] | None = None) -> list[Record]:
    return [
        Record(stream, "0", offset, (keys or [f"k{offset}"] * len(payloads))[offset], payload, 0)
        for offset, payload in enumerate(payloads)
    ]


def assert_every_record_dead_lettered(name: str, model: CheckModel, records: list[Record]) -> None:
    result = process_batch(CHECKS[name], model, records, stage=f"consumer:{name}")
    assert [o.record for o in result.outcomes] == records
    for outcome in result.outcomes:
        letter = outcome.dead_letter
        assert letter is not None, f"{name} accepted {outcome.record.value[:120]!r}"
        assert letter.reason
        assert letter.stage == f"consumer:{name}"
        assert letter.original == outcome.record.value
        assert not letter.original_truncated
        assert DeadLetter.model_validate_json(letter.to_bytes()) == letter


@pytest.mark.parametrize("name", NAMES)
def test_every_fixed_hostile_record_is_dead_lettered_by_every_check_of_its_stream(
    name: str, models: dict[str, CheckModel], a_ride: RideEvent, an_upload: UploadEvent
) -> None:
    spec = CHECKS[name]
    corpus = [h for h in hostile_records(a_ride, an_upload) if h.stream == spec.stream]
    assert len(corpus) >= 20
    records = as_records(spec.stream, [h.payload for h in corpus], [h.key for h in corpus])

    assert_every_record_dead_lettered(name, models[name], records)


def test_the_reasons_say_what_is_wrong(
    models: dict[str, CheckModel], a_ride: RideEvent, an_upload: UploadEvent
) -> None:
    corpus = {h.name: h for h in hostile_records(a_ride, an_upload) if h.stream == "rides"}
    records = as_records("rides", [h.payload for h in corpus.values()])
    result = process_batch(CHECKS["duration"], models["duration"], records, stage="consumer:d")
    reasons = {
        name: outcome.dead_letter.reason
        for name, outcome in zip(corpus, result.outcomes, strict=True)
        if outcome.dead_letter is not None
    }

    assert "schema_version" in reasons["schema_version 1.0"]
    assert "schema_version" in reasons["schema_version missing"]
    assert "occurred_at" in reasons["event time in year 1"]
    assert "byte limit" in reasons["900 KB record"]
    assert "event_type" in reasons["an upload on rides"]
    assert "surge_multiplier" in reasons["unknown field"]


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def mutate(event: RideEvent | UploadEvent, field: str, value: Any) -> bytes:
    fields = json.loads(event.to_bytes())
    fields[field] = value
    return json.dumps(fields).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=8))
def test_arbitrary_bytes_never_break_a_check(
    payloads: list[bytes], models: dict[str, CheckModel]
) -> None:
    for name in ("duration", "nsfw"):
        records = as_records(CHECKS[name].stream, payloads)
        result = process_batch(CHECKS[name], models[name], records, stage=f"consumer:{name}")
        assert [o.record for o in result.outcomes] == records
        for outcome in result.outcomes:
            assert (outcome.verdict is None) != (outcome.dead_letter is None)
            if outcome.dead_letter is not None:
                assert outcome.dead_letter.reason


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=JSON_VALUES)
def test_a_real_event_with_one_field_replaced_gives_one_valid_outcome(
    data: st.DataObject,
    value: Any,
    models: dict[str, CheckModel],
    a_ride: RideEvent,
    an_upload: UploadEvent,
) -> None:
    name = data.draw(st.sampled_from(NAMES))
    event = a_ride if CHECKS[name].event_type == "ride" else an_upload
    field = data.draw(st.sampled_from(sorted(json.loads(event.to_bytes()))))
    record = as_records(CHECKS[name].stream, [mutate(event, field, value)])

    (outcome,) = process_batch(CHECKS[name], models[name], record, stage="s").outcomes

    if outcome.verdict is not None:
        assert outcome.verdict.event_id == (value if field == "event_id" else event.event_id)
        Verdict.model_validate_json(outcome.verdict.to_bytes())
    else:
        assert outcome.dead_letter is not None
        assert outcome.dead_letter.reason


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_the_decision_service_parser_refuses_garbage_with_a_reason(payload: bytes) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_model(Verdict, payload)
    assert refused.value.reason
