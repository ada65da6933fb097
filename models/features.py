"""Model inputs built from a whole batch at once, shared by training and by the checks.

Rides become a sparse design matrix, uploads a text column plus uploader numbers; one code path,
so a model never sees features at serving time that differ from the ones it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy import sparse

from streamjury.errors import ModelError
from streamjury.schemas import RideEvent, UploadEvent

NYC = ZoneInfo("America/New_York")
ZONES = 265
AIRPORT_ZONES = (1, 132, 138)
"""Newark, JFK and LaGuardia in the published NYC TLC taxi zone lookup."""
MAX_VENDOR = 7
MAX_PAYMENT = 6
MAX_PASSENGERS = 9

Array = npt.NDArray[Any]
E = TypeVar("E", RideEvent, UploadEvent)


def only(events: Sequence[RideEvent | UploadEvent], kind: type[E]) -> list[E]:
    """The events, typed as ``kind``; a batch mixing in another event type is a wiring bug."""
    typed = [event for event in events if isinstance(event, kind)]
    if len(typed) != len(events):
        raise ModelError(f"expected only {kind.__name__} events in the batch")
    return typed


@dataclass(frozen=True)
class RideColumns:
    """Ride fields as parallel numpy arrays; ``pickup_local`` is naive New York time.

    Built from events (aware datetimes, converted to New York time) or from TLC trip records
    (whose timestamps are already naive New York time).
    """

    pickup_zone: Array
    dropoff_zone: Array
    trip_distance: Array
    pickup_local: Array  # datetime64[s]
    passenger_count: Array
    payment_type: Array
    fare_amount: Array
    vendor_id: Array

    def __len__(self) -> int:
        return len(self.pickup_zone)

    @classmethod
    def from_events(cls, events: Sequence[RideEvent | UploadEvent]) -> RideColumns:
        rides = only(events, RideEvent)
        numbers = np.array(
            [
                (
                    r.PULocationID,
                    r.DOLocationID,
                    r.trip_distance,
                    r.passenger_count,
                    r.payment_type,
                    r.fare_amount,
                    r.VendorID,
                )
                for r in rides
            ],
            dtype=np.float64,
        ).reshape(len(rides), 7)
        local = np.array(
            [r.pickup_datetime.astimezone(NYC).replace(tzinfo=None) for r in rides],
            dtype="datetime64[s]",
        )
        return cls(
            pickup_zone=numbers[:, 0].astype(np.int64),
            dropoff_zone=numbers[:, 1].astype(np.int64),
            trip_distance=numbers[:, 2],
            pickup_local=local,
            passenger_count=numbers[:, 3].astype(np.int64),
            payment_type=numbers[:, 4].astype(np.int64),
            fare_amount=numbers[:, 5],
            vendor_id=numbers[:, 6].astype(np.int64),
        )

    def take(self, rows: Array) -> RideColumns:
        """A subset of rows (a boolean mask or indices), e.g. a train/test split."""
        return RideColumns(**{name: value[rows] for name, value in vars(self).items()})

    @property
    def hour(self) -> Array:
        seconds = self.pickup_local.astype("datetime64[s]").astype(np.int64)
        return (seconds // 3_600) % 24

    @property
    def weekday(self) -> Array:
        """Monday is 0, as in ``datetime.weekday``; 1970-01-01 was a Thursday."""
        days = self.pickup_local.astype("datetime64[D]").astype(np.int64)
        return (days + 3) % 7

    @property
    def touches_airport(self) -> Array:
        return np.isin(self.pickup_zone, AIRPORT_ZONES) | np.isin(self.dropoff_zone, AIRPORT_ZONES)


_RIDE_CATEGORICAL = (
    ("PU_DO", ZONES * ZONES),
    ("PULocationID", ZONES),
    ("DOLocationID", ZONES),
    ("weekday_hour", 7 * 24),
    ("payment_type", MAX_PAYMENT + 1),
    ("VendorID", MAX_VENDOR),
    ("passenger_count", MAX_PASSENGERS + 1),
)
_RIDE_NUMERIC = (
    "log1p_trip_distance",
    "trip_distance_per_10mi",
    "log1p_fare_amount",
    "fare_amount_per_50usd",
    "airport_fare_amount_per_50usd",
)
RIDE_FEATURES = [f"{name} (one-hot)" for name, _ in _RIDE_CATEGORICAL] + list(_RIDE_NUMERIC)
"""What the ride models see, for the manifest."""


def ride_design_matrix(columns: RideColumns) -> sparse.csr_matrix:
    """One sparse row per ride: one-hot zone pair, zones, weekday-hour, payment, plus numbers.

    Every categorical domain is small and known (TLC zone ids, payment codes), so one-hot
    columns are computed arithmetically: stateless, vectorised, and identical at train and serve.
    """
    n = len(columns)
    pickup = np.clip(columns.pickup_zone, 1, ZONES) - 1
    dropoff = np.clip(columns.dropoff_zone, 1, ZONES) - 1
    codes = [
        pickup * ZONES + dropoff,
        pickup,
        dropoff,
        columns.weekday * 24 + columns.hour,
        np.clip(columns.payment_type, 0, MAX_PAYMENT),
        np.clip(columns.vendor_id, 1, MAX_VENDOR) - 1,
        np.clip(columns.passenger_count, 0, MAX_PASSENGERS),
    ]
    offsets = np.cumsum([0] + [size for _, size in _RIDE_CATEGORICAL])
    categorical_columns = np.concatenate(
        [code + offset for code, offset in zip(codes, offsets[:-1], strict=True)]
    )
    distance = np.maximum(columns.trip_distance, 0.0)
    fare = np.maximum(columns.fare_amount, 0.0)
    numeric = np.stack(
        [
            np.log1p(distance),
            distance / 10.0,
            np.log1p(fare),
            fare / 50.0,
            columns.touches_airport * fare / 50.0,
        ],
        axis=1,
    )
    first_numeric = offsets[-1]
    rows = np.concatenate([np.tile(np.arange(n), len(codes)), np.repeat(np.arange(n), 5)])
    cols = np.concatenate(
        [categorical_columns, np.tile(first_numeric + np.arange(numeric.shape[1]), n)]
    )
    data = np.concatenate([np.ones(n * len(codes)), numeric.ravel()])
    return sparse.csr_matrix((data, (rows, cols)), shape=(n, first_numeric + numeric.shape[1]))


@dataclass(frozen=True)
class UploadColumns:
    """Upload fields as the moderation models read them: one text per upload plus numbers."""

    text: list[str]
    account_age_days: Array
    prior_strikes: Array

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def from_events(cls, events: Sequence[RideEvent | UploadEvent]) -> UploadColumns:
        uploads = only(events, UploadEvent)
        return cls(
            text=[f"{u.title}\n{u.description}\n{' '.join(u.tags)}" for u in uploads],
            account_age_days=np.array(
                [u.uploader_account_age_days for u in uploads], dtype=np.float64
            ),
            prior_strikes=np.array([u.uploader_prior_strikes for u in uploads], dtype=np.float64),
        )

    def take(self, rows: Array) -> UploadColumns:
        indices = np.arange(len(self))[rows]
        return UploadColumns(
            text=[self.text[i] for i in indices],
            account_age_days=self.account_age_days[indices],
            prior_strikes=self.prior_strikes[indices],
        )

    def uploader_matrix(self) -> Array:
        """Uploader history on comparable scales: new accounts and past strikes carry risk."""
        age = self.account_age_days
        strikes = self.prior_strikes
        return np.stack(
            [np.log1p(age) / 8.0, (age < 30).astype(np.float64), np.log1p(strikes), strikes > 0],
            axis=1,
        ).astype(np.float64)


UPLOAD_FEATURES = [
    "tfidf(title + description + tags, words and bigrams)",
    "log1p_account_age_days",
    "account_younger_than_30_days",
    "log1p_prior_strikes",
    "has_prior_strikes",
]
