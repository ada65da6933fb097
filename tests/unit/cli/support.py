"""Helpers for the CLI tests: run ``streamjury`` in-process and read what it left in a log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from streamjury.cli.main import main
from streamjury.streams.base import Record
from streamjury.streams.local import LocalBackend

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "tests" / "data"


@dataclass(frozen=True)
class Result:
    """What one ``streamjury`` invocation did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("streamjury: error:")]


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``streamjury ARGS`` through the real entry point and capture its output."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    code = exited.value.code
    return Result(code if isinstance(code, int) else 1, captured.out, captured.err)


def stored(local_dir: Path, stream: str) -> list[Record]:
    """Every record of ``stream`` in a local log, partition by partition (none if no stream)."""
    backend = LocalBackend(local_dir)
    try:
        if stream not in backend.list_streams():
            return []
        return [
            record
            for partition in sorted(backend.end_offsets(stream))
            for record in backend.read_partition(stream, partition)
        ]
    finally:
        backend.close()
