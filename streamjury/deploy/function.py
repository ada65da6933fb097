"""Creates a Lambda function, or updates only the parts of it that differ from what is asked.

Compares configuration field by field and code by CodeSha256 (zip) or ImageUri (image), so a
repeated deploy makes no update call at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamjury.deploy.aws import aws_call, is_not_found
from streamjury.deploy.changes import Change
from streamjury.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

log = logging.getLogger(__name__)

RUNTIME = "python3.11"
ROLE_PROPAGATION_ATTEMPTS = 10
ROLE_PROPAGATION_DELAY_S = 3.0
WAIT = {"Delay": 2, "MaxAttempts": 150}
"""Lambda takes seconds to minutes to settle a create or update; wait up to five minutes."""


@dataclass(frozen=True)
class ZipCode:
    content: bytes
    sha256: str
    """Base64 sha256 of ``content``: what Lambda reports as CodeSha256."""


@dataclass(frozen=True)
class ImageCode:
    uri: str


@dataclass(frozen=True)
class FunctionSpec:
    """Everything ``deploy`` sets on a function; anything else on it is left as it is."""

    name: str
    role_arn: str
    code: ZipCode | ImageCode
    environment: Mapping[str, str]
    handler: str
    timeout_s: int = 60
    memory_mb: int = 1024
    layers: tuple[str, ...] = ()
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    tracing: bool = True
    """X-Ray active tracing (``TracingConfig.Mode``: Active, else PassThrough)."""

    @property
    def package_type(self) -> str:
        return "Image" if isinstance(self.code, ImageCode) else "Zip"

    def configuration(self) -> dict[str, Any]:
        """The UpdateFunctionConfiguration fields we manage, as the API names them."""
        config: dict[str, Any] = {
            "Role": self.role_arn,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "Description": self.description,
            "Environment": {"Variables": dict(self.environment)},
            "TracingConfig": {"Mode": "Active" if self.tracing else "PassThrough"},
        }
        if isinstance(self.code, ZipCode):
            config.update(Handler=self.handler, Runtime=RUNTIME, Layers=list(self.layers))
        return config


def ensure_function(client: LambdaClient, spec: FunctionSpec) -> Change:
    """Create the function, or update what differs; returns what was done."""
    resource = f"function {spec.name}"
    current = _get_function(client, spec.name)
    if current is None:
        _create(client, spec)
        return Change(resource, "created")
    configuration = current["Configuration"]
    if configuration.get("PackageType", "Zip") != spec.package_type:
        raise ConfigError(
            f"{resource} is a {configuration.get('PackageType', 'Zip')} function and cannot "
            f"become a {spec.package_type} one: delete it or choose another --function-name"
        )
    changed: list[str] = []
    if _code_differs(current, spec):
        _update_code(client, spec)
        changed.append("Code")
    config_changes = _config_changes(configuration, spec.configuration())
    if config_changes:
        aws_call(
            f"update {resource}",
            lambda: client.update_function_configuration(FunctionName=spec.name, **config_changes),
        )
        _wait(client, "function_updated_v2", spec.name)
        changed.extend(sorted(config_changes))
    return Change(resource, "updated", tuple(changed)) if changed else Change(resource, "unchanged")


def _get_function(client: LambdaClient, name: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        return client.get_function(FunctionName=name)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise ConfigError(f"cannot read function {name}: {exc}") from exc


def _create(client: LambdaClient, spec: FunctionSpec) -> None:
    code: dict[str, Any] = (
        {"ImageUri": spec.code.uri}
        if isinstance(spec.code, ImageCode)
        else {"ZipFile": spec.code.content}
    )
    params: dict[str, Any] = {
        "FunctionName": spec.name,
        "PackageType": spec.package_type,
        "Code": code,
        "Tags": dict(spec.tags),
        **spec.configuration(),
    }
    for attempt in range(ROLE_PROPAGATION_ATTEMPTS):
        try:
            aws_call(f"create function {spec.name}", lambda: client.create_function(**params))
            break
        except ConfigError as exc:  # a role created moments ago is not assumable everywhere yet
            if "cannot be assumed" not in str(exc) or attempt == ROLE_PROPAGATION_ATTEMPTS - 1:
                raise
            log.info("the role of %s is not assumable yet; trying again", spec.name)
            time.sleep(ROLE_PROPAGATION_DELAY_S)
    log.info("created function %s (%s)", spec.name, spec.package_type)
    _wait(client, "function_active_v2", spec.name)


def _code_differs(current: Any, spec: FunctionSpec) -> bool:
    if isinstance(spec.code, ImageCode):
        return bool(current.get("Code", {}).get("ImageUri") != spec.code.uri)
    return bool(current["Configuration"].get("CodeSha256") != spec.code.sha256)


def _update_code(client: LambdaClient, spec: FunctionSpec) -> None:
    params: dict[str, Any] = (
        {"ImageUri": spec.code.uri}
        if isinstance(spec.code, ImageCode)
        else {"ZipFile": spec.code.content}
    )
    aws_call(
        f"update the code of function {spec.name}",
        lambda: client.update_function_code(FunctionName=spec.name, **params),
    )
    log.info("updated the code of function %s", spec.name)
    _wait(client, "function_updated_v2", spec.name)


def _config_changes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` whose current value differs, normalised as the API returns them."""
    actual = {
        "Role": current.get("Role"),
        "Timeout": current.get("Timeout"),
        "MemorySize": current.get("MemorySize"),
        "Description": current.get("Description", ""),
        "Environment": {"Variables": current.get("Environment", {}).get("Variables", {})},
        "TracingConfig": {"Mode": (current.get("TracingConfig") or {}).get("Mode", "PassThrough")},
        "Handler": current.get("Handler"),
        "Runtime": current.get("Runtime"),
        "Layers": [layer["Arn"] for layer in current.get("Layers", [])],
    }
    return {key: value for key, value in wanted.items() if actual.get(key) != value}


def _wait(client: LambdaClient, waiter: str, name: str) -> None:
    aws_call(
        f"wait for function {name}",
        lambda: client.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=WAIT),  # type: ignore[call-overload]
    )
