"""Fixtures of the Kinesis backend tests: backends on the session's kinesis-local (and moto).

The servers are the session-wide ``kinesis_local`` and ``moto_server`` fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamjury.devservers.kinesis import LocalKinesis
from streamjury.devservers.moto_server import MotoServer
from streamjury.settings import KinesisSettings
from streamjury.streams.kinesis import KinesisBackend
from streamjury.streams.kinesis.checkpoints.base import CheckpointStore
from streamjury.streams.kinesis.checkpoints.dynamodb import DynamoCheckpointStore
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore
from streamjury.streams.kinesis.consumer import ConsumerOptions
from streamjury.streams.kinesis.leases import LeaseOptions
from tests.aws_env import forget_developer_aws

QUICK_HANDOVER = ConsumerOptions(leases=LeaseOptions(ttl_s=10.0, acquire_interval_s=0.2))
"""Default polling; members below their share look for free shards five times a second."""

OpenBackend = Callable[..., KinesisBackend]


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for the clients the backend builds itself (the servers accept any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    forget_developer_aws(monkeypatch)


@pytest.fixture
def kinesis_settings(kinesis_local: LocalKinesis) -> KinesisSettings:
    return KinesisSettings(
        endpoint_url=kinesis_local.endpoint_url, region=kinesis_local.region, shards=2
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteCheckpointStore]:
    store = SqliteCheckpointStore(tmp_path / "checkpoints.db")
    yield store
    store.close()


@pytest.fixture
def dynamo_store(moto_server: MotoServer) -> DynamoCheckpointStore:
    """A store in a fresh uuid-named table (never ``reset`` moto: other tests share it)."""
    return DynamoCheckpointStore(moto_server.client("dynamodb"), f"cp-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def open_backend(
    kinesis_settings: KinesisSettings, kinesis_local: LocalKinesis
) -> Iterator[OpenBackend]:
    """Opens backends on kinesis-local over the given checkpoint store; at teardown, closes them
    and deletes the Kinesis streams the test created (kinesis-local allows 50 shards in all)."""
    admin = kinesis_local.client()
    before = set(admin.list_streams(Limit=1000)["StreamNames"])
    opened: list[KinesisBackend] = []

    def open_(
        store: CheckpointStore, options: ConsumerOptions = QUICK_HANDOVER, **kwargs: object
    ) -> KinesisBackend:
        backend = KinesisBackend(
            kinesis_settings,
            checkpoints=store,
            consumer_options=options,
            **kwargs,  # type: ignore[arg-type]
        )
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        backend.close()
    for name in set(admin.list_streams(Limit=1000)["StreamNames"]) - before:
        admin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture
def backend(sqlite_store: SqliteCheckpointStore, open_backend: OpenBackend) -> KinesisBackend:
    """A backend over a SQLite store (set up first, so it is closed after the backend)."""
    return open_backend(sqlite_store)


@pytest.fixture
def stream(backend: KinesisBackend) -> str:
    name = f"kin-{uuid.uuid4().hex[:10]}"
    backend.ensure_streams([name])
    return name
