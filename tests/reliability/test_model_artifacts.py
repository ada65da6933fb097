"""A consumer whose model artifact is tampered with or missing refuses to start: one clear line
on stderr, a non-zero exit, and nothing consumed. (joblib is pickle: loading it unverified
would run whatever code it holds.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.aliases import AliasBook
from streamjury.streams.local import LocalBackend

pytestmark = pytest.mark.slow
WAIT_S = 300.0


def consume(check: str, models: Path, log_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")}
    command = [sys.executable, "-m", "streamjury.cli.main", "consume", check]
    command += ["--models", str(models), "--local-dir", str(log_dir)]
    return subprocess.run(
        command,
        env={**env, "STREAMJURY_HTTP_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )


@pytest.fixture
def models(reliability_models: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(reliability_models, copy)
    return copy


def production_file(models: Path, name: str, file: str) -> Path:
    """Where the version the ``production`` alias names keeps ``file`` (either layout)."""
    flat = models / name / file
    if flat.exists():
        return flat
    book = AliasBook.model_validate_json((models / name / "aliases.json").read_bytes())
    version = book.target("production")
    assert version is not None
    return models / name / "versions" / version / file


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    last = lines[-1].lower()
    for word in words:
        assert word in last, result.stderr[-2000:]


def test_a_tampered_artifact_is_refused_before_loading(models: Path, tmp_path: Path) -> None:
    artifact = production_file(models, "duration", "model.joblib")
    artifact.write_bytes(artifact.read_bytes() + b"\x00")

    result = consume("duration", models, tmp_path / "log")

    assert_refused(result, "sha256")
    backend = LocalBackend(tmp_path / "log")
    try:
        assert backend.list_streams() == []  # it stopped before touching any stream
    finally:
        backend.close()


def test_a_missing_artifact_is_refused_with_its_path(models: Path, tmp_path: Path) -> None:
    production_file(models, "tip", "model.joblib").unlink()

    result = consume("tip", models, tmp_path / "log")

    assert_refused(result, "tip")


def test_a_missing_manifest_is_refused(models: Path, tmp_path: Path) -> None:
    production_file(models, "nsfw", "manifest.json").unlink()

    result = consume("nsfw", models, tmp_path / "log")

    assert_refused(result, "nsfw")
