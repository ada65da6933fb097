"""The files of a model location, local folder or ``s3://bucket/prefix``, by relative key.

The store decides the layout and verifies; this only reads, lists and writes bytes. Writes that
move an alias are conditional: local files under a lock and ``os.replace``, S3 objects with
``If-Match`` / ``If-None-Match`` on PutObject, so two promoters never silently overwrite each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from models.aliases import AliasConflict
from models.manifest import ARTIFACT_MODE, sha256_file
from streamjury.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

S3_SCHEME = "s3://"


class Blobs(Protocol):
    """Bytes by relative key (``duration/versions/v1/manifest.json``)."""

    def describe(self, key: str) -> str:
        """Where ``key`` is, for messages."""
        ...

    def read(self, key: str) -> bytes | None:
        """The bytes at ``key``, or None if there is nothing there."""
        ...

    def read_artifact(self, key: str, sha256: str) -> bytes:
        """The artifact's bytes (from a local cache when it still has that hash)."""
        ...

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        """The bytes at ``key`` and a token that ``write_if`` compares against."""
        ...

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        """Write ``data`` only if ``key`` is unchanged since ``read_for_update`` gave ``token``.

        Raises AliasConflict otherwise (``token=None``: only if nothing is there yet).
        """
        ...

    def write(self, key: str, data: bytes) -> None: ...

    def write_version(self, folder: str, files: list[tuple[str, bytes]]) -> None:
        """Write a whole version folder, in order (the manifest last: it vouches for what is there)."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder, ending in ``/``), at any depth."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the location is a local folder."""
        ...


class LocalBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def local_path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_artifact(self, key: str, sha256: str) -> bytes:
        data = self.read(key)
        if data is None:
            raise ModelError(f"{self.root / key} is missing: run 'streamjury train'")
        return data

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        data = self.read(key)
        return data, (hashlib.sha256(data).hexdigest() if data is not None else None)

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        """Under an exclusive lock: compare, then write a temp file and rename it over ``key``."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with (target.parent / f".{target.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                _, current = self.read_for_update(key)
                if current != token:
                    raise AliasConflict(f"{target} changed while it was being updated: try again")
                atomic_write_bytes(target, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)

    def write_version(self, folder: str, files: list[tuple[str, bytes]]) -> None:
        for file_name, data in files:
            self.write(f"{folder}/{file_name}", data)

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        relative = (path.relative_to(self.root) for path in folder.rglob("*") if path.is_file())
        return sorted(  # hidden files are locks and half-written staging folders
            path.as_posix() for path in relative if not any(p.startswith(".") for p in path.parts)
        )


class S3Blobs:
    """Objects under ``s3://bucket/prefix``; artifacts are cached on disk by their sha256, so every
    process on a host shares one copy and a new version never collides with an old one."""

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

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def local_path(self, key: str) -> None:
        return None

    def read(self, key: str) -> bytes | None:
        return self.read_for_update(key)[0]

    def read_artifact(self, key: str, sha256: str) -> bytes:
        """The cached copy if its hash still matches, else a fresh download (cached if it matches)."""
        cached = self.cache_dir / f"{sha256}.joblib"
        if cached.is_file() and sha256_file(cached) == sha256:
            log.debug("artifact %s found in cache %s", key, cached)
            return cached.read_bytes()
        data = self.read(key)
        if data is None:
            raise ModelError(f"{self.describe(key)} not found: train with 'streamjury train'")
        if hashlib.sha256(data).hexdigest() == sha256:  # a mismatch is refused by the store
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cached, data)
            log.info("downloaded %s into %s", self.describe(key), cached)
        return data

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: Any = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            data: bytes = response["Body"].read()
            etag: str = response["ETag"]
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey"):
                return None, None
            if _code(exc) == "NoSuchBucket":
                raise ModelError(
                    f"no bucket {self.bucket!r}: create it, then upload models"
                ) from exc
            raise ModelError(f"cannot read {self.describe(key)}: {exc}") from exc
        except BotoCoreError as exc:
            raise ModelError(f"cannot read {self.describe(key)}: {exc}") from exc
        return data, etag

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        """PutObject with If-Match (the ETag read) or If-None-Match ``*`` (nothing there yet)."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, object_key = self.bucket, self.object_key(key)
        try:
            if token is not None:
                self.client.put_object(Bucket=bucket, Key=object_key, Body=data, IfMatch=token)
            else:
                self.client.put_object(Bucket=bucket, Key=object_key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise AliasConflict(
                    f"{self.describe(key)} changed while it was being updated: try again"
                ) from exc
            raise ModelError(f"cannot write {self.describe(key)}: {exc}") from exc
        except BotoCoreError as exc:
            raise ModelError(f"cannot write {self.describe(key)}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise ModelError(f"cannot write {self.describe(key)}: {exc}") from exc

    def write_version(self, folder: str, files: list[tuple[str, bytes]]) -> None:
        for file_name, data in files:
            self.write(f"{folder}/{file_name}", data)

    def keys(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        root = f"{self.prefix}/" if self.prefix else ""
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root + prefix
            )
            for page in pages:
                found.extend(item["Key"].removeprefix(root) for item in page.get("Contents", []))
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                return []
            raise ModelError(f"cannot list s3://{self.bucket}/{root}{prefix}: {exc}") from exc
        except BotoCoreError as exc:
            raise ModelError(f"cannot list s3://{self.bucket}/{root}{prefix}: {exc}") from exc
        return sorted(found)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, then rename over ``target``: readers never see
    half a file."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temp_name).chmod(ARTIFACT_MODE)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)
