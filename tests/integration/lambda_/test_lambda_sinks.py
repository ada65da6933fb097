"""The handler's sinks against real APIs: dead letters to SQS (moto), verdicts to kinesis-local.

A sink reports what it could not write; these tests read back what it says it wrote.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from consumers.lambda_handler import LambdaAdapter, Outputs
from consumers.lambda_sinks import SQS_KEY_ATTRIBUTE, open_sink
from consumers.registry import get_check
from models.store import ModelStore
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer
from streamjury.schemas import DeadLetter
from streamjury.settings import KinesisSettings
from streamjury.streams.base import OutRecord
from tests.unit.lambda_.support import MemorySink, load_event

pytestmark = pytest.mark.usefixtures("aws_credentials")


@pytest.fixture
def queue_url(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server.endpoint_url)
    sqs = moto_server.client("sqs")
    url: str = sqs.create_queue(QueueName=f"deadletter-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url


def receive_all(moto_server: MotoServer, queue_url: str) -> list[tuple[str, str]]:
    """(key attribute, body) of every message in the queue."""
    sqs = moto_server.client("sqs")
    found: list[tuple[str, str]] = []
    while True:
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = page.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            key = message["MessageAttributes"][SQS_KEY_ATTRIBUTE]["StringValue"]
            found.append((key, message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_an_sqs_sink_sends_every_record_in_batches_of_ten(
    moto_server: MotoServer, queue_url: str
) -> None:
    sink = open_sink(f"sqs:{queue_url}", KinesisSettings())
    records = [OutRecord(f"key-{i}", json.dumps({"n": i}).encode()) for i in range(23)]

    failed = sink.put(records)

    assert failed == set()
    received = receive_all(moto_server, queue_url)
    assert sorted(received) == sorted((r.key, r.value.decode()) for r in records)


@pytest.mark.kinesis
def test_a_verdict_stream_that_does_not_exist_holds_the_whole_batch_back(
    kinesis_local: LocalKinesis, models_dir: Path
) -> None:
    settings = KinesisSettings(STREAMJURY_KINESIS_ENDPOINT_URL=kinesis_local.endpoint_url)
    spec = get_check("duration")
    adapter = LambdaAdapter(
        spec,
        spec.load_model(ModelStore(models_dir)),
        Outputs(
            verdicts=open_sink(f"kinesis:missing-{uuid.uuid4().hex[:8]}", settings),
            dead_letters=MemorySink(),
        ),
        stage="lambda:duration",
    )
    event = load_event("kinesis-rides")

    response = adapter.handle(event)

    first = event["Records"][0]["kinesis"]["sequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": first}]}


def test_poison_records_reach_an_sqs_dead_letter_queue_with_their_payload(
    moto_server: MotoServer, queue_url: str, models_dir: Path
) -> None:
    spec = get_check("nsfw")
    letters = open_sink(f"sqs:{queue_url}", KinesisSettings())
    adapter = LambdaAdapter(
        spec,
        spec.load_model(ModelStore(models_dir)),
        Outputs(verdicts=MemorySink(), dead_letters=letters),
        stage="lambda:nsfw",
    )
    event = load_event("kinesis-uploads-with-poison")

    response = adapter.handle(event)

    assert response == {"batchItemFailures": []}
    originals = {
        r["kinesis"]["partitionKey"]: base64.b64decode(r["kinesis"]["data"])
        for r in event["Records"]
    }
    received = receive_all(moto_server, queue_url)
    assert len(received) == 4
    for key, body in received:
        letter = DeadLetter.model_validate_json(body)
        assert letter.original == originals[key]
        assert letter.reason
