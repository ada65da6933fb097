"""Helpers for the model tests: where the live version's files are, whatever the layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from models.store import ModelStore


def live_file(location: Path, name: str, file: str) -> Path:
    """The manifest or artifact file of the version ``production`` names in ``location``."""
    manifest_path, artifact_path = ModelStore(location).files(name)
    return manifest_path if file == "manifest.json" else artifact_path


def live_key(location: Path, name: str, file: str) -> str:
    """``live_file`` relative to ``location``: its key once ``location`` is uploaded to S3."""
    return live_file(location, name, file).relative_to(location).as_posix()


def add_version(location: Path, name: str, version: str) -> str:
    """A copy of the live version of ``name`` as a new version (same artifact, newer manifest)."""
    manifest_path = live_file(location, name, "manifest.json")
    target = location / name / "versions" / version
    shutil.copytree(manifest_path.parent, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    manifest["created_at"] = "2099-01-01T00:00:00Z"
    (target / "manifest.json").write_text(json.dumps(manifest))
    return version
