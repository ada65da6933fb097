"""Creates the function's Kinesis event source mapping, or updates only the settings that differ.

The settings are ``MappingSettings``, the very model the local runner uses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from streamjury.deploy.aws import aws_call
from streamjury.deploy.changes import Change
from streamjury.esm.config import MappingSettings

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

log = logging.getLogger(__name__)

UPDATABLE = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "FunctionResponseTypes",
    "DestinationConfig",
)
"""What UpdateEventSourceMapping can change; StartingPosition is fixed at creation."""


def mapping_request(settings: MappingSettings, on_failure_arn: str | None) -> dict[str, Any]:
    """The mapping's parameters as CreateEventSourceMapping takes them (without the names).

    ``DestinationConfig`` is always present: an empty ``OnFailure`` removes a destination.
    """
    destination = {"Destination": on_failure_arn} if on_failure_arn else {}
    return {**settings.to_aws(), "DestinationConfig": {"OnFailure": destination}}


def ensure_mapping(
    client: LambdaClient,
    function_name: str,
    stream_arn: str,
    settings: MappingSettings,
    on_failure_arn: str | None = None,
) -> Change:
    """Create the mapping of ``stream_arn`` to ``function_name``, or update what differs."""
    wanted = mapping_request(settings, on_failure_arn)
    existing = aws_call(
        f"list the event source mappings of {function_name}",
        lambda: client.list_event_source_mappings(
            FunctionName=function_name, EventSourceArn=stream_arn
        )["EventSourceMappings"],
    )
    if not existing:
        params = dict(wanted)
        if not on_failure_arn:
            del params["DestinationConfig"]  # nothing to remove on a new mapping
        created = aws_call(
            f"map {stream_arn} to {function_name}",
            lambda: client.create_event_source_mapping(
                FunctionName=function_name, EventSourceArn=stream_arn, Enabled=True, **params
            ),
        )
        log.info("created event source mapping %s", created["UUID"])
        return Change(f"event source mapping {created['UUID']}", "created")
    current = existing[0]
    resource = f"event source mapping {current['UUID']}"
    if current.get("StartingPosition") not in (None, settings.starting_position):
        log.warning(
            "%s starts at %s, not %s: AWS cannot change a mapping's starting position; "
            "delete the mapping and deploy again to change it",
            resource,
            current.get("StartingPosition"),
            settings.starting_position,
        )
    changes = {key: wanted[key] for key in UPDATABLE if _normalised(key, current) != wanted[key]}
    if not changes:
        return Change(resource, "unchanged")
    aws_call(
        f"update {resource}",
        lambda: client.update_event_source_mapping(UUID=current["UUID"], **changes),
    )
    log.info("updated %s: %s", resource, ", ".join(sorted(changes)))
    return Change(resource, "updated", tuple(sorted(changes)))


def _normalised(key: str, current: Mapping[str, Any]) -> Any:
    """A mapping field as ``mapping_request`` writes it (AWS omits empty and default values)."""
    if key == "FunctionResponseTypes":
        return list(current.get(key) or [])
    if key == "DestinationConfig":
        destination = (current.get(key) or {}).get("OnFailure") or {}
        return (
            {"OnFailure": {"Destination": destination["Destination"]}}
            if destination.get("Destination")
            else {"OnFailure": {}}
        )
    return current.get(key)
