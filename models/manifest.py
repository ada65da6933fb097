"""Model artifacts on disk: ``<dir>/<name>/versions/<version>/model.joblib`` and a
``manifest.json`` vouching for it: its sha256, so a loader can refuse a file it did not expect.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from streamjury.errors import ModelError
from streamjury.schemas import utc_now

SKLEARN_VERSION = importlib.metadata.version("scikit-learn")
"""Read from the installed distribution, not ``sklearn.__version__``: importing scikit-learn
costs seconds, and a consumer serving a ride model never needs it (``models.linear``)."""
ARTIFACT_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
VERSIONS_FOLDER = "versions"
ARTIFACT_MODE = 0o644
"""Readable by the consumers' users; temp files start private (0600)."""
_HASH_CHUNK = 1 << 20


class Metric(BaseModel):
    """One held-out figure beside what a trivial model scores, so "good" has a reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: float
    baseline: float
    baseline_kind: str
    """How the baseline predicts, e.g. ``training mean`` or ``constant score (AUC 0.5)``."""
    higher_is_better: bool

    @property
    def beats_baseline(self) -> bool:
        return self.value > self.baseline if self.higher_is_better else self.value < self.baseline


class Manifest(BaseModel):
    """Everything needed to trust, reproduce and compare one trained artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str
    artifact: str = ARTIFACT_FILE
    serializer: Literal["joblib", "pickle"] = "joblib"
    """How the artifact was written. ``pickle`` (plain, highest protocol; joblib can read it
    too) loads without importing joblib, whose import is a third of a Lambda cold start;
    manifests written before this field existed are joblib files."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    sklearn_version: str
    python_version: str
    features: list[str]
    metrics: list[Metric]
    data_source: str
    training_rows: int = Field(ge=0)
    held_out_rows: int = Field(ge=0)
    seed: int
    created_at: AwareDatetime

    @property
    def headline(self) -> Metric | None:
        """The metric a table shows first: the first one recorded."""
        return self.metrics[0] if self.metrics else None

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise ModelError(f"no manifest at {path}: run 'streamjury train'") from exc
        except ValidationError as exc:
            raise ModelError(f"manifest {path} is not valid: {exc.errors()[0]['msg']}") from exc


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def make_version(name: str, created_at: datetime, sha256: str) -> str:
    """``<name>-<yyyymmddHHMMSS>-<sha8>``: sortable by time, unique by content."""
    return f"{name}-{created_at.strftime('%Y%m%d%H%M%S')}-{sha256[:8]}"


def save_artifact(
    model: object,
    out_dir: Path,
    *,
    name: str,
    features: list[str],
    metrics: list[Metric],
    data_source: str,
    training_rows: int,
    held_out_rows: int,
    seed: int,
) -> Manifest:
    """Dump ``model`` and its manifest as a new version folder of ``out_dir/name/versions``.

    Both are written into a hidden staging folder that is then renamed: a version folder is
    complete or absent. No alias moves here (``ModelStore.promote`` does that).
    """
    versions = out_dir / name / VERSIONS_FOLDER
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))
    try:
        artifact = staging / ARTIFACT_FILE
        _atomic_write(artifact, lambda path: _dump(model, path))
        digest = sha256_file(artifact)
        created_at = utc_now()
        manifest = Manifest(
            name=name,
            version=make_version(name, created_at, digest),
            sha256=digest,
            serializer="pickle",
            sklearn_version=SKLEARN_VERSION,
            python_version=platform.python_version(),
            features=features,
            metrics=metrics,
            data_source=data_source,
            training_rows=training_rows,
            held_out_rows=held_out_rows,
            seed=seed,
            created_at=created_at,
        )
        text = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
        _atomic_write(staging / MANIFEST_FILE, lambda path: path.write_text(text))
        staging.chmod(0o755)
        target = versions / manifest.version
        if not target.exists():  # same name: same second and same bytes, so the same version
            os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _dump(model: object, path: Path) -> None:
    with path.open("wb") as out:
        pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)


def _atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Write via a temp file in the same folder, then rename over ``target``."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        write(temp)
        temp.chmod(ARTIFACT_MODE)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
