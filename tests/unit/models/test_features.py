"""Batch features: New York local time, one design row per ride, upload text and uploader numbers."""

from __future__ import annotations

from datetime import UTC, datetime

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
