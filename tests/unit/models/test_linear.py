"""The ride models serve from their coefficients alone: same predictions as scikit-learn, no
scikit-learn, scipy or joblib imported to load and serve them, and older artifacts still load."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge

from models.features import ride_design, ride_design_matrix
from models.linear import LinearTerms
from models.manifest import Manifest, sha256_file
from models.rides import DurationRegressor, TipRegressor
from models.store import ModelStore, load_typed
from models.train import ride_data
from streamjury.errors import ModelError
from tests.unit.models.support import live_file

ROWS = 3_000


@pytest.fixture(scope="module")
def rides() -> tuple[object, np.ndarray, np.ndarray]:
    data = ride_data(ROWS, seed=4, tlc_data=None)
    return data.columns, data.duration_minutes, data.tip_amount


def test_gathered_coefficients_equal_the_sparse_product_scikit_learn_computes(rides) -> None:
    columns, minutes, _ = rides
    ridge = Ridge(alpha=3.0).fit(ride_design_matrix(columns), np.log1p(minutes))
    ours = LinearTerms.of(ridge).predict(ride_design(columns))
    np.testing.assert_allclose(ours, ridge.predict(ride_design_matrix(columns)), rtol=1e-10)


def test_duration_predicts_what_the_transformed_target_regressor_did(rides) -> None:
    columns, minutes, _ = rides
    reference = TransformedTargetRegressor(
        regressor=Ridge(alpha=3.0), func=np.log1p, inverse_func=np.expm1
    ).fit(ride_design_matrix(columns), minutes)
    ours = DurationRegressor(alpha=3.0).fit(columns, minutes).predict(columns)
    expected = np.maximum(reference.predict(ride_design_matrix(columns)), 0.0)
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


def test_a_legacy_pickle_holding_the_sklearn_estimator_serves_identical_predictions(rides) -> None:
    columns, minutes, tips = rides
    legacy_duration = DurationRegressor.__new__(DurationRegressor)
    legacy_duration.__dict__["estimator"] = TransformedTargetRegressor(
        regressor=Ridge(alpha=3.0), func=np.log1p, inverse_func=np.expm1
    ).fit(ride_design_matrix(columns), minutes)
    legacy_tip = TipRegressor.__new__(TipRegressor)
    tipped = ~TipRegressor.untipped(columns)
    legacy_tip.__dict__["estimator"] = Ridge(alpha=3.0).fit(
        ride_design_matrix(columns.take(tipped)), tips[tipped]
    )

    duration = pickle.loads(pickle.dumps(legacy_duration))
    tip = pickle.loads(pickle.dumps(legacy_tip))

    assert "estimator" not in duration.__dict__
    assert duration.terms is not None
    fresh_duration = DurationRegressor(alpha=3.0).fit(columns, minutes)
    np.testing.assert_allclose(duration.predict(columns), fresh_duration.predict(columns))
    np.testing.assert_allclose(
        tip.predict(columns), TipRegressor(alpha=3.0).fit(columns, tips).predict(columns)
    )


def test_a_model_for_another_feature_layout_is_refused_with_what_to_do(rides) -> None:
    columns, minutes, _ = rides
    model = DurationRegressor().fit(columns, minutes)
    assert model.terms is not None
    model.terms = LinearTerms(coef=model.terms.coef[:-1], intercept=model.terms.intercept)
    with pytest.raises(ModelError, match="retrain"):
        model.predict(columns)


def test_an_artifact_written_by_joblib_before_the_serializer_field_still_loads(
    models_copy: Path,
) -> None:
    manifest_path = live_file(models_copy, "duration", "manifest.json")
    artifact_path = live_file(models_copy, "duration", "model.joblib")
    model = load_typed(ModelStore(models_copy), "duration", DurationRegressor)
    joblib.dump(model, artifact_path)
    manifest = json.loads(manifest_path.read_text())
    del manifest["serializer"]  # as earlier releases wrote it
    manifest["sha256"] = sha256_file(artifact_path)
    manifest_path.write_text(json.dumps(manifest))
    assert Manifest.read(manifest_path).serializer == "joblib"

    reloaded = load_typed(ModelStore(models_copy), "duration", DurationRegressor)

    assert reloaded.terms is not None
    assert model.terms is not None
    np.testing.assert_array_equal(reloaded.terms.coef, model.terms.coef)


SERVE_A_RIDE_BATCH = """
import json, sys
from bench.lambda_bench import kinesis_event
from producers.synthetic import generate_rides
from streamjury.streams.base import OutRecord
rides = [OutRecord(r.event.event_id, r.event.to_bytes()) for r in generate_rides(3, 20)]
event = kinesis_event(rides, "rides")
from consumers.lambda_handler import handler
response = handler(event, None)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "joblib"})
print(json.dumps({"verdicts": len(response["verdicts"]), "heavy": heavy}))
"""


@pytest.mark.parametrize("check", ["duration", "tip"])
def test_a_lambda_serving_a_ride_check_never_imports_sklearn_scipy_or_joblib(
    trained_dir: Path, tmp_path: Path, check: str
) -> None:
    """Most of a cold start was importing scikit-learn (and scipy.stats through it)."""
    env = {
        "STREAMJURY_CHECK": check,
        "STREAMJURY_MODELS": str(trained_dir),
        "STREAMJURY_DRY_RUN": "true",
        "STREAMJURY_MODEL_CACHE": str(tmp_path / "cache"),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVE_A_RIDE_BATCH],
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures == {"verdicts": 20, "heavy": []}
