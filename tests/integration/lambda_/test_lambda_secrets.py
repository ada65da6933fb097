"""A Lambda invocation whose writes fail logs what failed, and none of the function's secrets.

The handler runs in its own process as the Lambda runtime runs it (``AWS_LAMBDA_RUNTIME_API``
set: JSON log lines on stderr), with real credentials' shapes in its environment, verdicts
going to a kinesis-local stream that does not exist and dead letters to an SQS queue whose URL
carries a password, at an endpoint nothing listens on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from streamjury.devservers.kinesis import LocalKinesis
from tests.integration.ops.support import free_port

REPO = Path(__file__).resolve().parents[3]
EVENT = REPO / "tests" / "events" / "kinesis-uploads-with-poison.json"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN0123456789"
URL_PASSWORD = "sqs-Pa55word-5eed"
SECRETS = (AWS_SECRET, AWS_TOKEN, URL_PASSWORD)
INVOKE = """
import json, sys
from consumers.lambda_handler import handler
from streamjury.esm.context import LocalContext

event = json.load(open(sys.argv[1]))
context = LocalContext(
    function_name="streamjury-nsfw",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:streamjury-nsfw",
    timeout_s=120.0,
)
print("RESPONSE " + json.dumps(handler(event, context)))
"""


def test_a_failing_invocation_logs_what_failed_and_no_secret(
    models_dir: Path, kinesis_local: LocalKinesis
) -> None:
    closed_port = free_port()
    queue_url = f"http://sqs-user:{URL_PASSWORD}@127.0.0.1:{closed_port}/123456789012/dl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STREAMJURY_", "AWS_"))},
        "PYTHONPATH": str(REPO),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",  # what the runtime sets: JSON logs only
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_TOKEN,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{closed_port}",
        "AWS_MAX_ATTEMPTS": "1",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "STREAMJURY_CHECK": "nsfw",
        "STREAMJURY_MODELS": str(models_dir),
        "STREAMJURY_KINESIS_ENDPOINT_URL": kinesis_local.endpoint_url,
        "STREAMJURY_OUTPUT_STREAM": f"missing-{uuid.uuid4().hex[:8]}",
        "STREAMJURY_DEADLETTER_TARGET": f"sqs:{queue_url}",
    }

    result = subprocess.run(
        [sys.executable, "-c", INVOKE, str(EVENT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )

    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    errors = [line["message"] for line in lines if line["level"] == "ERROR"]
    stream = env["STREAMJURY_OUTPUT_STREAM"]
    assert any(f"Kinesis stream '{stream}' does not exist" in message for message in errors)
    masked_queue = f"http://sqs-user:**********@127.0.0.1:{closed_port}/123456789012/dl"
    assert any(masked_queue in message for message in errors), errors
    assert all(line["function_name"] == "streamjury-nsfw" for line in lines if "check" in line)
