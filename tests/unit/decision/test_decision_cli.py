"""Specification of ``streamjury decide``'s user errors: one line on stderr and exit code 2."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamjury.cli.main import main


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The CLI configures logging as an entry point does; put the test runner's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code


def test_check_validates_the_default_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["decide", "--check"])

    assert code == 0
    assert "policy ok" in capsys.readouterr().out


def test_an_invalid_policy_file_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[ride]\nrequired = ["duration", "tip"]\ntimeout_s = 30\nfallbak = "x"\n')

    code = run(["decide", "--policy", str(policy), "--check"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "ride.fallbak" in err


def test_an_invalid_env_var_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMJURY_DECISION_BATCH_TIMEOUT_MS", "soon")

    code = run(["decide", "--check"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "STREAMJURY_DECISION_BATCH_TIMEOUT_MS" in err
