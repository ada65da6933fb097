"""The Dockerfiles, the dependency lock, .dockerignore and template.yaml agree with the package.

Fast file-level checks; tests/containers/ builds and runs both images with podman.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from models.store import ModelSettings
from streamjury.ops.envvars import env_names
from streamjury.ops.settings import IMAGE_HTTP_PORT, OpsSettings
from streamjury.settings import BackendSettings

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
LAMBDA_DOCKERFILE = (ROOT / "lambda" / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"
IMAGE_PLATFORM = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "python_version": "3.11",
    "implementation_name": "cpython",
}
"""Environment markers of python:3.11-slim, where the lock is installed."""
DEV_TOOLS = {"pytest", "ruff", "mypy", "moto", "pytest-timeout", "boto3-stubs", "types-pyyaml"}


def instructions(dockerfile: str = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def one(stage: list[tuple[str, str]], op: str) -> str:
    found = [args for name, args in stage if name == op]
    assert len(found) == 1, f"expected one {op}, found {found}"
    return found[0]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in final_stage():
        if op == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_entrypoint_is_the_streamjury_command_in_exec_form() -> None:
    assert json.loads(one(final_stage(), "ENTRYPOINT")) == ["streamjury"]


def test_it_is_a_multi_stage_build_ending_on_python_311_slim() -> None:
    froms = [args for op, args in instructions() if op == "FROM"]
    assert len(froms) == 2
    assert froms[0] == "${PYTHON_IMAGE} AS builder"
    assert froms[1] == "${PYTHON_IMAGE}"
    assert instructions()[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")


def test_the_final_stage_runs_as_an_unprivileged_user() -> None:
    user = one(final_stage(), "USER")
    assert user.split(":")[0] not in ("root", "0")


def test_the_healthcheck_runs_the_probe_module_on_its_own_port() -> None:
    healthcheck = one(final_stage(), "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command == ["python", "-m", "streamjury.ops.probe"]
    probe = subprocess.run(
        [sys.executable, *command[1:], "--help"], capture_output=True, text=True, timeout=30
    )
    assert probe.returncode == 0, probe.stderr
    assert image_env()["STREAMJURY_HTTP_PORT"] == str(IMAGE_HTTP_PORT)
    assert one(final_stage(), "EXPOSE") == str(IMAGE_HTTP_PORT)


def test_the_image_serves_its_endpoints_on_every_interface() -> None:
    assert image_env()["STREAMJURY_HTTP_HOST"] == "0.0.0.0"


def test_every_streamjury_variable_of_the_image_is_read_by_a_settings_model() -> None:
    known = set(env_names(OpsSettings)) | set(env_names(ModelSettings))
    known |= set(env_names(BackendSettings))
    ours = {key for key in image_env() if key.startswith("STREAMJURY_")}
    assert ours - known == set()
    assert image_env()["STREAMJURY_MODELS"] == "/opt/streamjury/models"


def test_models_are_trained_at_build_time_into_the_folder_the_image_reads() -> None:
    runs = [args for op, args in instructions() if op == "RUN"]
    assert any(args.startswith("streamjury train --out /opt/streamjury/models") for args in runs)
    copies = [args for op, args in final_stage() if op == "COPY"]
    assert "--from=builder /opt/streamjury/models /opt/streamjury/models" in copies


def test_every_package_pyproject_ships_is_copied_into_the_build() -> None:
    copied = {
        source.rstrip("/")
        for op, args in instructions()
        if op == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    }
    packages = {
        pattern.rstrip("*")
        for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= copied


def test_dockerignore_keeps_out_the_venv_and_caches_but_nothing_the_build_copies() -> None:
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert {".venv", ".git", ".cache", "tests"} <= set(patterns)
    for op, args in instructions():
        if op == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                name = source.rstrip("/")
                assert not any(fnmatch(name, p) for p in patterns), f"{name} is ignored"


def test_the_lock_pins_every_dependency_at_a_version_pyproject_allows() -> None:
    pins = lock_pins()
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(IMAGE_PLATFORM):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_lock_has_no_dev_tools_and_not_the_package_itself() -> None:
    pins = lock_pins()
    assert not {canonicalize_name(tool) for tool in DEV_TOOLS} & set(pins)
    assert "streamjury" not in pins


def test_no_dockerfile_pulls_a_syntax_frontend() -> None:
    for text in (DOCKERFILE, LAMBDA_DOCKERFILE):
        assert "# syntax=" not in text


def ignored(name: str) -> bool:
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return any(fnmatch(name, pattern) for pattern in patterns)


def test_the_lambda_image_copies_only_what_the_build_context_keeps() -> None:
    """template.yaml and the docs build it with the repository root as context."""
    for op, args in instructions(LAMBDA_DOCKERFILE):
        if op == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_the_lambda_image_defaults_to_an_amazon_linux_2023_python_runtime() -> None:
    steps = instructions(LAMBDA_DOCKERFILE)
    base = steps[0]
    assert base[0] == "ARG"
    name, _, image = base[1].partition("=")
    assert name == "BASE_IMAGE"
    repository, _, tag = image.partition(":")
    assert repository == "public.ecr.aws/lambda/python"
    assert tuple(int(part) for part in tag.split(".")) >= (3, 12)  # 3.12+ images are AL2023


def test_the_lambda_models_are_trained_in_the_build_and_copied_from_it() -> None:
    steps = instructions(LAMBDA_DOCKERFILE)
    runs = [args for op, args in steps if op == "RUN"]
    assert any(args.startswith("streamjury train --out /opt/streamjury/models") for args in runs)
    copies = [args for op, args in steps if op == "COPY"]
    assert "--from=builder /opt/streamjury/models /var/task/model-artifacts" in copies


def test_the_lambda_image_installs_the_locked_versions() -> None:
    runs = [args for op, args in instructions(LAMBDA_DOCKERFILE) if op == "RUN"]
    assert "pip install --no-deps --requirement requirements.lock" in runs
    assert any("requirements.lock" in r and "--target /opt/function" in r for r in runs)


def template_functions() -> dict[str, dict[str, object]]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node)}
        return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tagged)
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_function_runs_the_one_image_and_none_builds_its_own() -> None:
    functions = template_functions()
    assert len(functions) == 5
    for name, function in functions.items():
        assert "Metadata" not in function, f"{name} would build an image of its own"
        properties = function["Properties"]
        assert isinstance(properties, dict)
        assert properties["PackageType"] == "Image"
        assert properties["ImageUri"] == {"Ref": "ImageUri"}
