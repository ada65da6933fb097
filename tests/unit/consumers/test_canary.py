"""A canary gives the live verdict of a stable, hash-chosen share of events to a candidate model."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from consumers.app import run_consumer
from consumers.canary import in_canary
from models.plot import ROLE_COLOURS, SIZE
from models.store import ModelStore
from producers.synthetic import generate_rides
from streamjury.cli.main import main
from streamjury.schemas import RideCompleted, RideEvent, Verdict
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from tests.unit.consumers.conftest import candidate
from tests.unit.consumers.test_app import StopWhenCommitted, read_all, settings_for
from tests.unit.models.test_plot import column_heights, read_png

COUNT = 80
PERCENT = 30.0


def test_the_canary_share_is_stable_and_close_to_the_percent() -> None:
    ids = [str(uuid.UUID(int=n)) for n in range(20_000)]

    chosen = [event_id for event_id in ids if in_canary(event_id, 20.0)]

    assert 0.19 < len(chosen) / len(ids) < 0.21
    assert chosen == [event_id for event_id in ids if in_canary(event_id, 20.0)]
    assert not any(in_canary(event_id, 0.0) for event_id in ids[:1000])
    assert all(in_canary(event_id, 100.0) for event_id in ids[:1000])


def backend_with(rides: list[RideEvent]) -> MemoryBackend:
    backend = MemoryBackend()
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    producer.send("rides", [OutRecord(r.event_id, r.to_bytes()) for r in rides])
    producer.flush()
    return backend


def run_canary(models: Path, backend: MemoryBackend, group: str) -> list[Verdict]:
    settings = settings_for(
        models, canary=candidate(models), canary_percent=PERCENT, group=group, batch_size=16
    )
    run_consumer(settings, StopWhenCommitted(backend, "rides", group), backend=backend)
    return [Verdict.model_validate_json(raw) for raw in read_all(backend, "verdicts")]


def test_canary_verdicts_name_their_arm_and_version_and_the_split_survives_a_restart(
    models: Path,
) -> None:
    rides = [labelled.event for labelled in generate_rides(6, COUNT)]
    expected = {r.event_id for r in rides if in_canary(r.event_id, PERCENT)}

    first = run_canary(models, backend_with(rides), "first")
    again = run_canary(models, backend_with(rides), "second")  # another process, another day

    for verdicts in (first, again):
        canary = {v.event_id for v in verdicts if v.arm == "canary"}
        assert canary == expected
        assert {v.arm for v in verdicts} == {"live", "canary"}
        assert {v.model_version for v in verdicts if v.arm == "canary"} == {candidate(models)}
        assert {v.model_version for v in verdicts if v.arm == "live"} == {
            ModelStore(models).version("duration")
        }
        assert len(verdicts) == COUNT


def test_models_compare_reports_figures_per_arm(
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_root_logging: None,
) -> None:
    settings = settings_for(
        models,
        backend="local",
        local_dir=tmp_path / "log",
        canary=candidate(models),
        canary_percent=PERCENT,
    )
    from streamjury.streams.factory import open_backend

    backend = open_backend(settings)
    rides = [labelled.event for labelled in generate_rides(6, COUNT)]
    backend.ensure_streams(["rides"])
    producer = backend.producer()
    producer.send("rides", [OutRecord(r.event_id, r.to_bytes()) for r in rides])
    producer.flush()
    producer.close()
    stop = StopWhenCommitted(backend, "rides", "streamjury-duration")  # type: ignore[arg-type]
    run_consumer(settings, stop, backend=backend)
    backend.close()
    canary_count = sum(in_canary(r.event_id, PERCENT) for r in rides)

    with pytest.raises(SystemExit) as exited:
        main(["models", "compare", "duration", "--local-dir", str(tmp_path / "log")])

    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert exited.value.code == 0
    assert str(canary_count) in rows["canary"]
    assert str(COUNT - canary_count) in rows["live"]
    assert candidate(models) in rows["canary"]


def test_ground_truth_gives_live_mae_per_arm_and_rides_stay_clean(
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_root_logging: None,
) -> None:
    from streamjury.streams.factory import open_backend

    log_dir = str(tmp_path / "log")
    with pytest.raises(SystemExit) as produced:
        main(["produce", "rides", "--with-outcomes", "--count", str(COUNT), "--local-dir", log_dir])
    settings = settings_for(
        models,
        backend="local",
        local_dir=tmp_path / "log",
        canary=candidate(models),
        canary_percent=PERCENT,
    )
    backend = open_backend(settings)
    stop = StopWhenCommitted(backend, "rides", "streamjury-duration")  # type: ignore[arg-type]
    run_consumer(settings, stop, backend=backend)
    verdicts = [Verdict.model_validate_json(raw) for raw in read_stream(backend, "verdicts")]
    outcomes = [RideCompleted.model_validate_json(r) for r in read_stream(backend, "outcomes")]
    dead = read_stream(backend, "deadletter") if "deadletter" in backend.list_streams() else []
    backend.close()
    capsys.readouterr()

    with pytest.raises(SystemExit) as compared:
        main(["models", "compare", "duration", "--local-dir", log_dir])

    out = capsys.readouterr().out
    truth = {o.event_id: o.duration_minutes for o in outcomes}
    canary = [v for v in verdicts if v.arm == "canary"]
    expected = sum(abs((v.value or 0.0) - truth[v.event_id]) for v in canary) / len(canary)
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert (produced.value.code, compared.value.code) == (0, 0)
    assert len(outcomes) == COUNT
    assert dead == []
    assert "live quality" in out
    assert f"{expected:.4f}" in out
    assert any(candidate(models) in line and f"{expected:.4f}" in line for line in rows.values())


def test_models_compare_plots_the_arms_with_their_live_mae(
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_root_logging: None,
) -> None:
    from streamjury.streams.factory import open_backend

    log_dir, plot = str(tmp_path / "log"), tmp_path / "arms.png"
    with pytest.raises(SystemExit):
        main(["produce", "rides", "--with-outcomes", "--count", str(COUNT), "--local-dir", log_dir])
    settings = settings_for(
        models, backend="local", local_dir=tmp_path / "log", canary=candidate(models),
        canary_percent=PERCENT,
    )  # fmt: skip
    backend = open_backend(settings)
    stop = StopWhenCommitted(backend, "rides", "streamjury-duration")  # type: ignore[arg-type]
    run_consumer(settings, stop, backend=backend)
    backend.close()
    capsys.readouterr()

    with pytest.raises(SystemExit) as compared:
        main(["models", "compare", "duration", "--local-dir", log_dir, "--plot", str(plot)])

    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    mae = {
        role: float(rows[role].split("│")[-2]) for role in ("live", "canary") if role in rows
    }  # the quality table comes after the arms table: its rows win
    image = read_png(plot)
    mae_panel = image[:, SIZE // 2 :]
    heights = {
        role: max(column_heights(mae_panel, ROLE_COLOURS[role]), default=0)
        for role in ("live", "canary")
    }
    assert compared.value.code == 0
    assert f"arms plot written to {plot}" in out
    assert max(heights.values()) > 0
    assert heights["canary"] / heights["live"] == pytest.approx(
        mae["canary"] / mae["live"], abs=0.02
    )
    for role in ("live", "canary"):  # each arm framed in its colour in the bands panel
        assert column_heights(image[:, : SIZE // 2], ROLE_COLOURS[role])


def read_stream(backend: object, stream: str) -> list[bytes]:
    return [
        record.value
        for partition in backend.partitions(stream)  # type: ignore[attr-defined]
        for record in backend.read_partition(stream, partition)  # type: ignore[attr-defined]
    ]
