"""Batch features: New York local time, one design row per ride, upload text and uploader numbers."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from models.features import RideColumns, UploadColumns, ride_design_matrix
from streamjury.errors import ModelError
from streamjury.schemas import RideEvent, UploadEvent

WHEN = datetime(2024, 7, 1, 12, 30, tzinfo=UTC)  # a Monday, 08:30 in New York (EDT)


def ride(event_id: str = "r1", **changes: object) -> RideEvent:
    fields: dict[str, object] = {
        "event_id": event_id,
        "occurred_at": WHEN,
        "VendorID": 2,
        "pickup_datetime": WHEN,
        "PULocationID": 132,
        "DOLocationID": 230,
        "trip_distance": 17.5,
        "passenger_count": 1,
        "payment_type": 1,
        "fare_amount": 70.0,
    }
    return RideEvent.model_validate({**fields, **changes})


def upload(**changes: object) -> UploadEvent:
    fields: dict[str, object] = {
        "event_id": "u1",
        "occurred_at": WHEN,
        "uploader_id": "user-1",
        "title": "Sunset timelapse",
        "description": "Filmed at the beach.",
        "tags": ["sunset", "beach"],
        "duration_seconds": 61.0,
        "content_fingerprint": "0123456789abcdef",
        "uploader_account_age_days": 400,
        "uploader_prior_strikes": 2,
    }
    return UploadEvent.model_validate({**fields, **changes})


def test_pickup_hour_and_weekday_are_new_york_local() -> None:
    columns = RideColumns.from_events([ride()])

    assert list(columns.hour) == [8]
    assert list(columns.weekday) == [0]


def test_airport_rides_are_recognised_by_tlc_zone() -> None:
    columns = RideColumns.from_events([ride(), ride("r2", PULocationID=48)])

    assert list(columns.touches_airport) == [True, False]


def test_design_matrix_has_one_row_per_ride_and_the_same_columns_for_any_batch() -> None:
    one = ride_design_matrix(RideColumns.from_events([ride()]))
    three = ride_design_matrix(
        RideColumns.from_events([ride(), ride("r2", trip_distance=1.0), ride("r3")])
    )

    assert one.shape[0] == 1
    assert three.shape[0] == 3
    assert one.shape[1] == three.shape[1]
    np.testing.assert_allclose(one.toarray()[0], three.toarray()[2])


def test_an_empty_batch_gives_an_empty_design_matrix() -> None:
    assert ride_design_matrix(RideColumns.from_events([])).shape[0] == 0


def test_upload_text_joins_title_description_and_tags() -> None:
    columns = UploadColumns.from_events([upload()])

    assert columns.text == ["Sunset timelapse\nFilmed at the beach.\nsunset beach"]
    assert list(columns.prior_strikes) == [2.0]


def test_a_batch_of_the_wrong_event_type_is_refused() -> None:
    with pytest.raises(ModelError, match="RideEvent"):
        RideColumns.from_events([ride(), upload()])


# -- the vectorised ride columns against a plain per-ride reference ------------------------------

NEW_YORK = ZoneInfo("America/New_York")
DST_EDGES_UTC = [
    # 2024 spring forward: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    datetime(2024, 3, 10, 6, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 3, 10, 7, 0, tzinfo=UTC),
    # 2024 fall back: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:xx local happens twice.
    datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
    datetime(2024, 11, 3, 5, 59, 59, tzinfo=UTC),
    datetime(2024, 11, 3, 6, 0, tzinfo=UTC),
    datetime(2024, 11, 3, 6, 30, tzinfo=UTC),
    # The same edges written in other offsets, and the local midnight that changes the weekday.
    datetime(2024, 3, 10, 1, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2024, 11, 3, 1, 0, tzinfo=timezone(timedelta(hours=-4))),
    datetime(2024, 7, 1, 9, 29, 59, 500_000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 12, 31, 4, 59, 59, tzinfo=UTC),
    datetime(2025, 1, 1, 5, 0, tzinfo=UTC),
    # Odd offsets (seconds, microseconds), an old date and one before the epoch.
    datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(seconds=-3_661, microseconds=-1))),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
]
NEW_YORK_ZONED = [
    # Events built in Python may carry New York's own zone; the repeated hour both ways.
    datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK),
    datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK),
    datetime(2024, 3, 10, 3, 0, tzinfo=NEW_YORK),
    datetime(2024, 7, 4, 23, 59, 59, tzinfo=NEW_YORK),
]


def reference_columns(rides: list[RideEvent]) -> dict[str, np.ndarray]:
    """The straightforward way, one ride at a time: what the vectorised code must reproduce."""
    local = [r.pickup_datetime.astimezone(NEW_YORK).replace(tzinfo=None) for r in rides]
    return {
        "pickup_zone": np.array([r.PULocationID for r in rides], dtype=np.int64),
        "dropoff_zone": np.array([r.DOLocationID for r in rides], dtype=np.int64),
        "trip_distance": np.array([r.trip_distance for r in rides], dtype=np.float64),
        "pickup_local": np.array(local, dtype="datetime64[s]"),
        "passenger_count": np.array([r.passenger_count for r in rides], dtype=np.int64),
        "payment_type": np.array([r.payment_type for r in rides], dtype=np.int64),
        "fare_amount": np.array([r.fare_amount for r in rides], dtype=np.float64),
        "vendor_id": np.array([r.VendorID for r in rides], dtype=np.int64),
        "hour": np.array([t.hour for t in local], dtype=np.int64),
        "weekday": np.array([t.weekday() for t in local], dtype=np.int64),
    }


def random_rides(count: int, seed: int) -> list[RideEvent]:
    """Rides with random fields and pickups spread over years, offsets and DST changes."""
    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    rides = []
    for i in range(count):
        moment = start + timedelta(seconds=rng.randrange(12 * 365 * 86_400), microseconds=i)
        offset = timezone(timedelta(minutes=rng.choice([0, 0, -300, -240, 330, 60])))
        rides.append(
            ride(
                f"r{i}",
                pickup_datetime=moment.astimezone(offset),
                PULocationID=rng.randint(1, 265),
                DOLocationID=rng.randint(1, 265),
                trip_distance=round(rng.uniform(0, 40), 2),
                passenger_count=rng.randint(0, 9),
                payment_type=rng.randint(0, 6),
                fare_amount=round(rng.uniform(0, 200), 2),
                VendorID=rng.randint(1, 7),
            )
        )
    edges = [ride(f"edge{i}", pickup_datetime=when) for i, when in enumerate(DST_EDGES_UTC)]
    # Every DST edge a few seconds either side, so each changeover is crossed both ways.
    around = [
        ride(f"near{i}-{s}", pickup_datetime=when + timedelta(seconds=s))
        for i, when in enumerate(DST_EDGES_UTC)
        for s in (-3_601, -1, 1, 3_599)
    ]
    zoned = [ride(f"zoned{i}", pickup_datetime=when) for i, when in enumerate(NEW_YORK_ZONED)]
    return rides + edges + around + zoned


def test_vectorised_ride_columns_equal_a_per_ride_reference() -> None:
    rides = random_rides(400, seed=7)

    columns = RideColumns.from_events(rides)
    expected = reference_columns(rides)

    for name, want in expected.items():
        got = getattr(columns, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_pickups_either_side_of_a_dst_change_get_new_york_wall_clock_hours() -> None:
    spring = [datetime(2024, 3, 10, h, 30, tzinfo=UTC) for h in (6, 7)]  # 01:30 EST, 03:30 EDT
    autumn = [datetime(2024, 11, 3, h, 30, tzinfo=UTC) for h in (5, 6)]  # 01:30 EDT, 01:30 EST
    rides = [ride(f"r{i}", pickup_datetime=t) for i, t in enumerate(spring + autumn)]

    columns = RideColumns.from_events(rides)

    assert list(columns.hour) == [1, 3, 1, 1]
    assert list(columns.weekday) == [6, 6, 6, 6]


def test_a_new_york_wall_time_that_never_happened_is_read_as_the_instant_it_names() -> None:
    """02:30 on the spring-forward day does not exist in New York; given in New York's own zone
    (never the case for events parsed from JSON, whose offsets are fixed) it names the instant
    07:30 UTC, which New York clocks showed as 03:30. (The old per-ride code kept 02:30.)"""
    gap = datetime(2024, 3, 10, 2, 30, tzinfo=NEW_YORK)

    columns = RideColumns.from_events([ride(pickup_datetime=gap)])

    assert list(columns.pickup_local) == [np.datetime64("2024-03-10T03:30:00")]


def test_new_york_changes_its_utc_offset_only_on_a_utc_hour() -> None:
    """What lets ``new_york_local`` look the offset up once per hour: true for every change in
    the tz database (searched day by day, then minute by minute where a day changes)."""
    day = timedelta(days=1)
    when = datetime(1880, 1, 1, tzinfo=UTC)
    changes = []
    while when.year < 2100:
        if (when + day).astimezone(NEW_YORK).utcoffset() != when.astimezone(NEW_YORK).utcoffset():
            changes.extend(
                t
                for t in (when + timedelta(minutes=m) for m in range(1, 24 * 60 + 1))
                if t.astimezone(NEW_YORK).utcoffset()
                != (t - timedelta(minutes=1)).astimezone(NEW_YORK).utcoffset()
            )
        when += day

    assert len(changes) > 200  # twice a year, most years since 1918
    assert all(t.minute == 0 and t.second == 0 for t in changes)


def reference_design_row(ride_event: RideEvent) -> dict[int, float]:
    """One ride's non-zero design columns, written out field by field."""
    local = ride_event.pickup_datetime.astimezone(NEW_YORK)
    pickup, dropoff = ride_event.PULocationID - 1, ride_event.DOLocationID - 1
    sizes = [265 * 265, 265, 265, 7 * 24, 7, 7, 10]
    codes = [
        pickup * 265 + dropoff,
        pickup,
        dropoff,
        local.weekday() * 24 + local.hour,
        ride_event.payment_type,
        ride_event.VendorID - 1,
        ride_event.passenger_count,
    ]
    row: dict[int, float] = {}
    offset = 0
    for code, size in zip(codes, sizes, strict=True):
        row[offset + code] = 1.0
        offset += size
    distance, fare = ride_event.trip_distance, ride_event.fare_amount
    airport = ride_event.PULocationID in (1, 132, 138) or ride_event.DOLocationID in (1, 132, 138)
    numbers = [math.log1p(distance), distance / 10, math.log1p(fare), fare / 50]
    numbers.append(fare / 50 if airport else 0.0)
    for i, number in enumerate(numbers):
        row[offset + i] = number
    return row


def test_design_matrix_equals_a_per_ride_reference() -> None:
    rides = random_rides(300, seed=11)

    matrix = ride_design_matrix(RideColumns.from_events(rides))

    assert matrix.shape == (len(rides), 265 * 265 + 2 * 265 + 7 * 24 + 7 + 7 + 10 + 5)
    assert matrix.has_sorted_indices
    for i, ride_event in enumerate(rides):
        start, stop = matrix.indptr[i], matrix.indptr[i + 1]
        columns, values = matrix.indices[start:stop].tolist(), matrix.data[start:stop].tolist()
        got = dict(zip(columns, values, strict=True))
        want = reference_design_row(ride_event)
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[c] for c in want], list(want.values()), rtol=1e-15)
