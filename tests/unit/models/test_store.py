"""Loading models: only verified bytes are unpickled, S3 artifacts are cached, errors say what to do."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path

import boto3
import joblib
import pytest
from moto import mock_aws

from models.manifest import Manifest
from models.rides import DurationRegressor
from models.store import ModelSettings, ModelStore, default_s3_client, ensure_trained, load_typed
from models.train import MIN_ROWS, MODEL_NAMES
from streamjury.errors import ConfigError, IntegrityError, ModelError
from tests.unit.models.support import live_file, live_key

BUCKET = "streamjury-models-test"


class CreatesMarkerWhenUnpickled:
    """A booby-trapped pickle: unpickling it touches ``marker`` (as malicious code could)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (Path.touch, (str(self.marker),))


def plant_trap(artifact: Path, marker: Path) -> None:
    with artifact.open("wb") as stream:
        pickle.dump(CreatesMarkerWhenUnpickled(marker), stream)


def test_load_returns_the_verified_model_and_its_version(
    trained_dir: Path, manifests: dict[str, Manifest]
) -> None:
    store = ModelStore(trained_dir)

    model = store.load("duration")

    assert isinstance(model, DurationRegressor)
    assert store.version("duration") == manifests["duration"].version


def test_tampered_artifact_is_refused_without_being_unpickled(
    models_copy: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    plant_trap(live_file(models_copy, "tip", "model.joblib"), marker)

    with pytest.raises(IntegrityError, match="sha256"):
        ModelStore(models_copy).load("tip")

    assert not marker.exists()


def test_the_planted_trap_really_fires_when_unpickled(tmp_path: Path) -> None:
    """Guards the test above: its marker would exist had the store unpickled the file."""
    marker = tmp_path / "unpickled"
    plant_trap(tmp_path / "trap.joblib", marker)

    joblib.load(tmp_path / "trap.joblib")

    assert marker.exists()


def test_missing_model_tells_the_user_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="streamjury train"):
        ModelStore(tmp_path).load("duration")


def test_missing_artifact_beside_its_manifest_tells_the_user_to_train(models_copy: Path) -> None:
    live_file(models_copy, "nsfw", "model.joblib").unlink()

    with pytest.raises(ModelError, match="streamjury train"):
        ModelStore(models_copy).load("nsfw")


def test_other_scikit_learn_version_loads_with_a_warning(
    models_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest_path = live_file(models_copy, "duration", "manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sklearn_version"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))

    with caplog.at_level(logging.WARNING, logger="models.store"):
        model = ModelStore(models_copy).load("duration")

    assert isinstance(model, DurationRegressor)
    assert "scikit-learn 0.0.1" in caplog.text


def test_manifests_lists_every_trained_model(trained_dir: Path) -> None:
    names = [manifest.name for manifest in ModelStore(trained_dir).manifests()]

    assert names == sorted(MODEL_NAMES)


def test_load_typed_refuses_an_artifact_of_the_wrong_class(trained_dir: Path) -> None:
    with pytest.raises(ModelError, match="expected DurationRegressor"):
        load_typed(ModelStore(trained_dir), "tip", DurationRegressor)


def test_settings_read_env_vars_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_MODELS", "s3://bucket/from-env")
    monkeypatch.setenv("STREAMJURY_MODEL_CACHE", "/tmp/cache-from-env")

    from_env = ModelSettings()
    from_flag = ModelSettings(models="flag-dir")

    assert from_env.models == "s3://bucket/from-env"
    assert from_env.model_cache == Path("/tmp/cache-from-env")
    assert from_flag.models == "flag-dir"


def test_ensure_trained_trains_only_when_something_is_missing(tmp_path: Path) -> None:
    trained_first = ensure_trained(tmp_path, rows=MIN_ROWS)
    trained_again = ensure_trained(tmp_path, rows=MIN_ROWS)

    assert trained_first is True
    assert trained_again is False
    assert ModelStore(tmp_path).missing(MODEL_NAMES) == []


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def upload(folder: Path, prefix: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.mark.usefixtures("aws")
def test_s3_artifact_is_downloaded_once_into_the_cache(trained_dir: Path, tmp_path: Path) -> None:
    upload(trained_dir, "prod/models")
    cache = tmp_path / "cache"
    ModelStore(f"s3://{BUCKET}/prod/models", cache).load("duration")
    boto3.client("s3").delete_object(
        Bucket=BUCKET, Key=f"prod/models/{live_key(trained_dir, 'duration', 'model.joblib')}"
    )

    again = ModelStore(f"s3://{BUCKET}/prod/models", cache).load("duration")

    assert isinstance(again, DurationRegressor)
    assert len(list(cache.glob("*.joblib"))) == 1


@pytest.mark.usefixtures("aws")
def test_tampered_s3_artifact_is_refused_and_not_cached(trained_dir: Path, tmp_path: Path) -> None:
    upload(trained_dir, "models")
    marker = tmp_path / "unpickled"
    plant_trap(tmp_path / "trap.joblib", marker)
    boto3.client("s3").upload_file(
        str(tmp_path / "trap.joblib"),
        BUCKET,
        f"models/{live_key(trained_dir, 'tip', 'model.joblib')}",
    )
    cache = tmp_path / "cache"

    with pytest.raises(IntegrityError):
        ModelStore(f"s3://{BUCKET}/models", cache).load("tip")

    assert not marker.exists()
    assert not list(cache.glob("*.joblib"))


@pytest.mark.usefixtures("aws")
def test_s3_store_lists_and_finds_missing_models(trained_dir: Path, tmp_path: Path) -> None:
    upload(trained_dir, "models")
    boto3.client("s3").delete_object(
        Bucket=BUCKET, Key=f"models/{live_key(trained_dir, 'violence', 'model.joblib')}"
    )
    store = ModelStore(f"s3://{BUCKET}/models", tmp_path)

    assert [m.name for m in store.manifests()] == sorted(MODEL_NAMES)
    assert store.missing(MODEL_NAMES) == ["violence"]


@pytest.mark.usefixtures("aws")
def test_missing_s3_model_tells_the_user_to_train(tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)

    with pytest.raises(ModelError, match="streamjury train"):
        ModelStore(f"s3://{BUCKET}/nothing-here", tmp_path).load("duration")


def test_s3_url_without_a_bucket_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        ModelStore("s3:///models", tmp_path)


def test_s3_client_uses_the_s3_endpoint_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")

    client = default_s3_client()

    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
