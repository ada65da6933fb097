"""``streamjury train`` and ``streamjury models list`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.manifest import Manifest
from models.store import ModelStore
from models.train import MIN_ROWS, MODEL_NAMES
from streamjury.cli.main import main
from tests.unit.models.support import add_version, live_file

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
        assert live_file(tmp_path, name, "manifest.json").is_file()
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
    assert live_file(tmp_path / "from-env", "duration", "model.joblib").is_file()


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


def test_models_list_shows_every_version_and_which_alias_names_it(
    models_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = ModelStore(models_copy).version("duration")
    add_version(models_copy, "duration", "duration-v2")
    ModelStore(models_copy).promote("duration", "duration-v2", alias="candidate")

    code = run("models", "list", "--models", str(models_copy))

    out = capsys.readouterr().out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if "│" in line}
    assert code == 0
    assert "candidate" in rows["duration-v2"]
    assert "production" in rows[live]


def test_models_promote_then_rollback_move_the_production_alias(
    models_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = ModelStore(models_copy).version("tip")
    add_version(models_copy, "tip", "tip-v2")

    promoted = run("models", "promote", "tip", "tip-v2", "--models", str(models_copy))
    after_promote = ModelStore(models_copy).version("tip")
    rolled_back = run("models", "rollback", "tip", "--models", str(models_copy))

    out = capsys.readouterr().out
    assert (promoted, rolled_back) == (0, 0)
    assert after_promote == "tip-v2"
    assert ModelStore(models_copy).version("tip") == live
    assert f"tip: production -> tip-v2 (was {live})" in out


def test_promoting_an_unknown_version_is_a_one_line_error(
    models_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("models", "promote", "tip", "tip-nope", "--models", str(models_copy))

    err = capsys.readouterr().err
    assert code != 0
    assert "tip-nope" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_training_again_adds_versions_without_moving_production_unless_asked(
    tmp_path: Path,
) -> None:
    rows = str(MIN_ROWS)
    run("train", "--out", str(tmp_path), "--rows", rows)
    first = ModelStore(tmp_path).version("duration")

    run("train", "--out", str(tmp_path), "--rows", rows, "--seed", "1")
    after_second = ModelStore(tmp_path).version("duration")
    run("train", "--out", str(tmp_path), "--rows", rows, "--seed", "2", "--promote")
    versions = ModelStore(tmp_path).versions("duration")

    assert after_second == first
    assert len(versions) == 3
    assert ModelStore(tmp_path).version("duration") == versions[-1].version
