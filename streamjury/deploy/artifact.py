"""Builds the zip deployment package: handler code plus the check's verified model artifacts.

Byte-for-byte reproducible (sorted entries, fixed timestamps), so an unchanged package has an
unchanged CodeSha256 and a re-deploy uploads nothing. Dependencies come from a Lambda layer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from consumers.check import CheckSpec
from models.store import ModelStore
from streamjury.errors import ConfigError

log = logging.getLogger(__name__)

TASK_ROOT = "/var/task"
"""Where Lambda unpacks a zip (LAMBDA_TASK_ROOT), and where the image puts the same files."""
BAKED_MODELS = "model-artifacts"
"""The models' folder inside the package; not ``models``, which is the Python package."""
BAKED_MODELS_PATH = f"{TASK_ROOT}/{BAKED_MODELS}"
HANDLER = "consumers.lambda_handler.handler"
CODE_PACKAGES = ("streamjury", "consumers", "models")
"""What the handler imports; ``producers`` and ``decision`` are not needed in a function."""
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
"""Lambda's limit for a function and all its layers, unzipped."""
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024
"""Lambda's limit for a zip sent in the API call itself."""
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ZipPackage:
    """A built package, with what Lambda reports for it (CodeSha256) to compare deployments."""

    path: Path
    content: bytes
    unzipped_bytes: int
    models: tuple[str, ...]

    @property
    def code_sha256(self) -> str:
        """Base64 of the zip's sha256: the ``CodeSha256`` Lambda returns for this code."""
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode("ascii")


class _RecordingSource:
    """A ModelSource that notes which artifacts a check loads, so exactly those are packaged."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.names: set[str] = set()

    def load(self, name: str) -> object:
        self.names.add(name)
        return self.store.load(name)

    def version(self, name: str) -> str:
        self.names.add(name)
        return self.store.version(name)


def models_used(spec: CheckSpec, models: Path) -> tuple[str, ...]:
    """The artifacts ``spec`` loads, found by loading them (which also verifies their sha256)."""
    source = _RecordingSource(ModelStore(models))
    spec.load_model(source)
    return tuple(sorted(source.names))


def build_zip(
    spec: CheckSpec, out_dir: Path, *, models: Path | None, source_root: Path = _SOURCE_ROOT
) -> ZipPackage:
    """Write ``<out_dir>/<check>.zip``: the code packages and, if ``models`` is a local folder,
    the verified artifacts of this check under ``model-artifacts/``."""
    entries: list[tuple[str, Path]] = []
    for package in CODE_PACKAGES:
        root = source_root / package
        if not (root / "__init__.py").is_file():
            raise ConfigError(f"cannot package {package}: {root} is not a Python package")
        entries.extend((path.relative_to(source_root).as_posix(), path) for path in _sources(root))
    names: tuple[str, ...] = ()
    if models is not None:
        names = models_used(spec, models)
        store = ModelStore(models)
        for name in names:  # the production version, baked in the single-version layout
            for path in store.files(name):
                entries.append((f"{BAKED_MODELS}/{name}/{path.name}", path))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{spec.name}.zip"
    unzipped = _write_zip(target, sorted(entries))
    if unzipped > MAX_UNZIPPED_BYTES:
        raise ConfigError(
            f"{target} unzips to {unzipped / 2**20:.0f} MiB, over Lambda's 250 MiB limit: "
            "deploy the container image instead (--image-uri)"
        )
    content = target.read_bytes()
    log.info(
        "built %s: %.1f MiB zipped, %.1f MiB unzipped, models %s",
        target,
        len(content) / 2**20,
        unzipped / 2**20,
        ", ".join(names) or "(none: loaded from STREAMJURY_MODELS at cold start)",
    )
    return ZipPackage(path=target, content=content, unzipped_bytes=unzipped, models=names)


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".toml"):
            yield path


def _write_zip(target: Path, entries: list[tuple[str, Path]]) -> int:
    """A reproducible zip: same files in, same bytes out. Returns the unzipped size."""
    unzipped = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            zf.writestr(info, data)
    return unzipped
