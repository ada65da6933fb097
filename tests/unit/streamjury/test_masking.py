"""The masking helper: secrets never shown in clear, whatever shape they come in."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from streamjury.masking import MASK, mask_config, mask_settings

SECRET = "correct-horse-battery-staple"


class Inner(BaseModel):
    user: str = "alice"
    password: SecretStr | None = None


class Outer(BaseModel):
    name: str = "svc"
    token: SecretStr = SecretStr(SECRET)
    inner: Inner = Inner(password=SecretStr(SECRET))
    unset: Inner = Inner()


def test_a_config_dict_masks_secret_keys_and_keeps_the_rest() -> None:
    shown = mask_config({"sasl.password": SECRET, "sasl.username": "alice"})

    assert shown == {"sasl.password": MASK, "sasl.username": "alice"}


def test_a_config_dict_leaves_an_unset_secret_unset_and_drops_omitted_keys() -> None:
    shown = mask_config({"ssl.key.password": None, "logger": object()}, omit=("logger",))

    assert shown == {"ssl.key.password": None}


def test_settings_mask_secret_fields_at_any_depth() -> None:
    shown = mask_settings(Outer())

    assert SECRET not in repr(shown)
    assert shown["token"] == MASK
    assert shown["inner"] == {"user": "alice", "password": MASK}


def test_settings_show_an_unset_secret_as_none() -> None:
    assert mask_settings(Outer())["unset"] == {"user": "alice", "password": None}


class WithUrl(BaseModel):
    endpoint: str = f"https://bob:{SECRET}@kinesis.example.com:443/path"
    extra: dict[str, str] = {"schema.registry.url": f"http://reg:{SECRET}@registry:8081"}


def test_settings_mask_the_password_of_a_url_and_show_the_rest() -> None:
    shown = mask_settings(WithUrl())

    assert shown["endpoint"] == f"https://bob:{MASK}@kinesis.example.com:443/path"
    assert shown["extra"] == {"schema.registry.url": f"http://reg:{MASK}@registry:8081"}
