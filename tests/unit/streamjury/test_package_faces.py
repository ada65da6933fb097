"""Each package's face: ``__all__`` names resolve to the real objects, and importing is free.

A face that imported its modules eagerly would load scikit-learn, boto3 or confluent-kafka.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = [
    "consumers",
    "decision",
    "models",
    "producers",
    "streamjury.streams",
    "streamjury.streams.local",
    "streamjury.streams.kafka",
    "streamjury.streams.kinesis",
    "streamjury.streams.kinesis.checkpoints",
]
HEAVY = ("sklearn", "joblib", "numpy", "boto3", "botocore", "confluent_kafka", "prometheus_client")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_is_the_object_its_module_defines(name: str) -> None:
    package = importlib.import_module(name)

    for exported in package.__all__:
        value = getattr(package, exported)
        home = importlib.import_module(getattr(value, "__module__", None) or name)
        assert getattr(home, exported, value) is value, f"{name}.{exported}"


def test_an_unknown_name_is_an_attribute_error() -> None:
    import consumers

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = consumers.NoSuchThing  # type: ignore[attr-defined]


def test_importing_the_packages_loads_no_heavy_library() -> None:
    code = (
        "import sys, streamjury, streamjury.streams, consumers, decision, models, producers; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    ).stdout.strip()

    assert loaded == ""
