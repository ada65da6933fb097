"""Reads public NYC TLC trip record files (parquet or CSV) into ride columns and labels.

Real trip records are messy: rows with impossible durations, zero distances or missing values
are dropped here, so the models learn from trips that could have happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.features import MAX_PASSENGERS, MAX_PAYMENT, MAX_VENDOR, ZONES, RideColumns
from streamjury.errors import ConfigError

log = logging.getLogger(__name__)

Array = npt.NDArray[Any]
MAX_TRIP_MINUTES = 6 * 60
MAX_TRIP_MILES = 500.0
MAX_FARE = 10_000.0
NYC_ZONE = "America/New_York"
TIMESTAMP_PREFIXES = ("tpep", "lpep")
"""Yellow taxi files say ``tpep_pickup_datetime``, green taxi files ``lpep_pickup_datetime``."""
NUMERIC_COLUMNS = (
    "VendorID",
    "PULocationID",
    "DOLocationID",
    "trip_distance",
    "passenger_count",
    "payment_type",
    "fare_amount",
    "tip_amount",
)
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class TripRecords:
    """Clean trips, ready for training: features, the two labels, and what was dropped."""

    columns: RideColumns
    duration_minutes: Array
    tip_amount: Array
    rows_read: int

    def __len__(self) -> int:
        return len(self.columns)


def read_trip_records(path: Path) -> TripRecords:
    """Load and clean one TLC file; every user-fixable problem is a one-line ``ConfigError``."""
    table = _read_table(path)
    prefix = _timestamp_prefix(table.column_names, path)
    missing = [name for name in NUMERIC_COLUMNS if name not in table.column_names]
    if missing:
        raise ConfigError(f"{path}: missing TLC column(s) {', '.join(missing)}")
    numbers = {name: _as_float(table, name, path) for name in NUMERIC_COLUMNS}
    pickup = _as_local_times(table, f"{prefix}_pickup_datetime", path)
    dropoff = _as_local_times(table, f"{prefix}_dropoff_datetime", path)
    minutes = (dropoff - pickup).astype("timedelta64[us]").astype(np.float64) / 60e6
    minutes[np.isnat(pickup) | np.isnat(dropoff)] = np.nan

    keep = _plausible(numbers, minutes)
    if not keep.any():
        raise ConfigError(f"{path}: no plausible trips among {table.num_rows} rows")
    log.info("read %d of %d trip records from %s", int(keep.sum()), table.num_rows, path)
    columns = RideColumns(
        pickup_zone=numbers["PULocationID"][keep].astype(np.int64),
        dropoff_zone=numbers["DOLocationID"][keep].astype(np.int64),
        trip_distance=numbers["trip_distance"][keep],
        pickup_local=pickup[keep].astype("datetime64[s]"),
        passenger_count=numbers["passenger_count"][keep].astype(np.int64),
        payment_type=numbers["payment_type"][keep].astype(np.int64),
        fare_amount=numbers["fare_amount"][keep],
        vendor_id=numbers["VendorID"][keep].astype(np.int64),
    )
    return TripRecords(columns, minutes[keep], numbers["tip_amount"][keep], table.num_rows)


def _plausible(numbers: dict[str, Array], minutes: Array) -> Array:
    """Rows a taxi could really have driven: no NaN, positive distance, at most six hours."""
    keep = np.isfinite(minutes) & (minutes > 0) & (minutes <= MAX_TRIP_MINUTES)
    for values in numbers.values():
        keep &= np.isfinite(values)
    with np.errstate(invalid="ignore"):
        keep &= (numbers["trip_distance"] > 0) & (numbers["trip_distance"] <= MAX_TRIP_MILES)
        keep &= (numbers["fare_amount"] >= 0) & (numbers["fare_amount"] <= MAX_FARE)
        keep &= numbers["tip_amount"] >= 0
        keep &= _in_range(numbers["PULocationID"], 1, ZONES)
        keep &= _in_range(numbers["DOLocationID"], 1, ZONES)
        keep &= _in_range(numbers["payment_type"], 0, MAX_PAYMENT)
        keep &= _in_range(numbers["passenger_count"], 0, MAX_PASSENGERS)
        keep &= _in_range(numbers["VendorID"], 1, MAX_VENDOR)
    return keep


def _in_range(values: Array, low: int, high: int) -> Array:
    return (values >= low) & (values <= high) & (values == np.round(values))


def _read_table(path: Path) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(
            "reading TLC files needs pyarrow: pip install 'streamjury[parquet]'"
        ) from exc
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(PARQUET_SUFFIXES):
            return pq.read_table(path)
        if name.endswith(CSV_SUFFIXES):
            return pa_csv.read_csv(path)
    except (pa.ArrowException, OSError) as exc:
        kind = "parquet" if name.endswith(PARQUET_SUFFIXES) else "CSV"
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not a readable {kind} file ({first_line})") from exc
    raise ConfigError(f"{path}: expected a .parquet or .csv file of NYC TLC trip records")


def _timestamp_prefix(column_names: list[str], path: Path) -> str:
    for prefix in TIMESTAMP_PREFIXES:
        if {f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime"} <= set(column_names):
            return prefix
    raise ConfigError(
        f"{path}: missing pickup/dropoff columns "
        "(tpep_pickup_datetime/tpep_dropoff_datetime or lpep_…)"
    )


def _as_float(table: Any, name: str, path: Path) -> Array:
    """Any numeric column as float64, nulls and unparseable values as NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.cast(pc.if_else(pc.utf8_is_numeric(column), column, None), pa.float64())
    try:
        values: Array = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowException as exc:
        raise ConfigError(f"{path}: column {name} ({column.type}) is not numeric") from exc
    return values.astype(np.float64)


def _as_local_times(table: Any, name: str, path: Path) -> Array:
    """Timestamps as naive ``datetime64[us]`` (TLC times are New York local), nulls as NaT."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.strptime(column, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    if not pa.types.is_timestamp(column.type):
        raise ConfigError(f"{path}: column {name} ({column.type}) is not a timestamp")
    if column.type.tz is not None:
        column = pc.local_timestamp(column.cast(pa.timestamp(column.type.unit, tz=NYC_ZONE)))
    micros = pc.cast(column, pa.timestamp("us"), safe=False)
    values: Array = micros.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    return values
