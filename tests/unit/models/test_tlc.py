"""Reading NYC TLC trip records: parquet and CSV, yellow and green column names, dirty rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from models.manifest import Manifest
from models.tlc import read_trip_records
from models.train import train_all
from producers.synthetic import generate_rides
from streamjury.errors import ConfigError

NYC = ZoneInfo("America/New_York")
START = datetime(2024, 3, 1, tzinfo=UTC)


def trip_rows(count: int, prefix: str = "tpep") -> list[dict[str, Any]]:
    """Synthetic rides laid out as TLC trip records (naive New York timestamps)."""
    rows = []
    for ride in generate_rides(seed=3, count=count, start=START):
        event = ride.event
        pickup = event.pickup_datetime.astimezone(NYC).replace(tzinfo=None)
        rows.append(
            {
                "VendorID": event.VendorID,
                f"{prefix}_pickup_datetime": pickup,
                f"{prefix}_dropoff_datetime": pickup + timedelta(minutes=ride.duration_minutes),
                "passenger_count": float(event.passenger_count),
                "trip_distance": event.trip_distance,
                "PULocationID": event.PULocationID,
                "DOLocationID": event.DOLocationID,
                "payment_type": event.payment_type,
                "fare_amount": event.fare_amount,
                "tip_amount": ride.tip_amount,
            }
        )
    return rows


def nonsense_rows(prefix: str = "tpep") -> list[dict[str, Any]]:
    """One row per kind of rubbish real files contain."""
    good = trip_rows(1, prefix)[0]
    pickup = good[f"{prefix}_pickup_datetime"]
    return [
        {**good, f"{prefix}_dropoff_datetime": pickup - timedelta(minutes=5)},  # negative
        {**good, f"{prefix}_dropoff_datetime": pickup + timedelta(hours=7)},  # > 6 h
        {**good, "trip_distance": 0.0},
        {**good, "passenger_count": None},
        {**good, "PULocationID": 0},
        {**good, "fare_amount": -12.5},
    ]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def test_parquet_trips_keep_labels_and_local_pickup_hour(tmp_path: Path) -> None:
    rows = trip_rows(20)
    path = write_parquet(tmp_path / "yellow.parquet", rows)

    records = read_trip_records(path)

    assert len(records) == 20
    expected_minutes = [
        (r["tpep_dropoff_datetime"] - r["tpep_pickup_datetime"]).total_seconds() / 60 for r in rows
    ]
    np.testing.assert_allclose(records.duration_minutes, expected_minutes)
    np.testing.assert_allclose(records.tip_amount, [r["tip_amount"] for r in rows])
    assert list(records.columns.hour) == [r["tpep_pickup_datetime"].hour for r in rows]


def test_nonsense_rows_are_dropped(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "dirty.parquet", trip_rows(10) + nonsense_rows())

    records = read_trip_records(path)

    assert records.rows_read == 16
    assert len(records) == 10
    assert (records.duration_minutes > 0).all()
    assert (records.duration_minutes <= 360).all()
    assert (records.columns.trip_distance > 0).all()


def test_green_taxi_csv_with_lpep_columns_is_read(tmp_path: Path) -> None:
    rows = trip_rows(12, prefix="lpep") + nonsense_rows(prefix="lpep")
    path = write_csv(tmp_path / "green.csv", rows)

    records = read_trip_records(path)

    assert len(records) == 12
    assert list(records.columns.pickup_zone) == [r["PULocationID"] for r in rows[:12]]


def test_missing_columns_are_named_in_a_config_error(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "tip_amount"} for row in trip_rows(3)]
    path = write_csv(tmp_path / "no-tips.csv", rows)

    with pytest.raises(ConfigError, match=r"missing TLC column.*tip_amount"):
        read_trip_records(path)


def test_missing_timestamps_are_a_config_error(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if "datetime" not in k} for row in trip_rows(3)]
    path = write_parquet(tmp_path / "no-times.parquet", rows)

    with pytest.raises(ConfigError, match="pickup/dropoff"):
        read_trip_records(path)


def test_a_file_that_is_not_parquet_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_text("this is not parquet\n")

    with pytest.raises(ConfigError, match="not a readable parquet file"):
        read_trip_records(path)


def test_an_unknown_file_type_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "trips.xlsx"
    path.write_bytes(b"PK")

    with pytest.raises(ConfigError, match=r"expected a \.parquet or \.csv"):
        read_trip_records(path)


def test_a_file_of_only_nonsense_is_a_config_error(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "junk.parquet", nonsense_rows())

    with pytest.raises(ConfigError, match="no plausible trips"):
        read_trip_records(path)


def test_ride_models_train_from_tlc_records(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "yellow.parquet", trip_rows(1_000) + nonsense_rows())

    manifests = {m.name: m for m in train_all(tmp_path / "out", rows=1_000, tlc_data=path)}

    duration: Manifest = manifests["duration"]
    assert "NYC TLC trip records: yellow.parquet" in duration.data_source
    assert duration.training_rows + duration.held_out_rows == 1_000
    assert "synthetic" in manifests["nsfw"].data_source
    mae = duration.metrics[0]
    assert mae.value < 0.6 * mae.baseline
