"""The Lambda image, built and invoked the way Lambda invokes it: through the Runtime API.

AWS's Runtime Interface Emulator fronts the image's runtime interface client; a saved Kinesis
event is POSTed to it and the function writes its verdicts to kinesis-local on the host. The
container runs read-only with a /tmp tmpfs and an unprivileged user, as Lambda's sandbox does.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamjury.devservers.kinesis import DUMMY_CREDENTIALS, LocalKinesis
from streamjury.schemas import Verdict
from tests.containers.emulator import INVOKE_PATH
from tests.containers.podman import ROOT, Container, start

pytestmark = [pytest.mark.kinesis, pytest.mark.slow]

EVENT = ROOT / "tests" / "events" / "kinesis-rides.json"
WAIT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def invoke(port: int, event: dict[str, Any]) -> tuple[int, Any, float]:
    """POST one event to the emulator's invocation endpoint: status, JSON body, seconds."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{INVOKE_PATH}",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - started


def wait_for_port(port: int, container: Container) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not container.running():
            pytest.fail(f"the emulator exited:\n{container.logs()[-3000:]}")
        assert time.monotonic() < deadline, "the emulator never listened"
        time.sleep(0.2)


def read_stream(kinesis: LocalKinesis, stream: str) -> list[tuple[str, bytes]]:
    client = kinesis.client()
    found: list[tuple[str, bytes]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        page = client.get_records(ShardIterator=iterator, Limit=1000)
        found += [(r["PartitionKey"], r["Data"]) for r in page["Records"]]
    return found


def create_stream(kinesis: LocalKinesis, name: str) -> None:
    client = kinesis.client()
    client.create_stream(StreamName=name, ShardCount=1)
    client.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def test_the_lambda_image_answers_a_kinesis_event_with_a_partial_batch_response(
    lambda_image: str,
    lambda_emulator: Path,
    kinesis_local: LocalKinesis,
    containers: list[Container],
    container_logs: Path,
) -> None:
    verdicts = f"verdicts-{uuid.uuid4().hex[:8]}"
    dead_letters = f"deadletter-{uuid.uuid4().hex[:8]}"
    create_stream(kinesis_local, dead_letters)  # verdicts: only after the first invocation
    invoke_port, runtime_port = free_port(), free_port()
    env = {
        "STREAMJURY_CHECK": "duration",
        "STREAMJURY_OUTPUT_STREAM": verdicts,
        "STREAMJURY_DEADLETTER_TARGET": f"kinesis:{dead_letters}",
        "STREAMJURY_KINESIS_ENDPOINT_URL": kinesis_local.endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": kinesis_local.region,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    }
    emulator = "/opt/rie/aws-lambda-rie"
    container = start(
        lambda_image,
        f"sj-lambda-{uuid.uuid4().hex[:8]}",
        [
            f"--runtime-interface-emulator-address=127.0.0.1:{invoke_port}",
            f"--runtime-api-address=127.0.0.1:{runtime_port}",
            "python3",
            "-m",
            "awslambdaric",
            "consumers.lambda_handler.handler",
        ],
        env=env,
        extra=[
            "--read-only",
            "--tmpfs",
            "/tmp",  # Lambda's only writable path
            "--volume",
            f"{lambda_emulator.parent}:/opt/rie:ro",
            "--entrypoint",
            emulator,
        ],
    )
    containers.append(container)
    wait_for_port(invoke_port, container)
    event = json.loads(EVENT.read_text(encoding="utf-8"))
    records = event["Records"]

    # The verdict stream does not exist yet: nothing can be written, so the response names the
    # first record and Lambda would retry the whole batch from there.
    status, response, cold_s = invoke(invoke_port, event)
    assert status == 200, response
    first = records[0]["kinesis"]["sequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": first}]}

    create_stream(kinesis_local, verdicts)
    status, response, warm_s = invoke(invoke_port, event)
    assert status == 200, response
    assert response == {"batchItemFailures": []}

    written = read_stream(kinesis_local, verdicts)
    ride_ids = [
        json.loads(base64.b64decode(record["kinesis"]["data"]))["event_id"] for record in records
    ]
    assert sorted(key for key, _ in written) == sorted(ride_ids)
    for key, data in written:
        verdict = Verdict.model_validate_json(data)
        assert (verdict.event_id, verdict.check) == (key, "duration")
    assert read_stream(kinesis_local, dead_letters) == []

    assert container.exec("id", "-u").strip() == "10001"
    figures = {
        "cold_invoke_s": round(cold_s, 2),
        "warm_invoke_s": round(warm_s, 2),
    }
    with (container_logs / "lambda-invocations.json").open("w", encoding="utf-8") as sink:
        json.dump(figures, sink)
    print(f"lambda {json.dumps(figures)}")
