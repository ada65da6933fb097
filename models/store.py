"""Finds trained artifacts (a local folder or ``s3://bucket/prefix``) and loads only verified ones.

Artifacts are pickles: loading one runs code. So the bytes are hashed first, and only the very
bytes whose sha256 matches the manifest are ever unpickled. This catches a corrupted or swapped
artifact; whoever can rewrite the manifest too must be trusted, so guard the location itself.

A location holds, per model, versions under ``<name>/versions/<version>/`` and aliases naming
them in ``<name>/aliases.json``; the older single-version layout (``<name>/manifest.json`` beside
its artifact) still works and is what ``production`` means when no alias says otherwise.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.aliases import (
    DEFAULT_ALIAS,
    VERSION_PATTERN,
    AliasBook,
    check_alias,
    check_version,
)
from models.aliasing import ALIASES_FILE, AliasChange, adopt_first, move_alias, read_aliases
from models.blobs import S3_SCHEME, Blobs, LocalBlobs, S3Blobs
from models.manifest import MANIFEST_FILE, SKLEARN_VERSION, VERSIONS_FOLDER, Manifest
from models.mlflow_blobs import MlflowBlobs, is_mlflow
from streamjury.errors import IntegrityError, ModelError
from streamjury.redaction import remember_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


log = logging.getLogger(__name__)

DEFAULT_MODELS = ".streamjury/models"
DEFAULT_MODEL_CACHE = Path(".streamjury/model-cache")
DEFAULT_POLL_S = 30.0

T = TypeVar("T")

__all__ = ["S3_SCHEME", "ModelSettings", "ModelSource", "ModelStore", "StoredVersion"]


class ModelSettings(BaseSettings):
    """Where models live (``STREAMJURY_MODELS``: a folder, s3:// URL or ``mlflow:`` registry), which alias or version
    to serve (``STREAMJURY_MODEL_ALIAS``), how often a running service re-reads that alias
    (``STREAMJURY_MODEL_POLL_S``; 0 never) and the S3 download cache (``STREAMJURY_MODEL_CACHE``)."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMJURY_", extra="ignore", protected_namespaces=()
    )

    models: str = DEFAULT_MODELS
    model_cache: Path = DEFAULT_MODEL_CACHE
    model_alias: str = Field(default=DEFAULT_ALIAS, pattern=VERSION_PATTERN.pattern)
    model_poll_s: float = Field(default=DEFAULT_POLL_S, ge=0)

    def model_post_init(self, context: Any, /) -> None:
        """Its secrets (a password in the models URL) are redacted from logs and errors."""
        super().model_post_init(context)
        remember_settings(self)


def default_s3_client() -> S3Client:
    """A boto3 S3 client at ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` when set."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint or None)


class ModelSource(Protocol):
    """Where verified artifacts come from (``ModelStore`` implements it; checks and tests take any)."""

    def load(self, name: str) -> object:
        """The verified, unpickled object of artifact ``name``."""
        ...

    def version(self, name: str) -> str: ...


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of one model and the folder (relative key) its files are in."""

    manifest: Manifest
    folder: str

    @property
    def artifact_key(self) -> str:
        return f"{self.folder}/{self.manifest.artifact}"

    @property
    def manifest_key(self) -> str:
        return f"{self.folder}/{MANIFEST_FILE}"


