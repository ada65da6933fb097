"""Finds trained artifacts (a local folder or ``s3://bucket/prefix``) and loads only verified ones.

joblib files are pickles: loading one runs code. So the bytes are hashed first, and only the very
bytes whose sha256 matches the manifest are ever unpickled. This catches a corrupted or swapped
artifact; whoever can rewrite the manifest too must be trusted, so guard the location itself.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import joblib
import sklearn
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.manifest import ARTIFACT_FILE, MANIFEST_FILE, Manifest, sha256_file
from streamjury.errors import ConfigError, IntegrityError, ModelError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from consumers.check import ModelSource

log = logging.getLogger(__name__)

DEFAULT_MODELS = ".streamjury/models"
DEFAULT_MODEL_CACHE = Path(".streamjury/model-cache")
S3_SCHEME = "s3://"
T = TypeVar("T")


class ModelSettings(BaseSettings):
    """Where models live (``STREAMJURY_MODELS``: a folder or s3:// URL) and the S3 download cache
    (``STREAMJURY_MODEL_CACHE``)."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMJURY_", extra="ignore", protected_namespaces=()
    )

    models: str = DEFAULT_MODELS
    model_cache: Path = DEFAULT_MODEL_CACHE


def default_s3_client() -> S3Client:
    """A boto3 S3 client at ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` when set."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint or None)


class ModelStore:
    """Verified artifacts by model name; implements ``consumers.check.ModelSource``.

    Local folders are read in place. S3 artifacts are downloaded once into ``cache_dir``, named by
    their sha256, so every process on a host shares one copy and a new version never collides.
    """

    def __init__(
        self,
        location: str | Path,
        cache_dir: Path = DEFAULT_MODEL_CACHE,
        s3_client: Callable[[], S3Client] = default_s3_client,
    ) -> None:
        self.location = str(location)
        self._backend: _Backend = (
            _S3Backend(self.location, cache_dir, s3_client)
            if self.location.startswith(S3_SCHEME)
            else _LocalBackend(Path(self.location))
        )
        self._manifests: dict[str, Manifest] = {}

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> ModelStore:
        return cls(settings.models, settings.model_cache)

    @property
    def is_local(self) -> bool:
        return isinstance(self._backend, _LocalBackend)

    def manifest(self, name: str) -> Manifest:
        if name not in self._manifests:
            self._manifests[name] = self._backend.manifest(name)
        return self._manifests[name]

    def version(self, name: str) -> str:
        return self.manifest(name).version

    def load(self, name: str) -> object:
        """The unpickled artifact, after its bytes matched the manifest's sha256."""
        manifest = self.manifest(name)
        data = self._backend.artifact_bytes(name, manifest)
        _verify(data, manifest, where=f"{self.location}/{name}/{manifest.artifact}")
        if manifest.sklearn_version != sklearn.__version__:
            log.warning(
                "model %s was trained with scikit-learn %s but %s is installed; "
                "retrain with 'streamjury train' if its predictions look wrong",
                manifest.version,
                manifest.sklearn_version,
                sklearn.__version__,
            )
        try:
            artifact: object = joblib.load(io.BytesIO(data))
        except Exception as exc:  # unpickling can raise anything
            raise ModelError(f"model {manifest.version} could not be loaded: {exc}") from exc
        log.info("loaded model %s", manifest.version)
        return artifact

    def manifests(self) -> list[Manifest]:
        """Every model present, by name."""
        return [self.manifest(name) for name in sorted(self._backend.names())]

    def missing(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` have no manifest or no artifact here."""
        return [name for name in names if not self._backend.has(name)]


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


class _Backend(Protocol):
    """Where manifests and artifact bytes come from; verification stays in ``ModelStore``."""

    def manifest(self, name: str) -> Manifest: ...

    def artifact_bytes(self, name: str, manifest: Manifest) -> bytes: ...

    def names(self) -> list[str]: ...

    def has(self, name: str) -> bool: ...


class _LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def manifest(self, name: str) -> Manifest:
        path = self.root / name / MANIFEST_FILE
        if not path.is_file():
            raise ModelError(f"no model {name!r} in {self.root}: run 'streamjury train'")
        return Manifest.read(path)

    def artifact_bytes(self, name: str, manifest: Manifest) -> bytes:
        path = self.root / name / manifest.artifact
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise ModelError(f"{path} is missing: run 'streamjury train'") from exc

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [folder.name for folder in self.root.iterdir() if (folder / MANIFEST_FILE).is_file()]

    def has(self, name: str) -> bool:
        folder = self.root / name
        return (folder / MANIFEST_FILE).is_file() and (folder / ARTIFACT_FILE).is_file()


class _S3Backend:
    def __init__(self, url: str, cache_dir: Path, client: Callable[[], S3Client]) -> None:
        bucket, _, prefix = url.removeprefix(S3_SCHEME).partition("/")
        if not bucket:
            raise ConfigError(f"{url!r} is not an s3://bucket/prefix URL")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache_dir = cache_dir
        self._make_client = client
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def key(self, name: str, file: str) -> str:
        return f"{self.prefix}/{name}/{file}" if self.prefix else f"{name}/{file}"

    def manifest(self, name: str) -> Manifest:
        raw = self._get(self.key(name, MANIFEST_FILE))
        try:
            return Manifest.model_validate_json(raw)
        except ValueError as exc:
            raise ModelError(f"manifest of {name!r} in s3://{self.bucket} is not valid") from exc

    def artifact_bytes(self, name: str, manifest: Manifest) -> bytes:
        """The cached copy if its hash still matches, else a fresh download into the cache."""
        cached = self.cache_dir / f"{manifest.sha256}.joblib"
        if cached.is_file() and sha256_file(cached) == manifest.sha256:
            log.debug("model %s found in cache %s", manifest.version, cached)
            return cached.read_bytes()
        data = self._get(self.key(name, manifest.artifact))
        _verify(data, manifest, where=f"s3://{self.bucket}/{self.key(name, manifest.artifact)}")
        self._write_cache(cached, data)
        log.info("downloaded model %s into %s", manifest.version, cached)
        return data

    def names(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = f"{self.prefix}/" if self.prefix else ""
        names: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name, _, file = item["Key"].removeprefix(prefix).partition("/")
                    if file == MANIFEST_FILE:
                        names.append(name)
        except (BotoCoreError, ClientError) as exc:
            raise ModelError(f"cannot list s3://{self.bucket}/{prefix}: {exc}") from exc
        return names

    def has(self, name: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for file in (MANIFEST_FILE, ARTIFACT_FILE):
                self.client.head_object(Bucket=self.bucket, Key=self.key(name, file))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ModelError(f"cannot reach s3://{self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise ModelError(f"cannot reach s3://{self.bucket}: {exc}") from exc
        return True

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: Any = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            data: bytes = body.read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NoSuchBucket"):
                raise ModelError(
                    f"s3://{self.bucket}/{key} not found: train with 'streamjury train' and upload"
                ) from exc
            raise ModelError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc
        except BotoCoreError as exc:
            raise ModelError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc
        return data

    def _write_cache(self, path: Path, data: bytes) -> None:
        """Write then rename, so concurrent consumers never read a half-written file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temp_name, path)
        finally:
            Path(temp_name).unlink(missing_ok=True)
