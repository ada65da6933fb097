"""An MLflow registry as the model location: a real tracking and registry store on local SQLite.

One registry per module (creating its tables takes seconds): ``train --mlflow`` twice, so each
model has version 1 (production) and version 2 (not promoted). Tests restore what they move.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient

from consumers.app import run_consumer
from consumers.registry import get_check
from consumers.rollout import ModelRollout
from consumers.settings import ConsumerSettings
from models.mlflow_blobs import _without_credentials
from models.rides import DurationRegressor
from models.store import ModelStore
from models.train import MIN_ROWS
from streamjury.cli.main import main
from streamjury.errors import IntegrityError
from streamjury.schemas import Verdict
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.test_app import StopWhenCommitted, publish_rides, read_all

pytestmark = pytest.mark.usefixtures("restore_root_logging")


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowClient]:
    """A fresh SQLite registry holding two trained versions of every model."""
    folder = tmp_path_factory.mktemp("mlflow")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        env.delenv("MLFLOW_REGISTRY_URI", raising=False)
        env.delenv("STREAMJURY_MODELS", raising=False)
        env.chdir(folder)  # the download cache, .streamjury/model-cache, lands here
        mlflow = MlflowClient()
        mlflow.create_experiment("streamjury", artifact_location=(folder / "artifacts").as_uri())
        assert run("train", "--mlflow", "--rows", str(MIN_ROWS)) == 0
        assert run("train", "--mlflow", "--rows", str(MIN_ROWS), "--seed", "1") == 0
        root.handlers[:] = handlers
        root.setLevel(level)
        yield mlflow


def tag_of(client: MlflowClient, name: str, number: str) -> str:
    return str(client.get_model_version(name, number).tags["streamjury_version"])


def test_train_mlflow_registers_new_versions_and_only_the_first_becomes_production(
    client: MlflowClient,
) -> None:
    numbers = sorted(str(mv.version) for mv in client.search_model_versions("name='duration'"))
    production = client.get_model_version_by_alias("duration", "production")

    assert numbers == ["1", "2"]
    assert str(production.version) == "1"
    assert ModelStore("mlflow:").version("duration") == tag_of(client, "duration", "1")


def test_a_model_loads_by_alias_by_mlflow_number_and_by_streamjury_version(
    client: MlflowClient,
) -> None:
    second = tag_of(client, "duration", "2")

    by_alias = ModelStore("models:/", ref="production").load("duration")
    by_number = ModelStore("mlflow:", ref="2")
    by_version = ModelStore("mlflow:", ref=second)

    assert isinstance(by_alias, DurationRegressor)
    assert by_number.version("duration") == second
    assert by_version.version("duration") == second
    assert isinstance(by_version.load("duration"), DurationRegressor)


def test_an_alias_moved_in_mlflow_is_picked_up_by_a_running_rollout(
    client: MlflowClient,
) -> None:
    rollout = ModelRollout(get_check("duration"), ModelStore("mlflow:"), poll_interval_s=600)
    before = rollout.current().version
    client.set_registered_model_alias("duration", "production", "2")
    try:
        rollout.request_check()
        after = rollout.current().version
    finally:
        client.set_registered_model_alias("duration", "production", "1")

    assert before == tag_of(client, "duration", "1")
    assert after == tag_of(client, "duration", "2")


def test_models_promote_and_rollback_move_the_registry_alias(
    client: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    promoted = run("models", "promote", "nsfw", "2", "--models", "mlflow:")
    after_promote = str(client.get_model_version_by_alias("nsfw", "production").version)
    rolled_back = run("models", "rollback", "nsfw", "--models", "mlflow:")
    after_rollback = str(client.get_model_version_by_alias("nsfw", "production").version)
    listed = run("models", "list", "--models", "mlflow:")

    out = capsys.readouterr().out
    assert (promoted, rolled_back, listed) == (0, 0, 0)
    assert (after_promote, after_rollback) == ("2", "1")
    assert tag_of(client, "nsfw", "2") in out


def test_a_tampered_artifact_in_the_registry_is_refused_before_unpickling(
    client: MlflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = client.get_model_version("tip", "2").run_id
    artifacts = Path(urlparse(client.get_run(run_id).info.artifact_uri).path)
    (artifacts / "model" / "model.joblib").write_bytes(b"not the trained model")

    with pytest.raises(IntegrityError, match="sha256"):
        ModelStore("mlflow:", ref="2").load("tip")
    code = run("models", "promote", "tip", "2", "--models", "mlflow:")

    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "sha256" in err
    assert len(err.splitlines()) == 1
    assert str(client.get_model_version_by_alias("tip", "production").version) == "1"


def test_registry_errors_name_the_tracking_uri_without_its_credentials() -> None:
    message = "API request to https://alice:s3cret@mlflow.example/api failed"

    masked = _without_credentials(message)

    assert "s3cret" not in masked
    assert "https://***@mlflow.example/api" in masked


def test_a_consumer_serving_the_registry_stamps_its_verdicts_with_the_production_version(
    client: MlflowClient,
) -> None:
    backend = MemoryBackend()
    ids = publish_rides(backend, "rides")
    settings = ConsumerSettings.model_validate(
        {"check": "duration", "backend": "memory", "models": "mlflow:"}
    )

    run_consumer(
        settings, StopWhenCommitted(backend, "rides", "streamjury-duration"), backend=backend
    )

    verdicts = [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]
    assert sorted(v.event_id for v in verdicts) == sorted(ids)
    assert {v.model_version for v in verdicts} == {tag_of(client, "duration", "1")}
