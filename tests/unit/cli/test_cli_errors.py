"""Mistakes a user can fix end the command with one ``streamjury: error:`` line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Run
from tests.unit.cli.support import REPO, SAMPLES

SAMPLE = str(SAMPLES / "rides.jsonl")
MISSING = "no-such-file.jsonl"

CASES = [
    (("produce", "--file", MISSING), "does not exist"),
    (("produce",), "say what to send"),
    (("produce", "rides", "--file", SAMPLE), "one of them"),
    (("produce", "bikes"), "'bikes' is not one of 'rides', 'uploads'"),
    (("produce", "rides", "--count", "0"), "--count"),
    (("produce", "rides", "--rate", "-1"), "--rate"),
    (("produce", "rides", "--rate", "nan"), "invalid settings: rate"),
    (("produce", "rides", "--batch-size", "0"), "--batch-size"),
    (("produce", "rides", "--skip-invalid"), "only apply to --file"),
    (("produce", "--file", SAMPLE, "--seed", "1"), "--seed only applies"),
    (("produce", "--file", SAMPLE, "--rejects", "r.jsonl"), "--rejects needs --skip-invalid"),
    (("produce", "rides", "--no-such-flag"), "No such option"),
    (("record", "nosuch"), "'nosuch' is not one of 'rides', 'uploads', 'verdicts'"),
    (("record", "rides", "--from", "yesterday"), "--from"),
    (("record", "rides", "--to", "0:x"), "--to"),
    (("record", "rides"), "stream 'rides' does not exist"),
    (("tail", "nosuch"), "'nosuch' is not one of 'rides'"),
    (("tail", "rides", "--limit", "0"), "--limit"),
    (("tail", "rides", "--no-follow"), "stream 'rides' does not exist"),
    (("replay", MISSING), "does not exist"),
    (("replay", SAMPLE, "--speed", "0"), "--speed"),
    (("replay", SAMPLE, "--speed", "warp"), "--speed"),
]


def assert_one_line_error(err: str, expected: str) -> None:
    lines = err.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("streamjury: error:"), err
    assert sum(line.startswith("streamjury: error:") for line in lines) == 1, err
    assert expected in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_user_errors_are_one_line_and_exit_2(
    run: Run, args: tuple[str, ...], expected: str
) -> None:
    result = run(*args)

    assert result.code == 2, result.err
    assert_one_line_error(result.err, expected)


def test_an_unknown_partition_names_the_real_ones(run: Run) -> None:
    run("produce", "rides", "--count", "5")

    result = run("record", "rides", "--from", "9:0")

    assert result.code == 2
    assert_one_line_error(result.err, "no partition 9: the stream's partitions are 0, 1, 2, 3")


def test_an_invalid_file_is_one_error_line_followed_by_the_listing(
    run: Run, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n[]\n")

    result = run("produce", "--file", str(events))

    assert result.code == 2
    assert_one_line_error(result.err, "2 invalid line(s), nothing was sent")
    listing = result.err.splitlines()[1:]
    assert [line.split(":", 1)[0] for line in listing] == ["  line 1", "  line 2"]


def test_a_bad_environment_variable_is_a_config_error(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_PRODUCE_RATE", "fast")

    result = run("produce", "rides")

    assert result.code == 2
    assert_one_line_error(result.err, "invalid settings: STREAMJURY_PRODUCE_RATE")


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "streamjury.cli.main", "record", "nosuch"]

    result = subprocess.run(
        [*command, "--local-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert_one_line_error(result.stderr, "'nosuch' is not one of")
    assert result.stdout == ""
