"""The Lambda handler, driven by saved AWS Kinesis events: verdicts, dead letters, partial failures.

Real trained models score the events; only the output streams are replaced by in-memory sinks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from consumers.lambda_handler import LambdaAdapter, Outputs, handler
from consumers.lambda_settings import ENV_CHECK, ENV_DRY_RUN, ENV_MODELS
from consumers.lambda_sinks import RecordSink
from consumers.registry import get_check
from models.store import ModelStore
from streamjury.errors import DeliveryError, InvalidEvent
from streamjury.schemas import DeadLetter, Verdict
from streamjury.streams.base import OutRecord
from tests.unit.lambda_.support import FailFromKey, MemorySink, load_event

pytestmark = pytest.mark.usefixtures("fresh_cold_start")

VALID_UPLOADS = ["upload-2024-0", "upload-2024-1", "upload-2024-3", "upload-2024-4"]
"""The partition keys of the four valid uploads in kinesis-uploads-with-poison.json."""


def records_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = event["Records"]
    return records


def sequence_of(event: dict[str, Any], key: str) -> str:
    """The sequence number of the record with partition key ``key`` in a saved event."""
    for record in records_of(event):
        if record["kinesis"]["partitionKey"] == key:
            return str(record["kinesis"]["sequenceNumber"])
    raise AssertionError(f"no record keyed {key} in the event")


def adapter(
    check: str, models_dir: Path, verdicts: RecordSink, letters: RecordSink
) -> LambdaAdapter:
    spec = get_check(check)
    model = spec.load_model(ModelStore(models_dir))
    return LambdaAdapter(spec, model, Outputs(verdicts, letters), stage=f"lambda:{check}")


def dry_run_env(monkeypatch: pytest.MonkeyPatch, check: str, models_dir: Path) -> None:
    monkeypatch.setenv(ENV_CHECK, check)
    monkeypatch.setenv(ENV_MODELS, str(models_dir))
    monkeypatch.setenv(ENV_DRY_RUN, "1")


def test_every_valid_ride_gets_one_verdict_traced_back_to_its_kinesis_record(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    dry_run_env(monkeypatch, "duration", models_dir)
    event = load_event("kinesis-rides")

    response = handler(event, None)

    assert response["batchItemFailures"] == []
    assert response["deadLetters"] == []
    verdicts = [Verdict.model_validate_json(json.dumps(v)) for v in response["verdicts"]]
    expected = [record["kinesis"] for record in records_of(event)]
    assert [v.event_id for v in verdicts] == [k["partitionKey"] for k in expected]
    for verdict, record, kinesis in zip(verdicts, records_of(event), expected, strict=True):
        assert verdict.check == "duration"
        assert verdict.value is not None
        assert verdict.value > 0
        assert verdict.source.stream == "rides"
        assert verdict.source.partition == record["eventID"].split(":")[0]
        assert verdict.source.offset == int(kinesis["sequenceNumber"])


def test_poison_records_are_dead_lettered_with_their_payload_and_a_reason(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    dry_run_env(monkeypatch, "nsfw", models_dir)
    event = load_event("kinesis-uploads-with-poison")

    response = handler(event, None)

    assert response["batchItemFailures"] == []
    assert [v["event_id"] for v in response["verdicts"]] == VALID_UPLOADS
    letters = [DeadLetter.model_validate_json(json.dumps(d)) for d in response["deadLetters"]]
    payloads = {
        int(r["kinesis"]["sequenceNumber"]): base64.b64decode(r["kinesis"]["data"])
        for r in records_of(event)
    }
    assert len(letters) == len(payloads) - len(VALID_UPLOADS)
    for letter in letters:
        assert letter.source is not None
        assert letter.original == payloads[letter.source.offset]
        assert letter.stage == "lambda:nsfw"
    reasons = {letter.original[:40]: letter.reason for letter in letters}
    assert any("json" in reason.lower() for reason in reasons.values())
    assert any("content_fingerprint" in reason for reason in reasons.values())
    assert any("event_type" in reason and "ride" in reason for reason in reasons.values())


def test_when_everything_is_written_no_record_is_reported(models_dir: Path) -> None:
    verdicts, letters = MemorySink("verdicts"), MemorySink("deadletter")
    event = load_event("kinesis-uploads-with-poison")

    response = adapter("violence", models_dir, verdicts, letters).handle(event)

    assert response == {"batchItemFailures": []}
    assert [record.key for record in verdicts.records] == VALID_UPLOADS
    assert [v["check"] for v in verdicts.json()] == ["violence"] * len(VALID_UPLOADS)
    poison_keys = [
        r["kinesis"]["partitionKey"]
        for r in records_of(event)
        if r["kinesis"]["partitionKey"] not in VALID_UPLOADS
    ]
    assert [record.key for record in letters.records] == poison_keys


def test_the_response_names_the_first_record_whose_verdict_was_not_written(
    models_dir: Path,
) -> None:
    verdicts, letters = MemorySink("verdicts"), MemorySink("deadletter")
    event = load_event("kinesis-rides")
    failing = FailFromKey(verdicts, key="ride-2024-3")

    response = adapter("tip", models_dir, failing, letters).handle(event)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": sequence_of(event, "ride-2024-3")}]
    }
    assert [record.key for record in verdicts.records] == [
        "ride-2024-0",
        "ride-2024-1",
        "ride-2024-2",
    ]


def test_an_unwritten_dead_letter_holds_the_batch_back_like_an_unwritten_verdict(
    models_dir: Path,
) -> None:
    event = load_event("kinesis-uploads-with-poison")
    letters = FailFromKey(MemorySink("deadletter"), key="poison-binary")

    response = adapter("nsfw", models_dir, MemorySink("verdicts"), letters).handle(event)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": sequence_of(event, "poison-binary")}]
    }


def test_with_failures_in_both_sinks_the_earliest_record_in_stream_order_is_named(
    models_dir: Path,
) -> None:
    event = load_event("kinesis-uploads-with-poison")
    verdicts = FailFromKey(MemorySink("verdicts"), key="upload-2024-3")
    letters = FailFromKey(MemorySink("deadletter"), key="ride-2024-0")

    response = adapter("nsfw", models_dir, verdicts, letters).handle(event)

    keys = [r["kinesis"]["partitionKey"] for r in records_of(event)]
    assert keys.index("ride-2024-0") < keys.index("upload-2024-3")
    assert response == {
        "batchItemFailures": [{"itemIdentifier": sequence_of(event, "ride-2024-0")}]
    }


class BrokenSink:
    """A sink whose stream is unreachable: every put raises."""

    def __init__(self) -> None:
        self.target = MemorySink("unreachable").target

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        raise DeliveryError("stream unreachable")


def test_a_sink_that_cannot_write_at_all_fails_from_its_first_record(models_dir: Path) -> None:
    event = load_event("kinesis-uploads-with-poison")

    response = adapter("copyright", models_dir, MemorySink(), BrokenSink()).handle(event)

    first_poison = next(
        r for r in records_of(event) if r["kinesis"]["partitionKey"] not in VALID_UPLOADS
    )
    assert response == {
        "batchItemFailures": [{"itemIdentifier": first_poison["kinesis"]["sequenceNumber"]}]
    }


def test_the_model_is_loaded_once_per_cold_start_not_per_invocation(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    from consumers.lambda_handler import COLD_START

    dry_run_env(monkeypatch, "duration", models_dir)
    loads: list[str] = []
    real_load = ModelStore.load

    def counting_load(self: ModelStore, name: str) -> object:
        loads.append(name)
        return real_load(self, name)

    monkeypatch.setattr(ModelStore, "load", counting_load)
    event = load_event("kinesis-rides")

    first = handler(event, None)
    second = handler(event, None)
    assert loads == ["duration"]
    assert [v["value"] for v in first["verdicts"]] == [v["value"] for v in second["verdicts"]]

    COLD_START.clear()  # a new execution environment loads again
    handler(event, None)
    assert loads == ["duration", "duration"]


def test_an_event_that_is_not_a_kinesis_event_fails_the_invocation(models_dir: Path) -> None:
    sqs_like = {"Records": [{"messageId": "1", "body": "{}", "eventSource": "aws:sqs"}]}

    with pytest.raises(InvalidEvent, match="kinesis"):
        adapter("duration", models_dir, MemorySink(), MemorySink()).handle(sqs_like)


def test_an_empty_batch_writes_nothing_and_succeeds(models_dir: Path) -> None:
    verdicts, letters = MemorySink(), MemorySink()

    response = adapter("duration", models_dir, verdicts, letters).handle({"Records": []})

    assert response == {"batchItemFailures": []}
    assert verdicts.records == letters.records == []


def test_a_record_whose_data_is_not_base64_is_dead_lettered_alone(models_dir: Path) -> None:
    event = load_event("kinesis-rides")
    broken = records_of(event)[2]
    broken["kinesis"]["data"] = "%%% not base64 %%%"
    verdicts, letters = MemorySink(), MemorySink()

    response = adapter("duration", models_dir, verdicts, letters).handle(event)

    assert response == {"batchItemFailures": []}
    assert len(verdicts.records) == len(records_of(event)) - 1
    [letter] = [DeadLetter.model_validate_json(record.value) for record in letters.records]
    assert "base64" in letter.reason
    assert letter.original == b"%%% not base64 %%%"
    assert letter.source is not None
    assert str(letter.source.offset) == broken["kinesis"]["sequenceNumber"]


def test_a_record_without_even_a_sequence_number_fails_the_invocation(models_dir: Path) -> None:
    event = load_event("kinesis-rides")
    del records_of(event)[0]["kinesis"]["sequenceNumber"]

    with pytest.raises(InvalidEvent, match="Records\\[0\\]"):
        adapter("duration", models_dir, MemorySink(), MemorySink()).handle(event)


class ShrinkingContext:
    """Lambda's context whose remaining time is scripted: one value per look."""

    function_name = "streamjury-duration"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: list[int]) -> None:
        self.remaining_ms = remaining_ms
        self.looks = 0

    def get_remaining_time_in_millis(self) -> int:
        value = self.remaining_ms[min(self.looks, len(self.remaining_ms) - 1)]
        self.looks += 1
        return value


