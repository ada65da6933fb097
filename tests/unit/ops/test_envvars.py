"""The env vars derived from a settings model are exactly the ones pydantic-settings reads."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamjury.ops.envvars import EnvVar, env_names, env_vars


class Inner(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_DB_")

    host: str = "localhost"
    password: SecretStr | None = None


class Outer(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_")

    name: str = "x"
    timeout_s: float = Field(default=1.0, validation_alias="APP_NET_TIMEOUT_S")
    region: str = Field(default="eu", validation_alias=AliasChoices("APP_REGION", "AWS_REGION"))
    db: Inner = Field(default_factory=Inner)


def test_names_follow_prefix_field_alias_and_nested_model_rules() -> None:
    assert env_vars(Outer) == [
        EnvVar("APP_NAME", "name", False),
        EnvVar("APP_NET_TIMEOUT_S", "timeout_s", False),
        EnvVar("APP_REGION", "region", False),
        EnvVar("AWS_REGION", "region", False),
        EnvVar("APP_DB_HOST", "db.host", False),
        EnvVar("APP_DB_PASSWORD", "db.password", True),
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_NAME", "set"),
        ("APP_NET_TIMEOUT_S", "2.5"),
        ("APP_REGION", "us"),
        ("AWS_REGION", "ap"),
        ("APP_DB_HOST", "db.example"),
        ("APP_DB_PASSWORD", "s3cret"),
    ],
)
def test_each_derived_variable_really_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    settings = Outer()

    target: object = settings
    for part in env_names(Outer)[variable].split("."):
        target = getattr(target, part)
    if isinstance(target, SecretStr):
        target = target.get_secret_value()
    assert str(target) == value
