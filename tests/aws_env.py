"""The environment a process needs to reach kinesis-local: throwaway credentials, its region,
and nothing of the developer's own AWS setup (a profile or endpoint would send it elsewhere)."""

from __future__ import annotations

import pytest

from streamjury.devservers.kinesis import LocalKinesis

DEVELOPER_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KINESIS",
)


def forget_developer_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset what would send this process's AWS clients to the developer's own account."""
    for name in DEVELOPER_AWS_VARS:
        monkeypatch.delenv(name, raising=False)


def use_kinesis_local(monkeypatch: pytest.MonkeyPatch, server: LocalKinesis) -> dict[str, str]:
    """Point this process's environment (and so its children's) at ``server``; the variables set."""
    forget_developer_aws(monkeypatch)
    aws = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": server.region,
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    return aws
