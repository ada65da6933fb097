"""The execution role a deployed check needs, and nothing more: its least-privilege policy.

``deploy lambda`` without ``--role`` creates (or updates) this role; ``template.yaml`` declares
the same statements, and the tests compare the two.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from consumers.lambda_sinks import parse_target
from models.store import S3_SCHEME
from streamjury.deploy.aws import aws_call, is_not_found
from streamjury.deploy.changes import Change

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

log = logging.getLogger(__name__)

POLICY_NAME = "streamjury-function"
READ_STREAM_ACTIONS = (
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:ListShards",
)
"""What Lambda's event source mapping does with the function's role to read a stream."""
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
"""X-Ray has no resource-level permissions: these two take ``*`` and nothing else does."""
ON_FAILURE_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "s3": "s3:PutObject"}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class RoleNeeds:
    """What the function touches; every statement of the policy comes from one of these."""

    function_name: str
    stream_arn: str
    output_stream: str
    deadletter_target: str
    on_failure_arn: str | None = None
    models: str = ""
    tracing: bool = True
    shadow_stream: str | None = None
    """Where a shadow model's verdicts go, when the function runs one."""

    @property
    def partition(self) -> str:
        return self.stream_arn.split(":")[1]

    @property
    def region(self) -> str:
        return self.stream_arn.split(":")[3]

    @property
    def account(self) -> str:
        return self.stream_arn.split(":")[4]

    def stream(self, name: str) -> str:
        return f"arn:{self.partition}:kinesis:{self.region}:{self.account}:stream/{name}"


def policy_document(needs: RoleNeeds) -> dict[str, Any]:
    """The inline policy: read the input stream, write the outputs, log, trace, read models."""
    writes: list[str] = [needs.stream(needs.output_stream)]
    if needs.shadow_stream is not None:
        writes.append(needs.stream(needs.shadow_stream))
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadInputStream",
            "Effect": "Allow",
            "Action": list(READ_STREAM_ACTIONS),
            "Resource": needs.stream_arn,
        }
    ]
    target = parse_target(needs.deadletter_target)
    if target.kind == "kinesis":
        writes.append(needs.stream(target.address))
    else:
        statements.append(
            {
                "Sid": "WriteDeadLetterQueue",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": _queue_arn(target.address, needs.partition),
            }
        )
    statements.append(
        {
            "Sid": "WriteVerdictsAndDeadLetters",
            "Effect": "Allow",
            "Action": "kinesis:PutRecords",
            "Resource": writes,
        }
    )
    if needs.on_failure_arn:
        service = needs.on_failure_arn.split(":")[2]
        statements.append(
            {
                "Sid": "OnFailureDestination",
                "Effect": "Allow",
                "Action": ON_FAILURE_ACTIONS[service],
                "Resource": needs.on_failure_arn,
            }
        )
    statements.append(
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": (
                f"arn:{needs.partition}:logs:{needs.region}:{needs.account}:"
                f"log-group:/aws/lambda/{needs.function_name}:*"
            ),
        }
    )
    if needs.tracing:
        statements.append(
            {"Sid": "Tracing", "Effect": "Allow", "Action": list(TRACING_ACTIONS), "Resource": "*"}
        )
    if needs.models.startswith(S3_SCHEME):
        bucket_and_prefix = needs.models.removeprefix(S3_SCHEME).rstrip("/")
        statements.append(
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:{needs.partition}:s3:::{bucket_and_prefix}/*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _queue_arn(url: str, partition: str) -> str:
    """``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`` as ``arn:...:sqs:REGION:ACCOUNT:NAME``."""
    host, _, path = url.split("://", 1)[1].partition("/")
    account, _, name = path.partition("/")
    region = host.split(".")[1] if host.startswith("sqs.") else host.split(".")[0]
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def ensure_role(client: IAMClient, name: str, policy: Mapping[str, Any]) -> tuple[str, Change]:
    """The role's ARN after creating it, or after putting its policy again if it differs."""
    from botocore.exceptions import ClientError

    resource = f"role {name}"
    try:
        role = client.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if not is_not_found(exc) and "NoSuchEntity" not in str(exc):
            raise
        role = None
    if role is None:
        created = aws_call(
            f"create {resource}",
            lambda: client.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                Description="streamjury check function: least privilege",
                Tags=[{"Key": "app", "Value": "streamjury"}],
            ),
        )["Role"]
        _put_policy(client, name, policy)
        aws_call(
            f"wait for {resource}",
            lambda: client.get_waiter("role_exists").wait(RoleName=name),
        )
        return created["Arn"], Change(resource, "created")
    current = _current_policy(client, name)
    if current == policy:
        return role["Arn"], Change(resource, "unchanged")
    _put_policy(client, name, policy)
    return role["Arn"], Change(resource, "updated", ("Policy",))


def _put_policy(client: IAMClient, name: str, policy: Mapping[str, Any]) -> None:
    aws_call(
        f"put the policy of role {name}",
        lambda: client.put_role_policy(
            RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy)
        ),
    )


def _current_policy(client: IAMClient, name: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        document = client.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
    except ClientError:
        return None
    if isinstance(document, str):
        from urllib.parse import unquote

        return json.loads(unquote(document))
    return document
