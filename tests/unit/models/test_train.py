"""Training: every model is saved with a manifest, and beats a trivial baseline on held-out rows."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import pytest
import sklearn

from models.manifest import Manifest, sha256_file
from models.train import MIN_ROWS, MODEL_NAMES, train_all
from streamjury.errors import ConfigError
from tests.unit.models.support import live_file

REGRESSIONS = ("duration", "tip")
CLASSIFIERS = ("copyright", "nsfw", "violence")


def test_every_model_is_saved_as_artifact_plus_manifest(trained_dir: Path) -> None:
    for name in MODEL_NAMES:
        assert live_file(trained_dir, name, "model.joblib").is_file()
        assert live_file(trained_dir, name, "manifest.json").is_file()


def test_manifest_sha256_is_the_artifact_files_hash(
    trained_dir: Path, manifests: dict[str, Manifest]
) -> None:
    for name in MODEL_NAMES:
        assert manifests[name].sha256 == sha256_file(live_file(trained_dir, name, "model.joblib"))


def test_manifest_version_is_name_timestamp_and_hash_prefix(
    manifests: dict[str, Manifest],
) -> None:
    for name, manifest in manifests.items():
        assert re.fullmatch(rf"{name}-\d{{14}}-{manifest.sha256[:8]}", manifest.version)


def test_manifest_records_library_versions_data_source_and_row_counts(
    manifests: dict[str, Manifest],
) -> None:
    duration = manifests["duration"]

    assert duration.sklearn_version == sklearn.__version__
    assert duration.python_version == platform.python_version()
    assert "synthetic" in duration.data_source
    assert duration.training_rows + duration.held_out_rows == 2_000
    assert duration.features
    assert duration.created_at.tzinfo is not None


@pytest.mark.parametrize("name", REGRESSIONS)
def test_regressions_halve_the_mean_predictors_error(
    manifests: dict[str, Manifest], name: str
) -> None:
    mae = next(m for m in manifests[name].metrics if m.name == "mae")

    assert mae.baseline_kind == "training mean"
    assert mae.value < 0.6 * mae.baseline


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_rank_far_better_than_chance(manifests: dict[str, Manifest], name: str) -> None:
    auc = next(m for m in manifests[name].metrics if m.name == "roc_auc")

    assert auc.baseline == 0.5
    assert auc.value > 0.8


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_probabilities_beat_the_base_rate_brier_score(
    manifests: dict[str, Manifest], name: str
) -> None:
    brier = next(m for m in manifests[name].metrics if m.name == "brier")

    assert brier.beats_baseline


def test_too_few_rows_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"at least {MIN_ROWS}"):
        train_all(tmp_path, rows=MIN_ROWS - 1)
