"""docker-compose.yml itself, run with podman-compose as far as this machine allows.

The broker, Kinesis, Prometheus and Grafana images come from registries we cannot reach, so
``up`` is not run; the streamjury services run from the image the tier built.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.containers.podman import ROOT, podman_env

COMPOSE_FILE = ROOT / "docker-compose.yml"


def podman_compose() -> str:
    found = shutil.which("podman-compose") or str(Path(sys.executable).with_name("podman-compose"))
    if not Path(found).exists():
        raise RuntimeError("podman-compose is not installed (pip install -e '.[dev]')")
    return found


def compose(image: str, *args: str) -> str:
    done = subprocess.run(
        [podman_compose(), "-f", str(COMPOSE_FILE), *args],
        env={**podman_env(), "STREAMJURY_IMAGE": image},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


@pytest.fixture
def project(service_image: str) -> Iterator[str]:
    yield service_image
    compose(service_image, "down")  # the project's network, and any container left behind


def test_podman_compose_resolves_every_default_service_of_the_file(project: str) -> None:
    resolved = yaml.safe_load(compose(project, "config"))
    written = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    # Services behind a profile (producer, kinesis, monitoring) are left out until enabled.
    default = {name for name, spec in written["services"].items() if "profiles" not in spec}
    assert set(resolved["services"]) == default
    for name in ("duration", "decision", "init-streams"):
        assert resolved["services"][name]["image"] == project


@pytest.mark.parametrize(
    ("service", "command"),
    [("duration", ["consume", "--check", "duration"]), ("decision", ["decide"])],
)
def test_a_compose_service_runs_in_the_image_with_the_environment_compose_gives_it(
    project: str, service: str, command: list[str]
) -> None:
    """``podman-compose run`` of the service's own definition: what the service would run
    with, as the settings model inside the container builds it."""
    shown = compose(
        project, "run", "--rm", "--no-deps", service, "config", "show", *command, "--format", "json"
    )
    settings = json.loads(shown[shown.index("{") :])
    assert settings["kafka"]["bootstrap"] == "kafka:9092"
    assert settings["kafka"]["partitions"] == 6
    assert settings["http_port"] == 9108
    if service == "decision":
        assert settings["retention_s"] == 3600.0
