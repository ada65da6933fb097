"""Specification of how a demo run is made unique and how its services are started: a fresh
directory on the local backend, a private prefix on brokers, one explicit group per service."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamjury.demo.run import plan_run
from streamjury.demo.services import pipeline_services, service_env
from streamjury.demo.settings import DemoSettings
from streamjury.errors import ConfigError
from streamjury.settings import KafkaSettings, KinesisSettings
from streamjury.streams.names import StreamNames

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CHECKS = ["duration", "tip", "copyright", "nsfw", "violence"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("STREAMJURY_")]:
        monkeypatch.delenv(name)


def flag(args: tuple[str, ...], name: str) -> str:
    return args[args.index(name) + 1]


def test_a_local_run_gets_a_fresh_directory_of_its_own() -> None:
    plan = plan_run(DemoSettings(), NOW, "ab12")

    assert plan.run_dir == Path(".streamjury/demo-20260304-050607-ab12")
    assert plan.settings.local_dir == plan.run_dir
    assert plan.log_dir == plan.run_dir / "logs"
    assert (plan.settings.stream_prefix, plan.group_prefix) == ("", "")


def test_a_local_dir_given_by_the_user_is_used_as_it_is(tmp_path: Path) -> None:
    plan = plan_run(DemoSettings(local_dir=tmp_path / "mine"), NOW, "ab12")

    assert plan.run_dir == tmp_path / "mine"
    assert plan.settings.local_dir == tmp_path / "mine"


def test_a_local_dir_from_the_environment_counts_as_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMJURY_LOCAL_DIR", str(tmp_path / "env"))

    assert plan_run(DemoSettings(), NOW, "ab12").run_dir == tmp_path / "env"


def test_a_broker_run_uses_a_private_stream_and_group_prefix_after_the_users() -> None:
    settings = DemoSettings(backend="kafka", stream_prefix="team.", kafka=KafkaSettings())

    plan = plan_run(settings, NOW, "ab12")

    assert plan.settings.stream_prefix == "team.demo-20260304-050607-ab12-"
    assert plan.group_prefix == plan.settings.stream_prefix
    assert (
        StreamNames(plan.settings.stream_prefix).decisions
        == "team.demo-20260304-050607-ab12-decisions"
    )
    assert plan.run_dir == Path(".streamjury/demo-20260304-050607-ab12")


def test_the_memory_backend_cannot_span_processes() -> None:
    with pytest.raises(ConfigError, match="memory backend"):
        plan_run(DemoSettings(backend="memory"), NOW, "ab12")


def test_five_consumers_each_in_its_own_group_then_the_decision_service(tmp_path: Path) -> None:
    settings = DemoSettings(local_dir=tmp_path / "log")

    specs = pipeline_services(settings, "/models", group_prefix="x-", log_level="WARNING")

    assert [spec.name for spec in specs] == [*CHECKS, "decision"]
    for spec, check in zip(specs[:-1], CHECKS, strict=True):
        assert spec.args[:4] == ("--log-level", "WARNING", "consume", check)
        assert flag(spec.args, "--group") == f"x-streamjury-{check}"
        assert flag(spec.args, "--models") == "/models"
        assert "--from-beginning" in spec.args
    decision = specs[-1].args
    assert decision[2] == "decide"
    assert flag(decision, "--group") == "x-streamjury-decision"
    for spec in specs:
        assert flag(spec.args, "--backend") == "local"
        assert flag(spec.args, "--local-dir") == str((tmp_path / "log").resolve())
        assert "--stream-prefix" not in spec.args


def test_co_located_consumers_run_each_streams_checks_then_decision_instances_by_slot() -> None:
    specs = pipeline_services(
        DemoSettings(), "/models", group_prefix="x-", co_locate=True, decision_instances=2
    )

    assert [spec.name for spec in specs] == [
        "duration+tip",
        "copyright+nsfw+violence",
        "decision",
        "decision-1",
    ]
    assert specs[1].args[2:6] == ("consume", "copyright", "nsfw", "violence")
    assert flag(specs[1].args, "--group") == "x-streamjury-copyright+nsfw+violence"
    assert "--instance" not in specs[2].args
    assert flag(specs[3].args, "--instance") == "1"
    assert flag(specs[3].args, "--group") == flag(specs[2].args, "--group")


def test_services_are_started_as_python_modules_needing_no_console_script() -> None:
    spec = pipeline_services(DemoSettings(), "/models")[0]

    assert spec.command("/usr/bin/python3")[:3] == ["/usr/bin/python3", "-m", "streamjury.cli.main"]


def test_broker_connection_flags_reach_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://k:4567")
    kafka = DemoSettings(
        backend="kafka", stream_prefix="p-", kafka=KafkaSettings(bootstrap="k:9092")
    )
    kinesis = DemoSettings(backend="kinesis", kinesis=KinesisSettings(localstack=True))

    for spec in pipeline_services(kafka, "/models"):
        assert (flag(spec.args, "--bootstrap"), flag(spec.args, "--stream-prefix")) == (
            "k:9092",
            "p-",
        )
    for spec in pipeline_services(kinesis, "/models"):
        assert flag(spec.args, "--kinesis-endpoint") == "http://k:4567"
        assert "--localstack" in spec.args


def test_kinesis_services_share_the_checkpoint_store_of_the_process_that_starts_them(
    tmp_path: Path,
) -> None:
    local = DemoSettings(backend="kinesis", local_dir=tmp_path / "run")
    in_dynamodb = DemoSettings(
        backend="kinesis", local_dir=tmp_path, kinesis=KinesisSettings(checkpoint_table="cp")
    )

    for spec in pipeline_services(local, "/models"):
        assert flag(spec.args, "--local-dir") == str((tmp_path / "run").resolve())
    for spec in pipeline_services(in_dynamodb, "/models"):
        assert "--local-dir" not in spec.args


def test_demo_settings_come_from_env_vars_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMJURY_DEMO_COUNT", "7")
    monkeypatch.setenv("STREAMJURY_DEMO_TIMEOUT_S", "30")

    assert (DemoSettings().count, DemoSettings().timeout_s) == (7, 30.0)
    assert DemoSettings(count=9).count == 9


def test_services_never_inherit_an_http_port_they_would_all_fight_over() -> None:
    env = service_env({"STREAMJURY_HTTP_PORT": "9108", "PATH": "/bin"})

    assert env == {"STREAMJURY_HTTP_PORT": "0", "PATH": "/bin"}
