"""``streamjury train`` and ``streamjury models list`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.manifest import Manifest
from models.train import MIN_ROWS, MODEL_NAMES
from streamjury.cli.main import main

pytestmark = pytest.mark.usefixtures("restore_root_logging")


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


def test_train_writes_every_model_and_prints_metrics_beside_baselines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("train", "--out", str(tmp_path), "--rows", str(MIN_ROWS), "--seed", "3")

    out = capsys.readouterr().out
    assert code == 0
    for name in MODEL_NAMES:
        assert (tmp_path / name / "manifest.json").is_file()
        assert name in out
    assert "baseline" in out
    assert "5 models in" in out


def test_models_list_shows_versions_metrics_and_hash_prefixes(
    trained_dir: Path, manifests: dict[str, Manifest], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("models", "list", "--models", str(trained_dir))

    out = capsys.readouterr().out
    assert code == 0
    for manifest in manifests.values():
        assert manifest.version in out
        assert manifest.sha256[:12] in out
    assert "roc_auc" in out
    assert "mae" in out


def test_models_list_of_an_empty_folder_says_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("models", "list", "--models", str(tmp_path))

    assert code == 0
    assert "streamjury train" in capsys.readouterr().out


def test_train_models_location_comes_from_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMJURY_MODELS", str(tmp_path / "from-env"))

    code = run("train", "--rows", str(MIN_ROWS))

    assert code == 0
    assert (tmp_path / "from-env" / "duration" / "model.joblib").is_file()


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("broken.parquet", b"not parquet at all", "not a readable parquet file"),
        ("trips.csv", b"a,b\n1,2\n", "missing pickup/dropoff columns"),
    ],
)
def test_bad_data_files_are_one_line_errors_with_exit_code_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file_name: str,
    content: bytes,
    message: str,
) -> None:
    data = tmp_path / file_name
    data.write_bytes(content)

    code = run("train", "--data", str(data), "--out", str(tmp_path / "out"))

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1


def test_a_missing_data_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("train", "--data", str(tmp_path / "absent.parquet"))

    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_into_s3_is_refused_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMJURY_MODELS", "s3://bucket/models")

    code = run("train", "--rows", str(MIN_ROWS))

    assert code == 2
    assert "--out" in capsys.readouterr().err