class ModelStore:
    """Verified artifacts by model name, at one alias or version (``ref``); a ``ModelSource``.

    What ``ref`` resolves to is read once per model and kept: a view never changes under a
    check. ``refreshed()`` is a new view that reads the aliases again (how rollouts are noticed).
    """

    def __init__(
        self,
        location: str | Path,
        cache_dir: Path = DEFAULT_MODEL_CACHE,
        s3_client: Callable[[], S3Client] = default_s3_client,
        *,
        ref: str = DEFAULT_ALIAS,
        blobs: Blobs | None = None,
    ) -> None:
        self.location = str(location)
        self.ref = ref
        self._blobs: Blobs = blobs or _blobs_at(self.location, cache_dir, s3_client)
        self._resolved: dict[str, StoredVersion] = {}

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> ModelStore:
        return cls(settings.models, settings.model_cache, ref=settings.model_alias)

    @property
    def is_local(self) -> bool:
        return isinstance(self._blobs, LocalBlobs)

    def at(self, ref: str) -> ModelStore:
        """A fresh view of the same location at another alias or version."""
        return ModelStore(self.location, ref=ref, blobs=self._blobs)

    def refreshed(self) -> ModelStore:
        """A fresh view at the same ``ref``: aliases are read again on first use."""
        return self.at(self.ref)

    # -- ModelSource ---------------------------------------------------------------------------

    def stored(self, name: str) -> StoredVersion:
        if name not in self._resolved:
            self._resolved[name] = self.resolve(name, self.ref)
        return self._resolved[name]

    def manifest(self, name: str) -> Manifest:
        return self.stored(name).manifest

    def version(self, name: str) -> str:
        return self.manifest(name).version

    def load(self, name: str) -> object:
        """The unpickled artifact, after its bytes matched the manifest's sha256."""
        stored = self.stored(name)
        manifest = stored.manifest
        data = self._verified_bytes(stored)
        if manifest.sklearn_version != SKLEARN_VERSION:
            log.warning(
                "model %s was trained with scikit-learn %s but %s is installed; "
                "retrain with 'streamjury train' if its predictions look wrong",
                manifest.version,
                manifest.sklearn_version,
                SKLEARN_VERSION,
            )
        try:
            artifact: object = _unpickle(data, manifest.serializer)
        except Exception as exc:  # unpickling can raise anything
            raise ModelError(f"model {manifest.version} could not be loaded: {exc}") from exc
        log.info("loaded model %s", manifest.version)
        return artifact

    # -- what is there -------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every model with at least one version here."""
        names = {
            key.split("/", 1)[0]
            for key in self._blobs.keys("")
            if key.endswith((f"/{MANIFEST_FILE}", f"/{ALIASES_FILE}"))
        }
        return sorted(name for name in names if self.versions(name))

    def manifests(self) -> list[Manifest]:
        """What ``ref`` resolves to for every model that has it, by name."""
        found = []
        for name in self.names():
            try:
                found.append(self.manifest(name))
            except ModelError:
                continue
        return found

    def missing(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` have no manifest or no artifact at ``ref``."""
        missing = []
        for name in names:
            try:
                stored = self.stored(name)
            except ModelError:
                missing.append(name)
                continue
            if not self._exists(stored.artifact_key):
                missing.append(name)
        return missing

    def versions(self, name: str) -> list[Manifest]:
        """Every version of ``name``, oldest first (the single-version layout's one included)."""
        found = [stored.manifest for stored in self._all_versions(name).values()]
        return sorted(found, key=lambda manifest: (manifest.created_at, manifest.version))

    def aliases(self, name: str) -> AliasBook:
        return read_aliases(self._blobs, name)

    def files(self, name: str) -> list[Path]:
        """The local manifest and artifact of ``name`` at ``ref`` (to package them)."""
        stored = self.stored(name)
        paths = [self._blobs.local_path(key) for key in (stored.manifest_key, stored.artifact_key)]
        return [path for path in paths if path is not None]

    # -- resolving -----------------------------------------------------------------------------

    def resolve(self, name: str, ref: str) -> StoredVersion:
        """What ``ref`` (an alias, else a version) means for ``name`` now, read afresh.

        ``production`` with no such alias is the single-version layout's model, if there is one.
        """
        target = self.aliases(name).target(ref)
        if target is not None:
            return self._version(name, target, via=f"alias {ref!r}")
        if ref == DEFAULT_ALIAS:
            legacy = self._legacy(name)
            if legacy is not None:
                return legacy
            if not self.versions(name):
                raise ModelError(f"no model {name!r} in {self.location}: run 'streamjury train'")
            raise ModelError(
                f"model {name!r} in {self.location} has no {DEFAULT_ALIAS!r} alias: "
                f"run 'streamjury models promote {name} VERSION'"
            )
        return self._version(name, ref, via="version")

    def _version(self, name: str, version: str, via: str) -> StoredVersion:
        check_version(version)
        folder = f"{name}/{VERSIONS_FOLDER}/{version}"
        manifest = self._read_manifest(f"{folder}/{MANIFEST_FILE}", name)
        if manifest is not None:
            return StoredVersion(manifest, folder)
        legacy = self._legacy(name)
        if legacy is not None and legacy.manifest.version == version:
            return legacy
        if not self.versions(name):
            raise ModelError(f"no model {name!r} in {self.location}: run 'streamjury train'")
        raise ModelError(
            f"{via} {version!r} of model {name!r} is not in {self.location} "
            "('streamjury models list' shows what is)"
        )

    def _legacy(self, name: str) -> StoredVersion | None:
        manifest = self._read_manifest(f"{name}/{MANIFEST_FILE}", name)
        return StoredVersion(manifest, name) if manifest is not None else None

    def _all_versions(self, name: str) -> dict[str, StoredVersion]:
        found: dict[str, StoredVersion] = {}
        legacy = self._legacy(name)
        if legacy is not None:
            found[legacy.manifest.version] = legacy
        for key in self._blobs.keys(f"{name}/{VERSIONS_FOLDER}/"):
            if key.endswith(f"/{MANIFEST_FILE}"):
                manifest = self._read_manifest(key, name)
                if manifest is not None:
                    found[manifest.version] = StoredVersion(manifest, key.rsplit("/", 1)[0])
        return found

    def _read_manifest(self, key: str, name: str) -> Manifest | None:
        raw = self._blobs.read(key)
        if raw is None:
            return None
        try:
            manifest = Manifest.model_validate_json(raw)
        except ValidationError as exc:
            raise ModelError(
                f"manifest {self._blobs.describe(key)} is not valid: {exc.errors()[0]['msg']}"
            ) from exc
        if manifest.name != name:
            raise ModelError(f"manifest {self._blobs.describe(key)} is of model {manifest.name!r}")
        return manifest

    def _exists(self, key: str) -> bool:
        path = self._blobs.local_path(key)
        if path is not None:
            return path.is_file()
        return key in self._blobs.keys(key.rsplit("/", 1)[0] + "/")

    def _verified_bytes(self, stored: StoredVersion) -> bytes:
        manifest = stored.manifest
        data = self._blobs.read_artifact(stored.artifact_key, manifest.sha256)
        _verify(data, manifest, where=self._blobs.describe(stored.artifact_key))
        return data

    # -- moving aliases ------------------------------------------------------------------------

    def promote(self, name: str, version: str, alias: str = DEFAULT_ALIAS) -> AliasChange:
        """Point ``alias`` at ``version``, after checking its artifact matches its manifest."""
        check_alias(alias)
        stored = self._version(name, check_version(version), via="version")
        self._verified_bytes(stored)
        named = stored.manifest.version  # an MLflow number names its version by the manifest's
        return self._update(name, alias, lambda book: book.moved(alias, named))

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS) -> AliasChange:
        """Point ``alias`` back at the version it named before its last move."""
        check_alias(alias)
        return self._update(name, alias, lambda book: book.rolled_back(alias))

    def adopt_first(self, name: str, version: str, alias: str = DEFAULT_ALIAS) -> bool:
        """Point ``alias`` at ``version`` only if ``alias`` names nothing yet (a new model)."""
        self._version(name, check_version(version), via="version")
        return adopt_first(self._blobs, name, version, check_alias(alias))

    def _update(
        self, name: str, alias: str, change: Callable[[AliasBook], AliasBook]
    ) -> AliasChange:
        return move_alias(self._blobs, name, alias, change)

    # -- writing versions ----------------------------------------------------------------------

    def upload_version(self, folder: Path) -> Manifest:
        """Copy a locally trained version folder (manifest + artifact) into this location."""
        manifest = Manifest.read(folder / MANIFEST_FILE)
        artifact = (folder / manifest.artifact).read_bytes()
        _verify(artifact, manifest, where=str(folder / manifest.artifact))
        target = f"{manifest.name}/{VERSIONS_FOLDER}/{manifest.version}"
        files = [
            (manifest.artifact, artifact),
            (MANIFEST_FILE, (folder / MANIFEST_FILE).read_bytes()),
        ]
        self._blobs.write_version(target, files)
        return manifest


def _blobs_at(location: str, cache_dir: Path, s3_client: Callable[[], S3Client]) -> Blobs:
    if location.startswith(S3_SCHEME):
        return S3Blobs(location, cache_dir, s3_client)
    if is_mlflow(location):
        return MlflowBlobs(location, cache_dir)
    return LocalBlobs(Path(location))


def load_typed(source: ModelSource, name: str, kind: type[T]) -> T:
    """``source.load(name)``, checked to be the class the caller was written for."""
    artifact = source.load(name)
    if not isinstance(artifact, kind):
        raise ModelError(
            f"model {name!r} is a {type(artifact).__name__}, expected {kind.__name__}: "
            "retrain with 'streamjury train'"
        )
    return artifact


def ensure_trained(location: str | Path, rows: int | None = None, seed: int = 0) -> bool:
    """Train the default models into a local ``location`` if any is missing; True if it trained."""
    from models.train import DEFAULT_ROWS, MODEL_NAMES, train_all

    store = ModelStore(location)
    missing = store.missing(MODEL_NAMES)
    if not missing:
        return False
    if not store.is_local:
        raise ModelError(
            f"models {', '.join(missing)} are missing from {location}: train them locally "
            "with 'streamjury train --out DIR' and upload DIR there"
        )
    log.info("training missing models (%s) into %s", ", ".join(missing), location)
    train_all(Path(location), rows=rows or DEFAULT_ROWS, seed=seed)
    return True


def _verify(data: bytes, manifest: Manifest, where: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.sha256:
        raise IntegrityError(
            f"{where} has sha256 {actual[:16]}… but manifest {manifest.version} expects "
            f"{manifest.sha256[:16]}…: refusing to load it (retrain with 'streamjury train')"
        )


def _unpickle(data: bytes, serializer: str) -> object:
    """Only ever called on bytes whose sha256 matched the manifest."""
    if serializer == "pickle":
        return pickle.loads(data)
    import joblib  # artifacts of earlier releases; a plain pickle needs no joblib import

    return joblib.load(io.BytesIO(data))
