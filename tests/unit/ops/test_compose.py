"""docker-compose.yml runs real streamjury commands with settings the services really read.

There is no Docker engine here: the file is parsed, each command is parsed by the real click
tree and run with ``--help``, and each variable is fed through the real settings models.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic_settings import BaseSettings

from consumers.registry import CHECKS
from streamjury.cli.config import SERVICES
from streamjury.cli.main import cli
from streamjury.devservers.kafka import DEFAULT_BROKER_PROPERTIES, KAFKA_VERSION
from streamjury.devservers.kinesis import KINESIS_LOCAL_VERSION
from streamjury.ops.envvars import env_names
from streamjury.ops.settings import IMAGE_HTTP_PORT
from streamjury.settings import BackendSettings
from tests.unit.ops.compose_file import COMPOSE_FILE, VARIABLE, environment, load_compose

STREAMJURY = Path(sys.executable).with_name("streamjury")
COMPOSE = load_compose()
SERVICES_IN_COMPOSE: dict[str, dict[str, Any]] = COMPOSE["services"]
IMAGE = SERVICES_IN_COMPOSE["duration"]["image"]
OURS = sorted(name for name, svc in SERVICES_IN_COMPOSE.items() if svc.get("image") == IMAGE)
"""Services that run the streamjury image."""
ON_KAFKA = sorted(n for n in OURS if "kinesis" not in SERVICES_IN_COMPOSE[n].get("profiles", []))
LONG_RUNNING = sorted(name for name in OURS if SERVICES_IN_COMPOSE[name].get("restart") != "no")
SETTINGS_OF: dict[str, type[BaseSettings]] = {
    **{name: spec.model() for name, spec in SERVICES.items()},
    "streams": BackendSettings,
}
"""Top-level command -> the settings model it builds."""


def command_path(args: list[str]) -> tuple[list[click.Command], list[str]]:
    """The click commands ``args`` names, root first, and the arguments left for the last."""
    commands: list[click.Command] = [cli]
    rest = list(args)
    ctx = click.Context(cli, info_name="streamjury")
    while isinstance(commands[-1], click.Group):
        group = commands[-1]
        assert rest, f"{' '.join(args)!r} stops at a group"
        name, *rest = rest
        command = group.get_command(ctx, name)
        assert command is not None, f"streamjury has no command {name!r} (in {' '.join(args)!r})"
        commands.append(command)
        ctx = click.Context(command, info_name=name, parent=ctx)
    return commands, rest


def cli_envvars(commands: list[click.Command]) -> set[str]:
    """Env vars click itself reads along the path (``STREAMJURY_LOG_LEVEL`` on the root)."""
    names: set[str] = set()
    for command in commands:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def test_the_file_is_a_compose_model_with_no_version_key() -> None:
    assert COMPOSE_FILE.is_file()
    assert "version" not in COMPOSE  # obsolete in the Compose spec; Compose warns about it
    assert COMPOSE["name"] == "streamjury"


def test_every_variable_has_a_default_so_no_env_file_is_needed() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    undefaulted = [m[0] for m in VARIABLE.finditer(text) if m["default"] is None]
    assert undefaulted == []


def test_the_broker_is_the_apache_kafka_image_the_tests_pin() -> None:
    assert SERVICES_IN_COMPOSE["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_the_kinesis_endpoint_is_the_kinesis_mock_version_the_tests_pin() -> None:
    kinesis = SERVICES_IN_COMPOSE["kinesis"]
    assert kinesis["image"] == f"ghcr.io/etspaceman/kinesis-mock:{KINESIS_LOCAL_VERSION}"
    assert kinesis["profiles"] == ["kinesis"]


def test_the_broker_is_a_single_kraft_node_with_the_dev_brokers_replication_settings() -> None:
    env = environment(SERVICES_IN_COMPOSE["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    shared = [
        key
        for key in DEFAULT_BROKER_PROPERTIES
        if any(
            part in key
            for part in (
                "replication.factor",
                "min.isr",
                "min.insync",
                "initial.rebalance",
                "auto.create",
            )
        )
        and not key.startswith("offsets.topic.num")
    ]
    assert len(shared) >= 8
    for key in shared:
        variable = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(variable) == DEFAULT_BROKER_PROPERTIES[key], variable


def test_services_reach_the_broker_on_its_advertised_in_network_listener() -> None:
    kafka = environment(SERVICES_IN_COMPOSE["kafka"])
    for name in ON_KAFKA:
        bootstrap = environment(SERVICES_IN_COMPOSE[name])["STREAMJURY_KAFKA_BOOTSTRAP"]
        assert f"PLAINTEXT://{bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_streams_get_the_partition_count_the_broker_defaults_to() -> None:
    kafka = environment(SERVICES_IN_COMPOSE["kafka"])
    for name in ON_KAFKA:
        env = environment(SERVICES_IN_COMPOSE[name])
        assert env["STREAMJURY_KAFKA_PARTITIONS"] == kafka["KAFKA_NUM_PARTITIONS"]


def test_there_is_one_scalable_consumer_service_per_check() -> None:
    consumers = {
        name: svc
        for name, svc in SERVICES_IN_COMPOSE.items()
        if svc.get("command", [""])[0] == "consume"
    }
    assert sorted(consumers) == sorted(CHECKS)
    for name, service in consumers.items():
        assert service["command"][:2] == ["consume", name]
        assert "container_name" not in service, f"{name}: a fixed name stops --scale"
        assert "ports" not in service, f"{name}: a fixed host port stops --scale"
        assert "profiles" not in service


def test_the_decision_service_and_a_stream_initialiser_are_part_of_the_default_pipeline() -> None:
    assert SERVICES_IN_COMPOSE["decision"]["command"][0] == "decide"
    init = SERVICES_IN_COMPOSE["init-streams"]
    assert init["restart"] == "no"
    assert "profiles" not in init
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_the_kinesis_profile_runs_a_check_as_lambda_on_its_own_streams() -> None:
    runner = SERVICES_IN_COMPOSE["lambda-duration"]
    init = SERVICES_IN_COMPOSE["kinesis-init"]
    assert runner["command"][:3] == ["lambda", "run", "duration"]
    assert init["command"] == ["streams", "create", "--backend", "kinesis"]
    for service in (runner, init):
        assert service["profiles"] == ["kinesis"]
        assert not any(key.startswith("STREAMJURY_KAFKA_") for key in environment(service))
    assert init["depends_on"]["kinesis"]["condition"] == "service_healthy"


def test_producers_only_run_under_the_producer_profile() -> None:
    producers = [
        n for n, svc in SERVICES_IN_COMPOSE.items() if svc.get("command", [""])[0] == "produce"
    ]
    assert sorted(producers) == ["produce-rides", "produce-uploads"]
    for name in producers:
        assert SERVICES_IN_COMPOSE[name]["profiles"] == ["producer"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_wait_for_the_streams_and_are_health_checked(name: str) -> None:
    service = SERVICES_IN_COMPOSE[name]
    (initialiser,) = service["depends_on"]
    assert SERVICES_IN_COMPOSE[initialiser]["command"][:2] == ["streams", "create"]
    assert service["depends_on"][initialiser]["condition"] == "service_completed_successfully"
    assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "streamjury.ops.probe"]
    assert service["expose"] == [str(IMAGE_HTTP_PORT)]
    assert service["restart"] == "on-failure"


def test_every_dependency_exists_and_can_satisfy_its_condition() -> None:
    for name, service in SERVICES_IN_COMPOSE.items():
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):
            depends_on = {target: {"condition": "service_started"} for target in depends_on}
        for target, rule in depends_on.items():
            assert target in SERVICES_IN_COMPOSE, f"{name} depends on unknown {target}"
            dependency = SERVICES_IN_COMPOSE[target]
            # A dependency must be enabled whenever the dependent is.
            assert set(dependency.get("profiles", [])) <= set(service.get("profiles", [])), name
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "test" in dependency.get("healthcheck", {}), f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert dependency.get("restart") == "no", f"{target} must be a one-shot job"


def test_one_shot_jobs_do_not_inherit_the_images_health_check() -> None:
    for name in OURS:
        service = SERVICES_IN_COMPOSE[name]
        if service.get("restart") == "no":
            assert service["healthcheck"] == {"disable": True}, name


@pytest.mark.parametrize("name", OURS)
def test_each_command_parses_in_the_real_click_tree(name: str) -> None:
    args = SERVICES_IN_COMPOSE[name]["command"]
    commands, rest = command_path(args)
    leaf = commands[-1]
    ctx = leaf.make_context(args[len(args) - len(rest) - 1], list(rest), resilient_parsing=False)
    assert not ctx.args, f"{name}: unexpected arguments {ctx.args}"


@pytest.mark.parametrize("name", OURS)
def test_each_command_runs_as_the_image_entrypoint_would(name: str) -> None:
    """``streamjury ARGS --help``: the installed console script, as ENTRYPOINT runs it."""
    args = SERVICES_IN_COMPOSE[name]["command"]
    result = subprocess.run(
        [str(STREAMJURY), *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STREAMJURY_LOG_LEVEL": "WARNING"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: streamjury ")


@pytest.mark.parametrize("name", OURS)
def test_every_streamjury_variable_is_one_the_command_reads(name: str) -> None:
    service = SERVICES_IN_COMPOSE[name]
    commands, _ = command_path(service["command"])
    known = set(env_names(SETTINGS_OF[service["command"][0]])) | cli_envvars(commands)
    ours = {key for key in environment(service) if key.startswith("STREAMJURY_")}
    assert ours
    assert ours - known == set()


@pytest.mark.parametrize("name", OURS)
def test_every_streamjury_variable_reaches_its_setting(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings model built in the container's environment holds the compose values."""
    service = SERVICES_IN_COMPOSE[name]
    settings_type = SETTINGS_OF[service["command"][0]]
    for key in list(os.environ):
        if key.startswith(("STREAMJURY_", "AWS_")):
            monkeypatch.delenv(key)
    env = environment(service)
    for key, text in env.items():
        monkeypatch.setenv(key, text)
    _, arguments = command_path(service["command"])
    given = {"check": arguments[0]} if "check" in settings_type.model_fields else {}

    dumped = settings_type.model_validate(given).model_dump(mode="json")

    for variable, path in env_names(settings_type).items():
        if variable in env:
            value: Any = dumped
            for part in path.split("."):
                value = value[part]  # a nested settings model dumps as a dict
            assert same(env[variable], value), f"{variable}={env[variable]!r} gave {value!r}"


def same(text: str, value: Any) -> bool:
    if isinstance(value, bool):
        return (text.lower() in ("1", "true", "yes", "on")) == value
    if isinstance(value, int | float):
        return float(text) == float(value)
    return text == str(value)
