"""Versions and aliases in one location: training adds a version, promote and rollback move an alias.

Local folders and S3 (moto) behave the same; a concurrent alias change is refused, never lost.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from models.aliases import AliasConflict
from models.blobs import LocalBlobs, S3Blobs
from models.rides import DurationRegressor
from models.store import ModelStore, default_s3_client
from streamjury.errors import ConfigError, IntegrityError, ModelError
from tests.unit.models.support import add_version, live_file

BUCKET = "streamjury-versions-test"


def make_legacy(location: Path, name: str) -> str:
    """Rewrite ``name`` in the single-version layout: files beside each other, no aliases."""
    manifest_path = live_file(location, name, "manifest.json")
    version = str(json.loads(manifest_path.read_text())["version"])
    shutil.copy(manifest_path, location / name / "manifest.json")
    shutil.copy(manifest_path.parent / "model.joblib", location / name / "model.joblib")
    shutil.rmtree(location / name / "versions")
    (location / name / "aliases.json").unlink()
    return version


def test_a_fresh_location_serves_its_first_version_as_production(models_copy: Path) -> None:
    store = ModelStore(models_copy)

    assert store.aliases("duration").target("production") == store.version("duration")
    assert isinstance(store.load("duration"), DurationRegressor)


def test_the_single_version_layout_still_loads_and_counts_as_production(models_copy: Path) -> None:
    version = make_legacy(models_copy, "duration")

    store = ModelStore(models_copy)

    assert store.version("duration") == version
    assert isinstance(store.load("duration"), DurationRegressor)
    assert [m.version for m in store.versions("duration")] == [version]


def test_a_new_version_does_not_move_production_until_promoted(models_copy: Path) -> None:
    live = ModelStore(models_copy).version("duration")
    add_version(models_copy, "duration", "duration-v2")

    before = ModelStore(models_copy).version("duration")
    change = ModelStore(models_copy).promote("duration", "duration-v2")
    after = ModelStore(models_copy).version("duration")

    assert before == live
    assert (change.before, change.after) == (live, "duration-v2")
    assert after == "duration-v2"
    assert [m.version for m in ModelStore(models_copy).versions("duration")] == [
        live,
        "duration-v2",
    ]


def test_rollback_returns_the_alias_to_its_previous_version(models_copy: Path) -> None:
    live = ModelStore(models_copy).version("tip")
    add_version(models_copy, "tip", "tip-v2")
    store = ModelStore(models_copy)
    store.promote("tip", "tip-v2")

    change = store.rollback("tip")

    assert change.after == live
    assert ModelStore(models_copy).version("tip") == live
    with pytest.raises(ModelError, match="no earlier version"):
        store.rollback("tip")


def test_promoting_a_legacy_model_keeps_its_version_to_roll_back_to(models_copy: Path) -> None:
    legacy = make_legacy(models_copy, "nsfw")
    add_version(models_copy, "nsfw", "nsfw-v2")
    store = ModelStore(models_copy)

    promoted = store.promote("nsfw", "nsfw-v2")
    rolled_back = store.rollback("nsfw")

    assert promoted.before == legacy
    assert rolled_back.after == legacy
    assert ModelStore(models_copy).version("nsfw") == legacy


def test_any_alias_can_name_a_version_and_be_served(models_copy: Path) -> None:
    add_version(models_copy, "duration", "duration-v2")
    ModelStore(models_copy).promote("duration", "duration-v2", alias="candidate")

    assert ModelStore(models_copy, ref="candidate").version("duration") == "duration-v2"
    assert ModelStore(models_copy, ref="duration-v2").version("duration") == "duration-v2"
    assert ModelStore(models_copy).version("duration") != "duration-v2"


def test_a_tampered_version_cannot_be_promoted(models_copy: Path) -> None:
    add_version(models_copy, "tip", "tip-v2")
    (models_copy / "tip" / "versions" / "tip-v2" / "model.joblib").write_bytes(b"not the model")
    live = ModelStore(models_copy).version("tip")

    with pytest.raises(IntegrityError):
        ModelStore(models_copy).promote("tip", "tip-v2")

    assert ModelStore(models_copy).version("tip") == live


def test_unknown_versions_and_bad_names_are_one_line_errors(models_copy: Path) -> None:
    store = ModelStore(models_copy)

    with pytest.raises(ModelError, match="models list"):
        store.promote("tip", "tip-does-not-exist")
    with pytest.raises(ConfigError, match="not a model version"):
        store.promote("tip", "../duration")
    with pytest.raises(ConfigError, match="alias"):
        store.promote("tip", store.version("tip"), alias="Not An Alias")


def test_a_view_keeps_its_version_until_refreshed(models_copy: Path) -> None:
    store = ModelStore(models_copy)
    first = store.version("duration")
    add_version(models_copy, "duration", "duration-v2")
    ModelStore(models_copy).promote("duration", "duration-v2")

    assert store.version("duration") == first
    assert store.refreshed().version("duration") == "duration-v2"


def test_a_local_alias_written_by_someone_else_in_between_is_a_conflict(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    blobs.write("m/aliases.json", b"first")
    _, token = blobs.read_for_update("m/aliases.json")
    blobs.write("m/aliases.json", b"someone else")

    with pytest.raises(AliasConflict):
        blobs.write_if("m/aliases.json", b"mine", token)
    with pytest.raises(AliasConflict):
        blobs.write_if("m/aliases.json", b"mine", None)  # expected nothing there

    assert blobs.read("m/aliases.json") == b"someone else"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield


def upload(folder: Path, prefix: str) -> None:
    s3 = boto3.client("s3")
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            s3.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.mark.usefixtures("aws")
def test_s3_promote_and_rollback_move_the_alias(models_copy: Path, tmp_path: Path) -> None:
    live = ModelStore(models_copy).version("duration")
    add_version(models_copy, "duration", "duration-v2")
    upload(models_copy, "team/models")
    store = ModelStore(f"s3://{BUCKET}/team/models", tmp_path / "cache")

    store.promote("duration", "duration-v2")
    promoted = store.refreshed().version("duration")
    store.rollback("duration")

    assert promoted == "duration-v2"
    assert store.refreshed().version("duration") == live
    assert isinstance(store.refreshed().load("duration"), DurationRegressor)


@pytest.mark.usefixtures("aws")
def test_s3_alias_write_is_conditional_on_the_etag_read(tmp_path: Path) -> None:
    blobs = S3Blobs(f"s3://{BUCKET}/models", tmp_path, default_s3_client)
    blobs.write("m/aliases.json", b"first")
    _, etag = blobs.read_for_update("m/aliases.json")
    blobs.write("m/aliases.json", b"someone else")

    with pytest.raises(AliasConflict):
        blobs.write_if("m/aliases.json", b"mine", etag)
    with pytest.raises(AliasConflict):
        blobs.write_if("m/aliases.json", b"mine", None)

    assert blobs.read("m/aliases.json") == b"someone else"
    _, current = blobs.read_for_update("m/aliases.json")
    blobs.write_if("m/aliases.json", b"mine", current)
    assert blobs.read("m/aliases.json") == b"mine"
