"""Fixtures of the ops integration tests: small real models, trained once per module."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.ops.support import STREAMJURY


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained the way the docs say: ``streamjury train --out DIR --rows N``."""
    folder = tmp_path_factory.mktemp("models")
    subprocess.run(
        [STREAMJURY, "train", "--out", str(folder), "--rows", "300"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder
