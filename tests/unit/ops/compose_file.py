"""Reads docker-compose.yml the way Compose does (anchors, merge keys, ``${VAR:-default}``).

No Docker engine is needed: the tests check the file against the code it runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str]) -> Any:
    """Substitute ``${VAR}`` / ``${VAR:-default}`` in every string, as Compose does."""
    if isinstance(value, str):
        return VARIABLE.sub(
            lambda m: environ.get(m["name"]) or (m["default"] if m["default"] is not None else ""),
            value,
        )
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, environ) for key, item in value.items()}
    return value


def load_compose(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose model, interpolated with ``environ`` (nothing set: every default)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return dict(interpolate(raw, environ or {}))


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict of strings (Compose accepts a list or a mapping)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}
