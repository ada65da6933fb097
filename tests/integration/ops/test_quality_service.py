"""Live MAE from a running ``streamjury quality``, scraped over HTTP, checked against the streams.

Rides with outcomes go through a duration consumer with a canary and a shadow (and a plain tip
consumer); the quality service joins what they wrote with the outcomes. Every exported series must
equal the MAE computed here from the verdict and outcome records read back, and a redelivered
copy of records must change nothing. Run on the local log, the real Kafka broker and kinesis-local.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.shadow import ShadowVerdict
from models.store import ModelStore
from models.train import ride_data, train_duration
from streamjury.devservers.kinesis import LocalKinesis
from streamjury.schemas import RideCompleted, Verdict
from streamjury.settings import BackendSettings, KafkaSettings, KinesisSettings
from streamjury.streams.base import Backend, OutRecord
from streamjury.streams.factory import open_backend
from streamjury.streams.names import StreamNames
from tests.aws_env import use_kinesis_local
from tests.integration.ops.support import (
    STREAMJURY,
    WAIT_S,
    Service,
    free_port,
    samples,
    wait_for,
)

pytestmark = pytest.mark.slow

COUNT = 120
PERCENT = "30"
QUALITY = {"service": "quality", "check": ""}
Series = tuple[str, str, str]
"""(check, model_version, arm)"""


@pytest.fixture
def candidate_models(models: Path, tmp_path: Path) -> tuple[Path, str]:
    """The trained models plus a differently trained duration version, not promoted."""
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    train_duration(ride_data(300, 9, None), copy, 9)
    live = ModelStore(copy).version("duration")
    other = next(m.version for m in ModelStore(copy).versions("duration") if m.version != live)
    return copy, other


@pytest.fixture(
    params=[
        "local",
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("kinesis", marks=pytest.mark.kinesis),
    ]
)
def backend_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackendSettings]:
    prefix = f"q{uuid.uuid4().hex[:8]}-"
    if request.param == "local":
        yield BackendSettings(backend="local", local_dir=tmp_path / "log", stream_prefix=prefix)
        return
    if request.param == "kinesis":
        server: LocalKinesis = request.getfixturevalue("kinesis_local")
        use_kinesis_local(monkeypatch, server)  # the services' environment is a copy of this one
        kinesis = KinesisSettings(endpoint_url=server.endpoint_url, region=server.region)
        yield BackendSettings(
            backend="kinesis", kinesis=kinesis, local_dir=tmp_path / "log", stream_prefix=prefix
        )
        admin = server.client()  # kinesis-local is shared by the session: leave it as found
        for name in admin.list_streams(Limit=1000)["StreamNames"]:
            if name.startswith(prefix):
                admin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        return
    broker = request.getfixturevalue("kafka_broker")
    kafka = KafkaSettings(bootstrap=broker.bootstrap_servers, client_id="streamjury-tests")
    yield BackendSettings(backend="kafka", kafka=kafka, stream_prefix=prefix)


def flags(settings: BackendSettings) -> list[str]:
    common = ["--backend", settings.backend, "--stream-prefix", settings.stream_prefix]
    if settings.backend == "local":
        return [*common, "--local-dir", str(settings.local_dir)]
    if settings.backend == "kinesis":  # shard leases and checkpoints in a local store
        endpoint = str(settings.kinesis.endpoint_url)
        return [*common, "--kinesis-endpoint", endpoint, "--local-dir", str(settings.local_dir)]
    return [*common, "--bootstrap", settings.kafka.bootstrap]


@pytest.fixture
def start(
    candidate_models: tuple[Path, str], backend_settings: BackendSettings, tmp_path: Path
) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def run(*args: str) -> Service:
        port = free_port()
        stderr = tmp_path / f"stderr-{len(started)}.log"
        env = {
            **os.environ,
            "STREAMJURY_MODELS": str(candidate_models[0]),
            "STREAMJURY_HTTP_PORT": str(port),
        }
        command = [STREAMJURY, *args, *flags(backend_settings)]
        with stderr.open("wb") as sink:
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        service = Service(process, port, stderr)
        started.append(service)
        wait_for(lambda: service.get("/healthz")[0] == 200, "/healthz", service)
        return service

    yield run
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(WAIT_S)


def read(backend: Backend, stream: str) -> list[bytes]:
    if stream not in backend.list_streams():
        return []
    return [
        record.value
        for partition in backend.partitions(stream)
        for record in backend.read_partition(stream, partition)
    ]


def expected_errors(backend: Backend, names: StreamNames) -> dict[Series, tuple[int, float]]:
    """(count, sum of absolute errors) per series, from the records in the streams."""
    truth = {
        o.event_id: {"duration": o.duration_minutes, "tip": o.tip_amount}
        for o in map(RideCompleted.model_validate_json, read(backend, names.outcomes))
    }
    scored: list[tuple[str, Verdict]] = [
        (v.arm or "live", v)
        for v in map(Verdict.model_validate_json, read(backend, names.verdicts))
    ]
    scored += [
        ("shadow", ShadowVerdict.model_validate_json(raw).shadow)
        for raw in read(backend, names.verdicts_shadow)
    ]
    per_event: dict[Series, dict[str, float]] = {}
    for arm, verdict in scored:
        if verdict.event_id in truth and verdict.value is not None:
            actual = truth[verdict.event_id][verdict.check]
            series = (verdict.check, verdict.model_version, arm)
            per_event.setdefault(series, {})[verdict.event_id] = abs(verdict.value - actual)
    return {series: (len(e), sum(e.values())) for series, e in per_event.items()}


def exported(service: Service) -> dict[Series, tuple[float, float]]:
    status, body = service.get("/metrics")
    assert status == 200, body
    found: dict[Series, list[float]] = {}
    for (name, labels), value in samples(body).items():
        if name in ("streamjury_live_abs_error_count", "streamjury_live_abs_error_sum"):
            label = dict(labels)
            series = (label["check"], label["model_version"], label["arm"])
            found.setdefault(series, [0.0, 0.0])[name.endswith("_sum")] = value
    return {series: (count, total) for series, (count, total) in found.items()}


def total_records(backend: Backend, names: StreamNames) -> int:
    streams = (names.verdicts, names.verdicts_shadow, names.outcomes)
    return sum(len(read(backend, stream)) for stream in streams)


def test_exported_live_mae_matches_the_streams_and_ignores_redeliveries(
    start: Callable[..., Service],
    backend_settings: BackendSettings,
    candidate_models: tuple[Path, str],
) -> None:
    _, candidate = candidate_models
    names = StreamNames(backend_settings.stream_prefix)
    create = [STREAMJURY, "streams", "create", *flags(backend_settings)]
    subprocess.run(create, check=True, capture_output=True, timeout=120)
    produce = [STREAMJURY, "produce", "rides", "--with-outcomes", "--count", str(COUNT)]
    subprocess.run(
        [*produce, "--seed", "4", *flags(backend_settings)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    start("consume", "duration", "--canary", candidate, "--canary-percent", PERCENT,
          "--shadow", candidate)  # fmt: skip
    start("consume", "tip")
    quality = start("quality")
    backend = open_backend(backend_settings)
    try:
        wait_for(
            lambda: (
                len(read(backend, names.verdicts)) >= 2 * COUNT
                and len(read(backend, names.verdicts_shadow)) >= COUNT
            ),
            "the consumers' verdicts",
        )
        wait_for(
            lambda: (
                quality.metric("streamjury_records_in_total", QUALITY)
                == total_records(backend, names)
            ),
            "the quality service to read every record",
            quality,
        )
        expected = expected_errors(backend, names)
        first = exported(quality)

        assert {arm for _, _, arm in expected} == {"live", "canary", "shadow"}
        assert (
            sum(count for count, _ in expected.values()) == 3 * COUNT
        )  # duration (live or canary), shadow, tip
        assert set(first) == set(expected)
        for series, (count, total) in expected.items():
            assert first[series][0] == count, series
            assert first[series][1] == pytest.approx(total, rel=1e-9), series

        # redelivery: the same records once more, as an at-least-once producer may write them
        again = names.verdicts, names.verdicts_shadow, names.outcomes
        producer = backend.producer()
        for stream in again:
            copies = read(backend, stream)[:10]
            producer.send(stream, [OutRecord(f"copy-{n}", raw) for n, raw in enumerate(copies)])
        producer.flush()
        producer.close()
        wait_for(
            lambda: (
                quality.metric("streamjury_records_in_total", QUALITY)
                == total_records(backend, names)
            ),
            "the quality service to read the copies",
            quality,
        )

        assert exported(quality) == first
        assert (
            quality.metric("streamjury_live_duplicates_total", {"service": "quality"}) or 0
        ) >= 30
    finally:
        backend.close()
    assert quality.stop() == 0
