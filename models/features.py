"""Model inputs built from a whole batch at once, shared by training and by the checks.

Rides become a sparse design matrix, uploads a text column plus uploader numbers; one code path,
so a model never sees features at serving time that differ from the ones it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from streamjury.errors import ModelError
from streamjury.schemas import RideEvent, UploadEvent

if TYPE_CHECKING:
    from scipy import sparse

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


_RIDE_FIELDS = {
    # RideColumns field: how to read it from a RideEvent, and its dtype
    "pickup_zone": (attrgetter("PULocationID"), np.int64),
    "dropoff_zone": (attrgetter("DOLocationID"), np.int64),
    "trip_distance": (attrgetter("trip_distance"), np.float64),
    "passenger_count": (attrgetter("passenger_count"), np.int64),
    "payment_type": (attrgetter("payment_type"), np.int64),
    "fare_amount": (attrgetter("fare_amount"), np.float64),
    "vendor_id": (attrgetter("VendorID"), np.int64),
}
_PICKUP = attrgetter("pickup_datetime")
_WALL_CLOCK = attrgetter("hour", "minute", "second", "microsecond")
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND_US = 1_000_000
_HOUR_S = 3_600


def _gather(rows: Iterable[tuple[Any, ...]], n: int, width: int, dtype: type) -> Array:
    """An ``n`` x ``width`` array from ``n`` tuples, without numpy's slow nested-list path."""
    return np.fromiter(chain.from_iterable(rows), dtype=dtype, count=n * width).reshape(n, width)


def utc_seconds(moments: Sequence[datetime]) -> Array:
    """Whole seconds since the Unix epoch (floored, like ``datetime64[s]``) of aware datetimes.

    Integer arithmetic on each datetime's own wall clock and UTC offset: exact for any year,
    where float ``timestamp()`` loses microseconds far from 1970.
    """
    n = len(moments)
    days = np.fromiter(map(datetime.toordinal, moments), np.int64, n) - _UNIX_EPOCH_ORDINAL
    clock = _gather(map(_WALL_CLOCK, moments), n, 4, np.int64)
    # Aware datetimes (all the event schema admits) always have an offset, never None.
    offsets = cast("Iterator[timedelta]", map(datetime.utcoffset, moments))
    offset_s = np.fromiter(map(timedelta.total_seconds, offsets), np.float64, n)
    wall_us = ((days * 24 + clock[:, 0]) * 60 + clock[:, 1]) * 60 + clock[:, 2]
    wall_us = wall_us * _SECOND_US + clock[:, 3]
    # Any UTC offset is under a day, so its microseconds are exact in a float64.
    utc_us = wall_us - np.rint(offset_s * _SECOND_US).astype(np.int64)
    return utc_us // _SECOND_US


def new_york_local(utc: Array) -> Array:
    """Naive New York wall-clock times (``datetime64[s]``) of UTC epoch seconds.

    The tz database is asked once per distinct UTC hour, not once per ride: New York's offset
    only ever changes on a UTC hour boundary, and a batch spans few hours.
    """
    hours, inverse = np.unique(utc // _HOUR_S, return_inverse=True)
    offsets = np.array([_new_york_offset_in_hour(int(hour)) for hour in hours], dtype=np.int64)
    local: Array = (utc + offsets[inverse]).astype("datetime64[s]")
    return local


@lru_cache(maxsize=4_096)
def _new_york_offset_in_hour(hour: int) -> int:
    """New York's UTC offset in seconds throughout UTC hour ``hour`` (hours since the epoch)."""
    start, end = _new_york_offset(hour * _HOUR_S), _new_york_offset(hour * _HOUR_S + _HOUR_S - 1)
    if start != end:  # never in the tz database (a test checks); fail rather than mis-convert
        raise ModelError(f"New York's UTC offset changes within UTC hour {hour}")
    return start


def _new_york_offset(utc: int) -> int:
    local = (_UNIX_EPOCH + timedelta(seconds=utc)).astimezone(NYC)
    offset = local.utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return int(offset.total_seconds())


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
        """Columns for a batch of ride events, pickups converted to New York wall-clock time.

        Every batch the duration and tip consumers score passes through here, so fields are
        read in C-level passes (``attrgetter`` into ``np.fromiter``) and the time-zone
        arithmetic is vectorised: ~1 µs a ride, where converting each pickup took ~3.
        """
        rides = only(events, RideEvent)
        n = len(rides)
        numbers = {
            name: np.fromiter(map(read, rides), dtype, n)
            for name, (read, dtype) in _RIDE_FIELDS.items()
        }
        pickups = list(map(_PICKUP, rides))
        return cls(pickup_local=new_york_local(utc_seconds(pickups)), **numbers)

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
        return _is_airport(self.pickup_zone) | _is_airport(self.dropoff_zone)


def _is_airport(zones: Array) -> Array:
    """``np.isin(zones, AIRPORT_ZONES)``: three comparisons cost a sixth of isin's sort."""
    airport = np.zeros(zones.shape, dtype=bool)
    for zone in AIRPORT_ZONES:
        airport |= zones == zone
    return airport


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


@dataclass(frozen=True, slots=True)
class RideDesign:
    """The ride design matrix in its natural shape: every row has exactly one entry per
    categorical block plus the numbers, so it is two dense (rows x entries) arrays of column
    indices and values. A linear model scores it with one gather and one row sum (numpy
    only); training gets the same matrix as scipy CSR from ``to_csr``."""

    indices: Array
    data: Array
    width: int

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def to_csr(self) -> sparse.csr_matrix:
        from scipy import sparse  # training and tests only: serving never needs scipy

        rows, per_row = self.indices.shape
        indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int64)
        return sparse.csr_matrix(
            (self.data.ravel(), self.indices.ravel(), indptr), shape=(rows, self.width)
        )


def ride_design(columns: RideColumns) -> RideDesign:
    """One row per ride: one-hot zone pair, zones, weekday-hour, payment, plus numbers.

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
    # Per row: one entry per categorical block, in block order, then the numbers; the column
    # indices are increasing, so the same arrays are valid CSR without sorting.
    first_numeric = int(offsets[-1])
    indices = np.empty((n, len(codes) + numeric.shape[1]), dtype=np.int64)
    indices[:, : len(codes)] = np.stack(codes, axis=1) + offsets[:-1]
    indices[:, len(codes) :] = first_numeric + np.arange(numeric.shape[1])
    data = np.hstack([np.ones((n, len(codes))), numeric])
    return RideDesign(indices=indices, data=data, width=first_numeric + numeric.shape[1])


def ride_design_matrix(columns: RideColumns) -> sparse.csr_matrix:
    """``ride_design`` as a scipy CSR matrix, for fitting."""
    return ride_design(columns).to_csr()


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
