"""A checker for CloudWatch Embedded Metric Format documents, written from AWS's specification.

Independent of Powertools (which builds the documents under test): it says what CloudWatch would
refuse or silently ignore, as a list of problems.
"""

from __future__ import annotations

import numbers
from typing import Any

UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100


def emf_problems(document: Any) -> list[str]:
    """Everything in ``document`` that breaks the EMF specification; empty when valid."""
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    metadata = document.get("_aws")
    if not isinstance(metadata, dict):
        return ["no _aws metadata object"]
    problems: list[str] = []
    timestamp = metadata.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        problems.append("_aws.Timestamp is not a non-negative integer (ms since the epoch)")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics is not a non-empty array"]
    for position, directive in enumerate(directives):
        problems.extend(f"directive {position}: {p}" for p in _directive(directive, document))
    return problems


def _directive(directive: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(directive, dict):
        return ["not an object"]
    problems: list[str] = []
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
        problems.append("Namespace is not a string of 1 to 1024 characters")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list):
        problems.append("Dimensions is not an array of dimension sets")
        dimension_sets = []
    for dimension_set in dimension_sets:
        if not isinstance(dimension_set, list) or not all(
            isinstance(d, str) for d in dimension_set
        ):
            problems.append(f"dimension set {dimension_set!r} is not an array of strings")
            continue
        if len(dimension_set) > MAX_DIMENSIONS_PER_SET:
            problems.append(f"dimension set {dimension_set} has over 30 dimensions")
        for name in dimension_set:
            if not isinstance(root.get(name), str):
                problems.append(f"dimension {name!r} has no string member at the root")
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= MAX_METRICS_PER_DIRECTIVE:
        return [*problems, "Metrics is not an array of 1 to 100 metric definitions"]
    for definition in metrics:
        problems.extend(_metric(definition, root))
    return problems


def _metric(definition: Any, root: dict[str, Any]) -> list[str]:
    if not isinstance(definition, dict) or not isinstance(definition.get("Name"), str):
        return [f"metric definition {definition!r} has no Name"]
    name = definition["Name"]
    problems: list[str] = []
    if not 1 <= len(name) <= 1024:
        problems.append(f"metric name {name!r} is not 1 to 1024 characters")
    unit = definition.get("Unit", "None")
    if unit not in UNITS:
        problems.append(f"metric {name!r} has unit {unit!r}, not a CloudWatch unit")
    if definition.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"metric {name!r} has a StorageResolution other than 1 or 60")
    value = root.get(name)
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES_PER_METRIC:
        problems.append(f"metric {name!r} has no value or over 100 values")
    if not all(_is_number(v) for v in values):
        problems.append(f"metric {name!r} has a value that is not a number: {value!r}")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
