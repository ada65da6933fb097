"""The settings of a Kinesis event source mapping, shared by the local runner and ``deploy``.

One model, so what runs locally is exactly what gets deployed (and what ``template.yaml`` declares).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

StartingPosition = Literal["TRIM_HORIZON", "LATEST"]
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
UNLIMITED = -1
"""AWS's value for "no limit" in MaximumRetryAttempts and MaximumRecordAgeInSeconds."""
MIN_RECORD_AGE_S = 60
MAX_RECORD_AGE_S = 604_800


class MappingSettings(BaseModel):
    """How records are batched and retried; field names map 1:1 onto the AWS API's.

    The defaults differ from AWS's on purpose: AWS retries a failing batch until its records
    expire (up to a week, blocking the shard), whereas ours bisect, retry a few times and then
    hand the batch to the on-failure destination, so one bad batch costs minutes, not days.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(default=100, ge=1, le=10_000)
    batching_window_s: int = Field(default=1, ge=0, le=300)
    """MaximumBatchingWindowInSeconds: how long to gather records before invoking."""
    starting_position: StartingPosition = "TRIM_HORIZON"
    bisect_on_error: bool = True
    max_retries: int = Field(default=5, ge=UNLIMITED, le=10_000)
    """MaximumRetryAttempts; -1 retries until the records expire."""
    max_record_age_s: int = Field(default=3_600, ge=UNLIMITED, le=MAX_RECORD_AGE_S)
    """MaximumRecordAgeInSeconds; -1 never discards a record for its age."""
    report_batch_item_failures: bool = True

    @field_validator("max_record_age_s")
    @classmethod
    def _aws_age_range(cls, value: int) -> int:
        if value != UNLIMITED and value < MIN_RECORD_AGE_S:
            raise ValueError(
                f"must be -1 (unlimited) or between {MIN_RECORD_AGE_S} and {MAX_RECORD_AGE_S}"
            )
        return value

    @property
    def function_response_types(self) -> list[str]:
        return [REPORT_BATCH_ITEM_FAILURES] if self.report_batch_item_failures else []

    def to_aws(self) -> dict[str, Any]:
        """The CreateEventSourceMapping parameters these settings stand for.

        ``FunctionResponseTypes`` is always sent, even empty, so an update can switch it off.
        """
        return {
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window_s,
            "StartingPosition": self.starting_position,
            "BisectBatchOnFunctionError": self.bisect_on_error,
            "MaximumRetryAttempts": self.max_retries,
            "MaximumRecordAgeInSeconds": self.max_record_age_s,
            "FunctionResponseTypes": self.function_response_types,
        }
