"""Specification of ``streamjury consume``'s user errors: one line, exit code 2."""

from __future__ import annotations

import pytest

from streamjury.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_an_unknown_check_exits_2_listing_the_known_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run(["consume", "speed"], capsys)

    assert code == 2
    assert err.count("\n") == 1
    assert "unknown check 'speed'" in err
    for known in ("duration", "tip", "copyright", "nsfw", "violence"):
        assert known in err


def test_a_batch_size_of_zero_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["consume", "duration", "--batch-size", "0"], capsys)

    assert code == 2
    assert "--batch-size" in err


def test_an_invalid_env_var_exits_2_naming_the_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_CONSUMER_BATCH_TIMEOUT_MS", "soon")

    code, err = run(["consume", "duration"], capsys)

    assert code == 2
    assert "STREAMJURY_CONSUMER_BATCH_TIMEOUT_MS" in err


@pytest.mark.parametrize(
    ("checks", "says"),
    [
        (["duration", "nsfw"], "must read one stream"),
        (["tip", "tip"], "named twice"),
        (["duration", "speed"], "unknown check 'speed'"),
    ],
)
def test_checks_that_cannot_run_together_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], checks: list[str], says: str
) -> None:
    code, err = run(["consume", *checks, "--backend", "memory"], capsys)

    assert code == 2
    assert err.count("\n") == 1
    assert says in err
