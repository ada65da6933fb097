"""Moving an alias in a location: read the model's aliases, change them, write them back only if
nobody else wrote in between. Shared by the store (promote, rollback) and training (first version).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from models.aliases import DEFAULT_ALIAS, AliasBook
from models.blobs import Blobs
from models.manifest import MANIFEST_FILE, Manifest
from streamjury.errors import ModelError

log = logging.getLogger(__name__)

ALIASES_FILE = "aliases.json"


@dataclass(frozen=True, slots=True)
class AliasChange:
    """What ``promote`` or ``rollback`` did."""

    name: str
    alias: str
    before: str | None
    after: str


def aliases_key(name: str) -> str:
    return f"{name}/{ALIASES_FILE}"


def read_aliases(blobs: Blobs, name: str) -> AliasBook:
    raw = blobs.read(aliases_key(name))
    return AliasBook.parse(raw, blobs.describe(aliases_key(name))) if raw else AliasBook()


def legacy_version(blobs: Blobs, name: str) -> str | None:
    """The version of the single-version layout's model of ``name``, if there is one."""
    raw = blobs.read(f"{name}/{MANIFEST_FILE}")
    if raw is None:
        return None
    try:
        return Manifest.model_validate_json(raw).version
    except ValueError as exc:
        raise ModelError(
            f"manifest {blobs.describe(f'{name}/{MANIFEST_FILE}')} is not valid"
        ) from exc


def move_alias(
    blobs: Blobs, name: str, alias: str, change: Callable[[AliasBook], AliasBook]
) -> AliasChange:
    """Apply ``change`` to ``name``'s aliases with a conditional write (AliasConflict if raced).

    ``production`` with no alias yet starts from the single-version layout's model, so that a
    first promotion can be rolled back to it.
    """
    key = aliases_key(name)
    raw, token = blobs.read_for_update(key)
    original = book = AliasBook.parse(raw, blobs.describe(key)) if raw else AliasBook()
    if book.target(alias) is None and alias == DEFAULT_ALIAS:
        legacy = legacy_version(blobs, name)
        if legacy is not None:
            book = book.moved(alias, legacy)
    before = book.target(alias)
    updated = change(book)
    if updated is not original:
        blobs.write_if(key, updated.to_bytes(), token)
    after = updated.target(alias)
    if after is None:
        raise ModelError(f"alias {alias!r} of model {name!r} names nothing")
    log.info("model %s: alias %s now names %s (was %s)", name, alias, after, before)
    return AliasChange(name=name, alias=alias, before=before, after=after)


def adopt_first(blobs: Blobs, name: str, version: str, alias: str = DEFAULT_ALIAS) -> bool:
    """Point ``alias`` at ``version`` only if it names nothing yet (a model new to the location)."""
    if read_aliases(blobs, name).target(alias) is not None:
        return False
    if alias == DEFAULT_ALIAS and legacy_version(blobs, name) is not None:
        return False
    move_alias(blobs, name, alias, lambda book: book.moved(alias, version))
    return True
