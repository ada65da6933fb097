"""Fixtures of the container tier: the base image and each streamjury image, built once a session.

Builds use podman's layer cache, so a rerun with unchanged sources takes seconds. Build times
and image sizes are written to the session's output folder for docs/operations.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.containers.base_image import ensure_base_image
from tests.containers.emulator import ensure_emulator
from tests.containers.podman import Build, available, build, image_size_bytes

SERVICE_IMAGE = "localhost/streamjury:test"
LAMBDA_IMAGE = "localhost/streamjury-lambda:test"


@pytest.fixture(scope="session")
def container_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("container-builds")


@pytest.fixture(scope="session")
def base_image() -> str:
    """localhost/debian-python:bookworm, made from Debian packages (no registry is reachable)."""
    if not available():  # an error, not a skip: a tier that silently skips proves nothing
        raise RuntimeError("podman is not installed: `make test-containers` installs it")
    return ensure_base_image()


def report(container_logs: Path, built: Build) -> None:
    line = {"image": built.tag, "build_s": round(built.seconds, 1)}
    line["size_bytes"] = image_size_bytes(built.tag)
    with (container_logs / "builds.jsonl").open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(line) + "\n")
    print(f"built {json.dumps(line)}")  # in -rA / -s output for the docs' figures


@pytest.fixture(scope="session")
def service_image(base_image: str, container_logs: Path) -> str:
    """The Dockerfile at the repository root, on the Debian base."""
    built = build(
        SERVICE_IMAGE,
        build_args={"PYTHON_IMAGE": base_image},
        log=container_logs / "service-build.log",
    )
    report(container_logs, built)
    return SERVICE_IMAGE


@pytest.fixture(scope="session")
def lambda_image(base_image: str, service_image: str, container_logs: Path) -> str:
    """lambda/Dockerfile's ``emulated`` target on the Debian base: AWS's runtime interface
    client from PyPI stands in for AWS's base image. Built after the service image, whose
    builder layers it reuses."""
    built = build(
        LAMBDA_IMAGE,
        dockerfile="lambda/Dockerfile",
        build_args={"BASE_IMAGE": base_image},
        target="emulated",
        log=container_logs / "lambda-build.log",
    )
    report(container_logs, built)
    return LAMBDA_IMAGE


@pytest.fixture(scope="session")
def lambda_emulator() -> Path:
    """AWS's Lambda Runtime Interface Emulator, built from its Go module (cached under .cache/)."""
    return ensure_emulator()
