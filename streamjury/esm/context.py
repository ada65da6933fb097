"""A stand-in for the ``context`` object Lambda passes a handler, for in-process invocations.

Has the attributes and the one method handlers commonly use; the deadline is the function timeout.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocalContext:
    """Like ``awslambdaric``'s LambdaContext: names, ARN, memory, request id, time left."""

    function_name: str
    invoked_function_arn: str
    timeout_s: float = 60.0
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        remaining = self.timeout_s - (time.monotonic() - self.started)
        return max(0, int(remaining * 1000))
