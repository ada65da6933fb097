"""Builds every boto3 client streamjury uses (Kinesis, DynamoDB...) from ``KinesisSettings``.

One place decides endpoints, region, retries and LocalStack, so AWS, LocalStack and emulators behave alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import ConfigError
from streamjury.settings import KinesisSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""botocore's own attempts per call ("standard" mode: throttling and 5xx, with jittered backoff)."""
USER_AGENT = "streamjury"


def client_config() -> Config:
    """The botocore config of every client: standard retries, bounded timeouts."""
    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=USER_AGENT,
    )


def client(service: str, settings: KinesisSettings, *, endpoint_url: str | None = None) -> Any:
    """A boto3 client for ``service`` configured from ``settings``.

    The endpoint is ``endpoint_url`` if given; for Kinesis, else ``settings.endpoint_url`` (which
    also reads ``AWS_ENDPOINT_URL_KINESIS`` / ``AWS_ENDPOINT_URL``); for other services, else what
    boto3 itself resolves (``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``, or AWS).
    Credentials come from boto3's usual chain. With ``settings.localstack`` the client is built
    by localstack-client instead, with LocalStack's dummy credentials, and every service goes
    to LocalStack's one edge port: the endpoint's host:port if one is set, else localhost:4566.
    """
    if settings.localstack:
        return _localstack_client(service, settings.region, endpoint_url or settings.endpoint_url)
    if endpoint_url is None and service == "kinesis":
        endpoint_url = settings.endpoint_url
    import boto3

    session = boto3.session.Session(region_name=settings.region)
    # Typed as a plain callable: the stubs' per-service overloads need a literal service name.
    make: Callable[..., Any] = session.client
    try:
        return make(service, endpoint_url=endpoint_url, config=client_config())
    except (BotoCoreError, ValueError) as exc:
        raise ConfigError(f"cannot build an AWS {service} client: {exc}") from exc


def kinesis_client(settings: KinesisSettings) -> KinesisClient:
    """The Kinesis client for ``settings`` (see ``client``)."""
    return cast("KinesisClient", client("kinesis", settings))


def dynamodb_client(
    settings: KinesisSettings, *, endpoint_url: str | None = None
) -> DynamoDBClient:
    """A DynamoDB client for ``settings``; its endpoint is not the Kinesis one (see ``client``)."""
    return cast("DynamoDBClient", client("dynamodb", settings, endpoint_url=endpoint_url))


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ClientError ("" if the response has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _localstack_client(service: str, region: str, endpoint_url: str | None) -> Any:
    from localstack_client.session import Session

    host = urlparse(endpoint_url).netloc if endpoint_url else None
    try:
        return Session(region_name=region, localstack_host=host or None).client(
            service, config=client_config()
        )
    except Exception as exc:  # localstack-client raises bare Exception for unknown services
        raise ConfigError(f"cannot build a LocalStack {service} client: {exc}") from exc
