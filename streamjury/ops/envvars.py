"""Which environment variables a pydantic-settings model reads, derived from the model itself.

``config show`` uses it to say where each value came from; the compose tests use it to prove
every variable the deployment sets is one a service actually reads.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, AliasPath, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One variable: its name (upper case), the dotted field it sets, and whether it is secret."""

    name: str
    path: str
    secret: bool


def env_vars(settings_type: type[BaseSettings]) -> list[EnvVar]:
    """Every variable ``settings_type`` reads, nested settings models included, in field order.

    Follows pydantic-settings' rules: ``env_prefix + field name``, unless the field has a
    validation alias, which is used as is (each choice of an ``AliasChoices``). A nested
    settings model built by its default factory reads its own prefix.
    """
    return list(_walk(settings_type, ""))


def env_names(settings_type: type[BaseSettings]) -> dict[str, str]:
    """Variable name -> dotted field path."""
    return {var.name: var.path for var in env_vars(settings_type)}


def _walk(settings_type: type[BaseSettings], parent: str) -> list[EnvVar]:
    config = settings_type.model_config
    prefix = str(config.get("env_prefix") or "")
    prefix_aliases = config.get("env_prefix_target") in ("alias", "all")
    found: list[EnvVar] = []
    for name, field in settings_type.model_fields.items():
        path = f"{parent}{name}"
        nested = _settings_model(field.annotation)
        if nested is not None:
            found.extend(_walk(nested, f"{path}."))
            continue
        secret = _is_secret(field.annotation)
        for alias in _aliases(field):
            env = f"{prefix}{alias}" if prefix_aliases else alias
            found.append(EnvVar(env.upper(), path, secret))
        if not _aliases(field):
            found.append(EnvVar(f"{prefix}{name}".upper(), path, secret))
    return found


def _aliases(field: FieldInfo) -> list[str]:
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [_first(choice) for choice in alias.choices]
    if isinstance(alias, AliasPath):
        return [_first(alias)]
    return []


def _first(choice: str | AliasPath) -> str:
    return choice if isinstance(choice, str) else str(choice.path[0])


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _settings_model(annotation: Any) -> type[BaseSettings] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseSettings):
            return member
    return None


def _is_secret(annotation: Any) -> bool:
    return any(member in (SecretStr, SecretBytes) for member in _members(annotation))
