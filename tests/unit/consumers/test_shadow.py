"""A shadow model scores every batch beside the live one; its verdicts decide nothing.

Then ``streamjury models compare`` reads the pairs back and reports agreement, as a table and PNG.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.settings import ConsumerSettings
from models.shadow import ShadowVerdict
from models.store import ModelStore
from producers.synthetic import generate_rides
from streamjury.cli.main import main
from streamjury.schemas import Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.factory import open_backend
from tests.unit.consumers.conftest import candidate
from tests.unit.consumers.test_app import StopWhenCommitted, settings_for

COUNT = 50


def read(settings: ConsumerSettings, stream: str) -> list[bytes]:
    backend = open_backend(settings)
    try:
        return [
            record.value
            for partition in backend.partitions(stream)
            for record in backend.read_partition(stream, partition)
        ]
    finally:
        backend.close()


@pytest.fixture
def shadowed_run(models: Path, tmp_path: Path) -> tuple[Path, str, list[str]]:
    """A duration consumer on a local log, shadowed by the candidate; what it was fed."""
    settings = settings_for(
        models, backend="local", local_dir=tmp_path / "log", shadow=candidate(models), batch_size=16
    )
    backend = open_backend(settings)
    rides = [labelled.event for labelled in generate_rides(4, COUNT)]
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    producer.send("rides", [OutRecord(r.event_id, r.to_bytes()) for r in rides])
    producer.flush()
    producer.close()
    stop = StopWhenCommitted(backend, "rides", "streamjury-duration")  # type: ignore[arg-type]
    run_consumer(settings, stop, backend=backend)
    backend.close()
    return tmp_path / "log", candidate(models), [r.event_id for r in rides]


def test_every_live_verdict_gets_a_shadow_pair_and_live_verdicts_stay_live(
    shadowed_run: tuple[Path, str, list[str]], models: Path
) -> None:
    log_dir, shadow_version, ids = shadowed_run
    settings = settings_for(models, backend="local", local_dir=log_dir)

    live = [Verdict.model_validate_json(raw) for raw in read(settings, "verdicts")]
    pairs = [ShadowVerdict.model_validate_json(raw) for raw in read(settings, "verdicts-shadow")]

    live_version = ModelStore(models).version("duration")
    assert sorted(v.event_id for v in live) == sorted(ids)
    assert {v.model_version for v in live} == {live_version}
    assert sorted(p.live.event_id for p in pairs) == sorted(ids)
    assert {p.shadow.model_version for p in pairs} == {shadow_version}
    assert all(p.live.event_id == p.shadow.event_id for p in pairs)
    assert any(p.live.value != p.shadow.value for p in pairs)  # really another model


def test_models_compare_prints_agreement_figures_and_writes_a_png(
    shadowed_run: tuple[Path, str, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_root_logging: None,
) -> None:
    log_dir, shadow_version, _ = shadowed_run
    plot = tmp_path / "compare.png"

    with pytest.raises(SystemExit) as exited:
        main(["models", "compare", "duration", "--local-dir", str(log_dir), "--plot", str(plot)])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert f"over {COUNT} events" in out
    assert shadow_version in out
    assert "mean |shadow - live|" in out
    assert "decisions changed" in out
    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == (400, 400)


def test_compare_without_shadow_verdicts_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["models", "compare", "duration", "--local-dir", str(tmp_path / "empty")])

    err = capsys.readouterr().err
    assert exited.value.code != 0
    assert "--shadow" in err
    assert len(err.strip().splitlines()) == 1
