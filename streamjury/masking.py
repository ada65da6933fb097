"""The one place that decides what counts as a secret and how it is shown: as a mask, never in clear.

Settings dumps (``config show``, ``BackendSettings.masked``) and librdkafka config dicts in logs
all go through it; to treat a new key or type as secret, extend ``is_secret_key`` or ``SECRET_TYPES``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Collection, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "**********"
"""How pydantic prints a SecretStr in JSON mode; used for every secret we show."""
SECRET_TYPES: tuple[type, ...] = (SecretStr, SecretBytes)
"""Settings fields of these types are secrets."""
SECRET_CONFIG_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password"})
"""librdkafka config keys whose values are secrets."""
SECRET_KEY_WORDS = ("password", "secret", "token", "credential", "private", "key.pem")
"""A config key containing one of these (``sasl.oauthbearer.client.secret``, ``ssl.key.pem``,
the private key itself) is a secret too, whoever invented it: better masked than leaked."""


URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'\"]*:)(?P<pw>[^\s/@'\"]+)@")
"""The password of ``scheme://user:password@host`` (an MLflow or endpoint URL with credentials)."""


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL in it masked."""
    return URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)


def is_secret_key(key: str) -> bool:
    """Whether the value of config key ``key`` (librdkafka style, dotted) is a secret."""
    lowered = key.lower()
    return key in SECRET_CONFIG_KEYS or any(word in lowered for word in SECRET_KEY_WORDS)


def mask_config(config: Mapping[str, Any], *, omit: Collection[str] = ()) -> dict[str, Any]:
    """``config`` with every secret value (not None) masked and the ``omit`` keys left out."""
    return {
        key: MASK if value is not None and is_secret_key(key) else _masked_url(value)
        for key, value in config.items()
        if key not in omit
    }


def mask_settings(settings: BaseModel) -> dict[str, Any]:
    """``settings.model_dump(mode="json")`` with every secret field, however nested, masked.

    A secret that is None stays None (it is unset, which is safe and useful to show); the
    password of a URL with credentials is masked, the rest of the URL shown.
    """
    values: dict[str, Any] = settings.model_dump(mode="json")
    _mask_fields(type(settings), values)
    return values


def _mask_fields(model_type: type[BaseModel], values: dict[str, Any]) -> None:
    for name, field in model_type.model_fields.items():
        if values.get(name) is None:
            continue
        members = _members(field.annotation)
        if any(member in SECRET_TYPES for member in members):
            values[name] = MASK
            continue
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                if isinstance(values[name], dict):
                    _mask_fields(member, values[name])
                break
        else:
            if isinstance(values[name], dict):  # a free-form mapping (``kafka.extra``)
                values[name] = mask_config(values[name])
            else:
                values[name] = _masked_url(values[name])


def _masked_url(value: Any) -> Any:
    return mask_url_passwords(value) if isinstance(value, str) else value


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)
