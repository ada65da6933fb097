"""Named pointers at model versions (``production``, ``candidate``, any name), with their history.

One small JSON document per model; moving an alias is a pure function here, written atomically
(and only if nobody else wrote in between) by the store.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from streamjury.errors import ConfigError, ModelError
from streamjury.schemas import utc_now

DEFAULT_ALIAS = "production"
HISTORY_LIMIT = 20
"""Previous versions kept per alias, newest last: how far ``rollback`` can go."""
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""A version is also a folder name: no slashes, no leading dot, so never a path outside."""


class AliasConflict(ModelError):
    """Someone else moved an alias of this model since it was read: read again and retry."""


class Alias(BaseModel):
    """Where one alias points now, and where it pointed before (oldest first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    history: list[str] = Field(default_factory=list)
    updated_at: AwareDatetime


class AliasBook(BaseModel):
    """Every alias of one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: dict[str, Alias] = Field(default_factory=dict)

    def target(self, alias: str) -> str | None:
        entry = self.aliases.get(alias)
        return entry.version if entry is not None else None

    def pointing_at(self, version: str) -> list[str]:
        """The aliases naming ``version``, sorted."""
        return sorted(name for name, entry in self.aliases.items() if entry.version == version)

    def moved(self, alias: str, version: str, now: datetime | None = None) -> AliasBook:
        """A book where ``alias`` points at ``version``; the old target joins its history."""
        check_alias(alias)
        now = now or utc_now()
        entry = self.aliases.get(alias)
        history: list[str] = []
        if entry is not None:
            if entry.version == version:
                return self
            history = [*entry.history, entry.version][-HISTORY_LIMIT:]
        updated = Alias(version=version, history=history, updated_at=now)
        return AliasBook(aliases={**self.aliases, alias: updated})

    def rolled_back(self, alias: str, now: datetime | None = None) -> AliasBook:
        """A book where ``alias`` points at its previous version again."""
        entry = self.aliases.get(alias)
        if entry is None:
            raise ModelError(f"there is no alias {alias!r} to roll back")
        if not entry.history:
            raise ModelError(
                f"alias {alias!r} has no earlier version to roll back to (it is {entry.version})"
            )
        previous = Alias(
            version=entry.history[-1], history=entry.history[:-1], updated_at=now or utc_now()
        )
        return AliasBook(aliases={**self.aliases, alias: previous})

    def to_bytes(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes, where: str) -> AliasBook:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ModelError(f"aliases {where} are not valid: {exc.errors()[0]['msg']}") from exc


def check_alias(alias: str) -> str:
    if not ALIAS_PATTERN.match(alias):
        raise ConfigError(
            f"alias {alias!r} is not valid: lowercase letters, digits, '-' and '_', "
            "starting with a letter"
        )
    return alias


def check_version(version: str) -> str:
    if not VERSION_PATTERN.match(version):
        raise ConfigError(f"{version!r} is not a model version (letters, digits, '.', '-', '_')")
    return version
