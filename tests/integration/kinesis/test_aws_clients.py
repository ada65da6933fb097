"""The one place AWS clients are built: endpoints, LocalStack, retries.

The Kinesis client is checked against kinesis-local; the others by where they point.
"""

from __future__ import annotations

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.settings import KinesisSettings
from streamjury.streams.kinesis.clients import client, dynamodb_client, kinesis_client

pytestmark = pytest.mark.kinesis


def test_the_kinesis_client_uses_the_settings_endpoint_and_region(
    kinesis_local: LocalKinesis, kinesis_settings: KinesisSettings
) -> None:
    kinesis = kinesis_client(kinesis_settings)

    assert kinesis.meta.endpoint_url == kinesis_local.endpoint_url
    assert kinesis.meta.region_name == kinesis_local.region
    assert "StreamNames" in kinesis.list_streams()


def test_the_kinesis_endpoint_also_comes_from_the_aws_environment_variable(
    kinesis_local: LocalKinesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", kinesis_local.endpoint_url)

    assert kinesis_client(KinesisSettings()).meta.endpoint_url == kinesis_local.endpoint_url


def test_other_services_do_not_inherit_the_kinesis_endpoint(
    kinesis_settings: KinesisSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4569")

    assert dynamodb_client(kinesis_settings).meta.endpoint_url == "http://127.0.0.1:4569"
    explicit = dynamodb_client(kinesis_settings, endpoint_url="http://127.0.0.1:9")
    assert explicit.meta.endpoint_url == "http://127.0.0.1:9"


def test_clients_retry_throttling_in_standard_mode() -> None:
    retries = client("kinesis", KinesisSettings()).meta.config.retries

    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] >= 3


def test_localstack_clients_point_every_service_at_the_edge_port() -> None:
    settings = KinesisSettings(localstack=True)

    assert client("kinesis", settings).meta.endpoint_url == "http://localhost:4566"
    assert client("dynamodb", settings).meta.endpoint_url == "http://localhost:4566"


def test_localstack_clients_take_host_and_port_from_the_endpoint() -> None:
    settings = KinesisSettings(localstack=True, endpoint_url="http://localstack.internal:4510")

    assert settings.localstack
    assert client("kinesis", settings).meta.endpoint_url == "http://localstack.internal:4510"
    assert client("sqs", settings).meta.endpoint_url == "http://localstack.internal:4510"
