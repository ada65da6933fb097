"""Fixtures for the CLI tests: a clean environment, a local log in a temp dir, and a runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.cli.support import Result, invoke

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No STREAMJURY_* variable from the outer shell, and logging restored after each test
    (the entry point installs a handler on the captured stderr)."""
    for name in list(os.environ):
        if name.startswith("STREAMJURY_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], local_dir: Path) -> Run:
    """``run("produce", "rides", ...)``: the command against the temp local log, unless the
    arguments name another ``--local-dir``."""

    def run_command(*args: str) -> Result:
        if "--local-dir" in args:
            return invoke(capsys, *args)
        return invoke(capsys, *args, "--local-dir", str(local_dir))

    return run_command


@pytest.fixture
def run_bare(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run_bare(...)``: exactly the given arguments (for errors that come before any backend)."""

    def run_command(*args: str) -> Result:
        return invoke(capsys, *args)

    return run_command