class Observed:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def observe(self, metrics: Any) -> None:
        self.seen.append(metrics)


def test_near_the_deadline_the_rest_of_the_batch_is_handed_back_not_started(
    models_dir: Path,
) -> None:
    event = load_event("kinesis-rides")  # six rides
    verdicts, letters, observed = MemorySink(), MemorySink(), Observed()
    spec = get_check("duration")
    subject = LambdaAdapter(
        spec,
        spec.load_model(ModelStore(models_dir)),
        Outputs(verdicts, letters),
        stage="lambda:duration",
        observers=[observed],
        deadline_margin_ms=2_000,
        chunk_records=2,
    )
    context = ShrinkingContext([50_000, 1_500])  # before chunk 2: plenty; before chunk 3: not

    response = subject.handle(event, context)

    fourth = records_of(event)[4]["kinesis"]["sequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": fourth}]}
    assert [r.key for r in verdicts.records] == [
        Verdict.model_validate_json(r.value).event_id for r in verdicts.records
    ]
    assert len(verdicts.records) == 4  # the first two chunks, written before stopping
    [metrics] = observed.seen
    assert (metrics.reported_failures, metrics.deadline_stop) == (2, True)
    assert context.looks == 2


def test_with_time_to_spare_every_chunk_is_done(models_dir: Path) -> None:
    event = load_event("kinesis-rides")
    verdicts = MemorySink()
    spec = get_check("duration")
    subject = LambdaAdapter(
        spec,
        spec.load_model(ModelStore(models_dir)),
        Outputs(verdicts, MemorySink()),
        stage="lambda:duration",
        chunk_records=2,
    )

    response = subject.handle(event, ShrinkingContext([600_000]))

    assert response == {"batchItemFailures": []}
    assert len(verdicts.records) == len(records_of(event))
