"""The CloudWatch alarms of a deployed check: a shard falling behind, and dead letters piling up.

Computed first (``alarm_requests``, so ``template.yaml`` is checked against them), then created or
updated only where they differ from what CloudWatch already has.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from consumers.lambda_metrics import DEAD_LETTERS
from streamjury.deploy.aws import aws_call
from streamjury.deploy.changes import Change

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

log = logging.getLogger(__name__)

LAMBDA_NAMESPACE = "AWS/Lambda"
ITERATOR_AGE_METRIC = "IteratorAge"
"""Lambda's own metric for stream sources: age of the last record of each batch (ms)."""


@dataclass(frozen=True)
class AlarmThresholds:
    """When an operator is woken: records waiting this long, or this many dead letters."""

    iterator_age_ms: int = 300_000
    """Five minutes behind the stream's tip, for five minutes in a row."""
    iterator_age_periods: int = 5
    dead_letters: int = 10
    """More than this many dead letters in five minutes."""
    actions: tuple[str, ...] = ()
    """SNS topic ARNs (or other alarm actions) notified on ALARM and on OK."""


def alarm_requests(
    function_name: str,
    check: str,
    service: str,
    namespace: str,
    thresholds: AlarmThresholds | None = None,
) -> list[dict[str, Any]]:
    """The two PutMetricAlarm requests of one function."""
    limits = thresholds or AlarmThresholds()
    actions = {"AlarmActions": list(limits.actions), "OKActions": list(limits.actions)}
    return [
        {
            "AlarmName": f"{function_name}-iterator-age",
            "AlarmDescription": (
                f"{function_name} is more than {limits.iterator_age_ms // 1000} s behind its "
                "Kinesis stream: a shard is stuck (retrying a batch) or the function is too slow"
            ),
            "Namespace": LAMBDA_NAMESPACE,
            "MetricName": ITERATOR_AGE_METRIC,
            "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": limits.iterator_age_periods,
            "Threshold": float(limits.iterator_age_ms),
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Unit": "Milliseconds",
            **actions,
        },
        {
            "AlarmName": f"{function_name}-dead-letters",
            "AlarmDescription": (
                f"{check}: more than {limits.dead_letters} records dead-lettered in 5 minutes; "
                "read the dead-letter target for the reasons"
            ),
            "Namespace": namespace,
            "MetricName": DEAD_LETTERS,
            "Dimensions": [
                {"Name": "service", "Value": service},
                {"Name": "check", "Value": check},
            ],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": float(limits.dead_letters),
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Unit": "Count",
            **actions,
        },
    ]


COMPARED = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Unit",
    "AlarmActions",
    "OKActions",
)


def ensure_alarms(client: CloudWatchClient, requests: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Create each alarm, or put it again only if a compared field differs."""
    names = [request["AlarmName"] for request in requests]
    current = {
        alarm["AlarmName"]: alarm
        for alarm in aws_call(
            "read the CloudWatch alarms",
            lambda: client.describe_alarms(AlarmNames=names)["MetricAlarms"],
        )
    }
    changes: list[Change] = []
    for request in requests:
        name = request["AlarmName"]
        existing = current.get(name)
        differing = (
            [key for key in COMPARED if _normalised(existing, key) != request.get(key)]
            if existing is not None
            else []
        )
        if existing is not None and not differing:
            changes.append(Change(f"alarm {name}", "unchanged"))
            continue
        aws_call(f"put alarm {name}", functools.partial(client.put_metric_alarm, **request))
        log.info("%s alarm %s", "updated" if existing else "created", name)
        changes.append(
            Change(f"alarm {name}", "updated", tuple(differing))
            if existing is not None
            else Change(f"alarm {name}", "created")
        )
    return changes


def _normalised(alarm: Mapping[str, Any], key: str) -> Any:
    value = alarm.get(key)
    if key in ("AlarmActions", "OKActions"):
        return list(value or [])
    if key == "Dimensions":
        return [{"Name": d["Name"], "Value": d["Value"]} for d in value or []]
    if key == "Threshold" and value is not None:
        return float(value)
    return value
