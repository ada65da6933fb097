"""Specification of ``streamjury streams create|list`` on the embedded backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamjury.cli.main import main
from streamjury.streams.local import LocalBackend
from streamjury.streams.names import ALL_STREAMS


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


def test_create_makes_every_stream_with_the_prefix(tmp_path: Path) -> None:
    code = run(["streams", "create", "--local-dir", str(tmp_path), "--stream-prefix", "t1."])
    assert code == 0
    backend = LocalBackend(tmp_path)
    try:
        assert sorted(backend.list_streams()) == sorted(f"t1.{name}" for name in ALL_STREAMS)
    finally:
        backend.close()


def test_create_is_idempotent(tmp_path: Path) -> None:
    assert run(["streams", "create", "--local-dir", str(tmp_path)]) == 0
    assert run(["streams", "create", "--local-dir", str(tmp_path)]) == 0


def test_list_shows_created_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["streams", "create", "--local-dir", str(tmp_path)])
    capsys.readouterr()
    assert run(["streams", "list", "--local-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "verdicts\t4 partitions\t0 records" in listed
