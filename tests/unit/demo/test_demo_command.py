"""Specification of ``streamjury demo``'s user errors: one line on stderr, exit code 2, and no
service started."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.cli.main import main


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No STREAMJURY_* variable from the outer shell; the runner's logging put back after."""
    for name in [n for n in os.environ if n.startswith("STREAMJURY_")]:
        monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """The exit code and the error lines of ``streamjury demo ARGS``."""
    with pytest.raises(SystemExit) as exited:
        main(["demo", *args])
    code = exited.value.code
    assert isinstance(code, int)
    return code, [line for line in capsys.readouterr().err.splitlines() if "error" in line]


def test_the_memory_backend_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, errors = run(capsys, "--backend", "memory")

    assert code == 2
    assert len(errors) == 1
    assert "memory backend" in errors[0]


def test_a_local_dir_that_already_holds_data_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "streams.db").write_bytes(b"someone's log")

    code, errors = run(capsys, "--local-dir", str(used), "--models", str(tmp_path / "models"))

    assert code == 2
    assert errors == [
        f"streamjury: error: {used} is not empty: give the demo a new --local-dir, "
        "or none for a fresh one under .streamjury/"
    ]
    assert sorted(p.name for p in used.iterdir()) == ["streams.db"]
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("args", [["--count", "0"], ["--rate", "-1"], ["--timeout", "0"]])
def test_out_of_range_numbers_are_usage_errors(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, errors = run(capsys, *args)

    assert code == 2
    assert len(errors) == 1
