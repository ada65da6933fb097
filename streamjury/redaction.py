"""Secret values never leave the process in clear: every text that does is redacted here first.

``masking`` hides secrets where we know their place (a settings field, a config key). Errors,
log lines, tracebacks and HTTP bodies carry text made elsewhere (pydantic, librdkafka, boto3,
our own messages quoting a value), so the process remembers the secret *values* it was given,
from its environment and from every settings object it loads, and ``redact`` replaces them,
plus the password of any ``scheme://user:password@host`` URL, by the mask. The output
boundaries (the logging handlers, the CLI's error line, ``/readyz`` and ``/metrics``) call it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from streamjury.masking import MASK, URL_PASSWORD, is_secret_key, mask_url_passwords

MIN_SECRET_CHARS = 4
"""Shorter values are not remembered: masking every "1" or "abc" would wreck the output, and
no real password, key or token is that short."""
NOT_SECRETS = frozenset(
    {"true", "false", "none", "null", "yes", "test", "testing", "dummy", "fake", "localstack"}
)
"""Never taken for secrets: booleans, and the public dummy credentials of emulators (moto,
kinesis-local and LocalStack accept ``test``), which would otherwise mask every "latest"."""
JSON_SECRET_ENTRY = re.compile(r'"(?P<key>[^"]+)"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')
"""A ``"key": "value"`` pair, read even from JSON too broken to parse (a typo in an env var)."""


class SecretRegistry:
    """The secret values this process knows; thread-safe, only ever grows."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def remember(self, values: Iterable[str]) -> None:
        """Add ``values`` (too short or boolean-looking ones are ignored, see MIN_SECRET_CHARS)."""
        fresh = {
            value
            for value in values
            if len(value) >= MIN_SECRET_CHARS and value.lower() not in NOT_SECRETS
        }
        with self._lock:
            if fresh <= self._values:
                return
            self._values = self._values | fresh
            longest_first = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in longest_first))

    def redact(self, text: str) -> str:
        """``text`` with every known secret and every URL password replaced by the mask."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return mask_url_passwords(text)

    def forget_all(self) -> None:
        """For tests only: start from nothing again."""
        with self._lock:
            self._values = frozenset()
            self._pattern = None


SECRETS = SecretRegistry()
"""The process's one registry, like its one logging configuration."""


def redact(text: str) -> str:
    """``text`` safe to print, log or serve: no secret this process knows, no URL password."""
    return SECRETS.redact(text)


def remember_environ(environ: Mapping[str, str] | None = None) -> None:
    """Remember the secrets of the environment (``os.environ`` by default); see ``environ_secrets``."""
    SECRETS.remember(environ_secrets(os.environ if environ is None else environ))


def remember_settings(settings: BaseModel) -> None:
    """Remember the secrets of a loaded settings object; see ``settings_secrets``."""
    SECRETS.remember(settings_secrets(settings))


def environ_secrets(environ: Mapping[str, str]) -> Iterator[str]:
    """Values of secret-named variables (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
    ``STREAMJURY_KAFKA_SASL_PASSWORD``...), secret-keyed entries of JSON values
    (``STREAMJURY_KAFKA_EXTRA``, parsed or not) and passwords of URLs in any value."""
    for name, value in environ.items():
        if is_secret_key(name):
            yield value
        yield from text_secrets(value)


def text_secrets(text: str) -> Iterator[str]:
    """Secrets written inside one string: URL passwords and secret-keyed JSON entries."""
    for match in URL_PASSWORD.finditer(text):
        yield match.group("pw")
    if '"' in text:
        for match in JSON_SECRET_ENTRY.finditer(text):
            if is_secret_key(match.group("key")):
                yield match.group("value")
                yield _json_unescaped(match.group("value"))


def settings_secrets(value: Any, key: str = "") -> Iterator[str]:
    """Every secret inside a settings object, however nested: SecretStr and SecretBytes fields,
    values under secret keys (``kafka.extra``'s ``sasl.password``), URL passwords in strings."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode(errors="replace")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from settings_secrets(getattr(value, name), name)
    elif isinstance(value, Mapping):
        for inner_key, inner in value.items():
            yield from settings_secrets(inner, str(inner_key))
    elif isinstance(value, list | tuple | set | frozenset):
        for inner in value:
            yield from settings_secrets(inner, key)
    elif isinstance(value, str):
        if key and is_secret_key(key):
            yield value
        yield from text_secrets(value)


def _json_unescaped(raw: str) -> str:
    try:
        decoded = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return decoded if isinstance(decoded, str) else raw
