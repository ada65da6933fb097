"""The zip package: self-contained handler code plus exactly the check's models, reproducibly.

The package is unzipped and its handler run in a fresh interpreter, as Lambda would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from consumers.registry import get_check
from streamjury.deploy.artifact import BAKED_MODELS, build_zip
from streamjury.esm.config import MappingSettings
from tests.unit.lambda_.support import EVENTS_DIR


def test_the_zip_holds_the_code_and_only_the_models_its_check_loads(
    models_dir: Path, tmp_path: Path
) -> None:
    package = build_zip(get_check("nsfw"), tmp_path, models=models_dir)

    names = zipfile.ZipFile(package.path).namelist()
    assert "consumers/lambda_handler.py" in names
    assert "streamjury/schemas.py" in names
    assert "models/store.py" in names
    assert package.models == ("nsfw",)
    baked = sorted(name for name in names if name.startswith(f"{BAKED_MODELS}/"))
    assert baked == [f"{BAKED_MODELS}/nsfw/manifest.json", f"{BAKED_MODELS}/nsfw/model.joblib"]
    assert not any("__pycache__" in name for name in names)


def test_building_twice_gives_the_same_bytes_so_a_redeploy_uploads_nothing(
    models_dir: Path, tmp_path: Path
) -> None:
    first = build_zip(get_check("duration"), tmp_path / "a", models=models_dir)
    second = build_zip(get_check("duration"), tmp_path / "b", models=models_dir)

    assert first.content == second.content
    assert first.code_sha256 == second.code_sha256


def test_the_unzipped_package_runs_the_handler_on_its_own(models_dir: Path, tmp_path: Path) -> None:
    package = build_zip(get_check("duration"), tmp_path / "build", models=models_dir)
    task_root = tmp_path / "task"
    zipfile.ZipFile(package.path).extractall(task_root)
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(task_root)!r})\n"
        "from consumers import lambda_handler\n"
        f"assert lambda_handler.__file__.startswith({str(task_root)!r}), lambda_handler.__file__\n"
        f"event = json.load(open({str(EVENTS_DIR / 'kinesis-rides.json')!r}))\n"
        "print(json.dumps(lambda_handler.handler(event, None)))\n"
    )
    env = {
        **os.environ,
        "STREAMJURY_CHECK": "duration",
        "STREAMJURY_MODELS": str(task_root / BAKED_MODELS),
        "STREAMJURY_MODEL_CACHE": str(tmp_path / "cache"),
        "STREAMJURY_DRY_RUN": "1",
    }

    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout.splitlines()[-1])
    assert response["batchItemFailures"] == []
    assert len(response["verdicts"]) == 6


def test_mapping_settings_translate_to_the_aws_api_names() -> None:
    settings = MappingSettings(batch_size=7, report_batch_item_failures=False)

    assert settings.to_aws() == {
        "BatchSize": 7,
        "MaximumBatchingWindowInSeconds": 1,
        "StartingPosition": "TRIM_HORIZON",
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 5,
        "MaximumRecordAgeInSeconds": 3600,
        "FunctionResponseTypes": [],
    }


@pytest.mark.parametrize("age", [0, 59, -2, 604_801])
def test_a_maximum_record_age_aws_would_refuse_is_refused_here(age: int) -> None:
    with pytest.raises(ValidationError, match="max_record_age_s"):
        MappingSettings(max_record_age_s=age)
