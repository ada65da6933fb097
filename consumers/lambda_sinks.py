"""Where the Lambda handler writes: a Kinesis stream or an SQS queue, reporting what failed.

A sink returns the positions it could not write, so the handler can name the first one to AWS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from streamjury.errors import ConfigError, DeliveryError, PartialDeliveryError
from streamjury.retry import RetryPolicy
from streamjury.settings import KinesisSettings
from streamjury.streams.base import OutRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from streamjury.streams.kinesis.put import RecordPutter

log = logging.getLogger(__name__)

TargetKind = Literal["kinesis", "sqs"]
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
SQS_KEY_ATTRIBUTE = "key"
SQS_RETRY = RetryPolicy(attempts=3, base_delay_s=0.2, max_delay_s=0.4, jitter="none")
"""Failed entries of a SendMessageBatch: two more tries, after 0.2 s and 0.4 s."""


@dataclass(frozen=True, slots=True)
class Target:
    """A destination written as ``kinesis:STREAM_NAME`` or ``sqs:QUEUE_URL``."""

    kind: TargetKind
    address: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


def parse_target(text: str) -> Target:
    """``kinesis:NAME`` or ``sqs:URL`` as a Target, or a ConfigError saying what is expected."""
    kind, sep, address = text.partition(":")
    if not sep or not address:
        raise ConfigError(f"target {text!r} is not kinesis:STREAM_NAME or sqs:QUEUE_URL")
    if kind == "kinesis":
        return Target("kinesis", address)
    if kind == "sqs":
        if not address.startswith(("https://", "http://")):
            raise ConfigError(f"target {text!r}: an SQS target is the queue URL, sqs:https://...")
        return Target("sqs", address)
    raise ConfigError(f"target {text!r}: unknown kind {kind!r}, expected kinesis or sqs")


class RecordSink(Protocol):
    """Writes records, retrying what it can, and says which ones it could not write."""

    target: Target

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        """Indices into ``records`` not durably written; empty when all were.

        Raises StreamError (DeliveryError...) when nothing could be attempted at all.
        """
        ...


class KinesisSink:
    """Writes to one stream with the shared PutRecords writer (which retries failed entries).

    When entries still fail after the writer's retries, exactly those and every later record
    (never attempted) are reported unwritten: Lambda resumes from the first of them.
    """

    def __init__(self, putter: RecordPutter, stream: str) -> None:
        self.target = Target("kinesis", stream)
        self._putter = putter
        self._stream = stream

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        try:
            self._putter.put(self._stream, records)
        except PartialDeliveryError as exc:
            log.error("writing to Kinesis stream %s failed: %s", self._stream, exc)
            return set(exc.unwritten)
        except DeliveryError as exc:  # the call itself failed: assume nothing was written
            log.error("writing to Kinesis stream %s failed: %s", self._stream, exc)
            return set(range(len(records)))
        return set()


class SqsSink:
    """Sends records as SQS messages (body = value, ``key`` attribute = key) in batches of 10.

    Failed entries are resent as ``policy`` allows; entries SQS rejects as the sender's fault
    (too big, bad characters) are not, since sending them again cannot help.
    """

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        *,
        policy: RetryPolicy = SQS_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = Target("sqs", queue_url)
        self._client = client
        self._queue_url = queue_url
        self._policy = policy
        self._sleep = sleep

    def put(self, records: Sequence[OutRecord]) -> set[int]:
        failed: set[int] = set()
        for chunk in _sqs_batches(records):
            failed |= self._put_batch(records, chunk)
        return failed

    def _put_batch(self, records: Sequence[OutRecord], indices: list[int]) -> set[int]:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = indices
        given_up: set[int] = set()
        for _ in self._policy.tries(sleep=self._sleep):
            entries: list[Any] = [
                {
                    "Id": str(index),
                    "MessageBody": records[index].value.decode("utf-8", errors="replace"),
                    "MessageAttributes": {
                        SQS_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": records[index].key}
                    },
                }
                for index in pending
            ]
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except ClientError as exc:
                log.warning("SendMessageBatch to %s failed: %s", self._queue_url, exc)
                continue
            except BotoCoreError as exc:
                raise DeliveryError(f"cannot reach SQS queue {self._queue_url}: {exc}") from exc
            retry: list[int] = []
            for failure in response.get("Failed", []):
                index = int(failure["Id"])
                if failure.get("SenderFault"):
                    log.error("SQS refused a message for good: %s", failure.get("Message"))
                    given_up.add(index)
                else:
                    retry.append(index)
            pending = sorted(retry)
            if not pending:
                break
        return given_up | set(pending)


def _sqs_batches(records: Sequence[OutRecord]) -> list[list[int]]:
    """Indices grouped into SendMessageBatch calls: at most 10 entries and 256 KiB each."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, record in enumerate(records):
        record_size = len(record.value) + len(record.key.encode()) + len(SQS_KEY_ATTRIBUTE) + 6
        if current and (len(current) == SQS_BATCH_ENTRIES or size + record_size > SQS_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += record_size
    if current:
        batches.append(current)
    return batches


def open_sink(target: str | Target, settings: KinesisSettings) -> RecordSink:
    """A sink for ``kinesis:NAME`` or ``sqs:URL``, with clients from the shared client builder."""
    from streamjury.streams.kinesis import clients as aws_clients

    parsed = parse_target(target) if isinstance(target, str) else target
    if parsed.kind == "kinesis":
        from streamjury.streams.kinesis.put import RecordPutter

        return KinesisSink(RecordPutter(aws_clients.kinesis_client(settings)), parsed.address)
    return SqsSink(aws_clients.client("sqs", settings), parsed.address)
