"""``streamjury dev kafka|kinesis`` are click commands: help, flags and usage errors as elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.conftest import Run
from tests.unit.cli.test_cli_errors import assert_one_line_error

HELP_FLAGS = [
    (("dev", "kafka"), ["--version", "--cache-dir", "STREAMJURY_KAFKA_CACHE", "install", "start"]),
    (("dev", "kafka", "start"), ["--port", "--controller-port", "--work-dir"]),
    (("dev", "kafka", "install"), ["Maven Central"]),
    (("dev", "kinesis"), ["--cache-dir", "STREAMJURY_KINESIS_CACHE", "install", "start"]),
    (
        ("dev", "kinesis", "start"),
        ["--port", "--tls-port", "--region", "--account-id", "--duration", "--log-file"],
    ),
]


@pytest.mark.parametrize(("args", "flags"), HELP_FLAGS, ids=[" ".join(a) for a, _ in HELP_FLAGS])
def test_help_lists_every_flag(run_bare: Run, args: tuple[str, ...], flags: list[str]) -> None:
    result = run_bare(*args, "--help")

    assert result.code == 0, result.err
    assert result.out.startswith(f"Usage: streamjury {' '.join(args)} [OPTIONS]")
    for flag in flags:
        assert flag in result.out


def test_a_bare_group_prints_its_help_without_an_error_line(run_bare: Run) -> None:
    result = run_bare("dev", "kinesis")

    assert result.code == 2
    assert result.err.startswith("Usage: streamjury dev kinesis [OPTIONS] COMMAND")
    assert "error" not in result.err


USAGE_ERRORS = [
    (("dev", "kafka", "start", "--port", "0"), "'--port': 0 is not in the range"),
    (("dev", "kinesis", "start", "--tls-port", "http"), "'--tls-port': 'http' is not"),
    (("dev", "kafka", "stop"), "No such command 'stop'"),
    (("dev", "kinesis", "start", "--no-such-flag"), "No such option"),
]


@pytest.mark.parametrize(
    ("args", "expected"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_usage_errors_are_one_line_and_exit_2(
    run_bare: Run, args: tuple[str, ...], expected: str
) -> None:
    result = run_bare(*args)

    assert result.code == 2, result.err
    assert_one_line_error(result.err, expected)


def test_a_cache_dir_that_is_a_file_is_a_usage_error(run_bare: Run, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")

    result = run_bare("dev", "kafka", "--cache-dir", str(not_a_folder), "install")

    assert result.code == 2
    assert_one_line_error(result.err, "is a file")
