"""Synthetic, seeded ride and upload events with ground-truth labels, for training and demos.

Nothing here is real data: a made-up city of 265 zones, made-up uploaders and vocabularies.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from streamjury.errors import ConfigError
from streamjury.schemas import RideCompleted, RideEvent, UploadEvent, utc_now

NYC = ZoneInfo("America/New_York")
ZONE_COUNT = 265
EWR, JFK, LGA = 1, 132, 138
"""The airports keep their real NYC TLC zone ids, so airport features mean the same on real data."""
AIRPORTS = (EWR, JFK, LGA)
CHUNK = 1024
"""Events are drawn in fixed-size vectorised chunks: a seed gives the same events for any count."""
MEAN_GAP_SECONDS = 0.05
"""Mean spacing of ``occurred_at``: a burst of events just after ``start``."""
COPY_RATE = 0.05
MAX_FLIPPED_BITS = 6
UPLOADER_POOL = 2_000
CITY_SEED = 20_240_101
"""The city's geography is fixed; the event seed only changes who rides where and when."""

_BOROUGH_ZONE_COUNTS = {
    "Manhattan": 69,
    "Brooklyn": 61,
    "Queens": 67,
    "Bronx": 43,
    "Staten Island": 20,
}
"""Queens also holds JFK and LaGuardia, like the real map (69 zones)."""
_BOROUGH_SHAPE = {  # centre (x, y) and spread in miles from Midtown
    "Manhattan": ((0.0, 1.0), (0.6, 2.5)),
    "Brooklyn": ((2.0, -6.0), (2.5, 2.5)),
    "Queens": ((8.0, 1.0), (3.0, 3.0)),
    "Bronx": ((3.0, 11.0), (2.0, 2.0)),
    "Staten Island": ((-7.0, -12.0), (2.5, 2.5)),
    "Unknown": ((0.0, 0.0), (8.0, 8.0)),
}
_PICKUP_WEIGHT = {
    "EWR": 0.3,
    "Manhattan": 1.0,
    "Brooklyn": 0.12,
    "Queens": 0.1,
    "Bronx": 0.05,
    "Staten Island": 0.01,
    "Unknown": 0.02,
}
_AIRPORT_PICKUP_WEIGHT = 6.0
_HOURLY_DEMAND = np.array(
    [
        [0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.6, 1.0, 1.3, 1.3, 1.2, 1.2],  # 00:00 to 11:00
        [1.3, 1.3, 1.4, 1.5, 1.6, 1.7, 1.9, 1.9, 1.7, 1.5, 1.3, 1.0],  # 12:00 to 23:00
    ]
).ravel()
"""Relative pickups per local hour: quiet before dawn, busiest in the evening."""
_PAYMENT_TYPES = np.array([0, 1, 2, 3, 4])
_PAYMENT_WEIGHTS = np.array([0.01, 0.72, 0.23, 0.02, 0.02])
_CREDIT_CARD = 1


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


BENIGN_WORDS = _words(
    "cooking recipe travel vlog tutorial music cover guitar piano cat dog puppy garden workout "
    "yoga review unboxing gaming speedrun makeup diy woodworking science history lecture "
    "podcast comedy sketch wedding birthday family hiking camping fishing football basketball "
    "highlights news interview art drawing painting lego car repair budget study dance reaction "
    "baking bread coffee beach sunset city tour nature birds kids school summer holiday"
)
AMBIGUOUS_WORDS = _words(
    "hot spicy shoot raw wild insane savage extreme killer knockout kiss bikini strip brutal crazy"
)
"""Used by benign and flagged uploads alike (a photo shoot, a killer recipe): signal, not proof."""
NSFW_WORDS = _words(
    "nsfw explicit uncensored nude adult lewd erotic naughty leaked topless lingerie xxx sensual"
)
VIOLENT_WORDS = _words(
    "fight brawl gore blood beating stabbing shooting massacre execution riot assault bloody "
    "attack ambush torture carnage"
)
FILLER_WORDS = _words("the and my with in watch new best our this full part")
_WORD_GROUPS = (BENIGN_WORDS, AMBIGUOUS_WORDS, NSFW_WORDS, VIOLENT_WORDS, FILLER_WORDS)
_VOCABULARY = tuple(itertools.chain.from_iterable(_WORD_GROUPS))
_VOCABULARY_SPANS = tuple(
    (sum(map(len, _WORD_GROUPS[:k])), len(group)) for k, group in enumerate(_WORD_GROUPS)
)
"""(first index, size) inside ``_VOCABULARY`` of each of ``_WORD_GROUPS``, in order."""

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class LabelledRide:
    """A ride event plus what actually happened: the training labels."""

    event: RideEvent
    duration_minutes: float
    tip_amount: float


@dataclass(frozen=True)
class LabelledUpload:
    """An upload event plus the truth the moderation models should learn."""

    event: UploadEvent
    nsfw: bool
    violent: bool
    copyright_source: str | None
    """The protected fingerprint this upload is a near-copy of, or None for original content."""


@dataclass(frozen=True)
class _City:
    borough: tuple[str, ...]  # index = location id; index 0 unused
    xy: Array  # (266, 2) miles from Midtown
    pickup_p: Array  # (266,)
    dropoff_cdf: Array  # (266, 266): row = pickup zone


@functools.cache
def _city() -> _City:
    """The synthetic map: boroughs, zone centroids and a gravity model of where people go."""
    rng = np.random.default_rng(CITY_SEED)
    borough = ["Unknown"] * (ZONE_COUNT + 1)
    borough[EWR] = "EWR"
    borough[JFK] = borough[LGA] = "Queens"
    free = [z for z in range(2, 264) if z not in (JFK, LGA)]
    rng.shuffle(free)
    position = 0
    for name, count in _BOROUGH_ZONE_COUNTS.items():
        for zone in free[position : position + count]:
            borough[zone] = name
        position += count
    xy = np.zeros((ZONE_COUNT + 1, 2))
    for zone in range(1, ZONE_COUNT + 1):
        if borough[zone] in _BOROUGH_SHAPE:
            centre, spread = _BOROUGH_SHAPE[borough[zone]]
            xy[zone] = rng.normal(centre, spread)
    xy[EWR], xy[JFK], xy[LGA] = (-12.0, -5.0), (13.0, -6.0), (7.0, 4.0)

    weight = np.array([0.0] + [_PICKUP_WEIGHT[b] for b in borough[1:]])
    weight[[JFK, LGA]] = _AIRPORT_PICKUP_WEIGHT
    pickup_p = weight / weight.sum()
    distance = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    attraction = weight[None, :] * np.exp(-distance / 3.0) + 0.002
    attraction[:, 0] = 0.0
    dropoff_cdf = np.cumsum(attraction / attraction.sum(axis=1, keepdims=True), axis=1)
    return _City(tuple(borough), xy, pickup_p, dropoff_cdf)


def borough_of(location_id: int) -> str:
    """The synthetic borough of a zone id (airports and ids 264/265 as in the TLC lookup)."""
    return _city().borough[location_id]


def protected_fingerprints(seed: int = 0, count: int = 2000) -> list[str]:
    """The copyright registry: distinct 64-bit fingerprints of protected works, as 16 hex chars."""
    _check_non_negative(seed=seed, count=count)
    rng = np.random.default_rng([seed, 0xC0])
    values = np.unique(rng.integers(0, 2**64, size=count + 16, dtype=np.uint64))
    rng.shuffle(values)
    return [f"{int(v):016x}" for v in values[:count]]


def generate_rides(seed: int, count: int, start: datetime | None = None) -> list[LabelledRide]:
    """``count`` labelled rides; the same seed and start always give the same rides."""
    _check_non_negative(seed=seed, count=count)
    return list(itertools.islice(iter_rides(seed, start), count))


def generate_uploads(seed: int, count: int, start: datetime | None = None) -> list[LabelledUpload]:
    """``count`` labelled uploads, ~5% of them near-copies of ``protected_fingerprints()``."""
    _check_non_negative(seed=seed, count=count)
    return list(itertools.islice(iter_uploads(seed, start), count))


def iter_rides(seed: int, start: datetime | None = None) -> Iterator[LabelledRide]:
    """An endless stream of labelled rides (for producing large counts without holding them).

    ``occurred_at`` is when the event is emitted (``start`` plus small gaps); ``pickup_datetime``
    replays a simulated week before ``start`` so models see every hour and weekday.
    """
    _check_non_negative(seed=seed)
    return _ride_stream(seed, _utc_start(start))


def _ride_stream(seed: int, origin: datetime) -> Iterator[LabelledRide]:
    rng = np.random.default_rng([seed, 1])
    week_start = datetime.combine(origin.astimezone(NYC).date(), datetime.min.time()) - timedelta(
        days=7
    )
    offset_us = 0
    for chunk_index in itertools.count():
        chunk = _draw_rides(rng, CHUNK, first_weekday=week_start.weekday())
        gaps = np.cumsum(rng.exponential(MEAN_GAP_SECONDS * 1e6, CHUNK).astype(np.int64))
        for i in range(CHUNK):
            number = chunk_index * CHUNK + i
            local_pickup = week_start + timedelta(seconds=int(chunk["pickup_second"][i]))
            pickup = local_pickup.replace(tzinfo=NYC).astimezone(UTC)
            event = RideEvent(
                event_id=f"ride-{seed}-{number}",
                occurred_at=origin + timedelta(microseconds=offset_us + int(gaps[i])),
                VendorID=int(chunk["vendor"][i]),
                pickup_datetime=pickup,
                PULocationID=int(chunk["pickup_zone"][i]),
                DOLocationID=int(chunk["dropoff_zone"][i]),
                trip_distance=float(chunk["distance"][i]),
                passenger_count=int(chunk["passengers"][i]),
                payment_type=int(chunk["payment"][i]),
                fare_amount=float(chunk["fare"][i]),
            )
            yield LabelledRide(event, float(chunk["duration"][i]), float(chunk["tip"][i]))
        offset_us += int(gaps[-1])


def _draw_rides(rng: np.random.Generator, n: int, first_weekday: int) -> dict[str, Array]:
    """One vectorised draw of ``n`` rides: where, when, how far, how long, how paid.

    Pickups fall on one of the 7 days after a day whose weekday is ``first_weekday`` (Monday 0).
    """
    city = _city()
    pickup_zone = rng.choice(ZONE_COUNT + 1, size=n, p=city.pickup_p)
    dropoff_zone = 1 + (city.dropoff_cdf[pickup_zone, 1:] < rng.random(n)[:, None]).sum(axis=1)
    dropoff_zone = np.minimum(dropoff_zone, ZONE_COUNT)

    straight = np.linalg.norm(city.xy[pickup_zone] - city.xy[dropoff_zone], axis=1)
    same_zone = pickup_zone == dropoff_zone
    distance = np.where(
        same_zone, rng.uniform(0.3, 1.5, n), straight * 1.25 * rng.lognormal(0.0, 0.1, n)
    )
    distance = np.round(np.maximum(distance, 0.1), 2)

    day = rng.integers(0, 7, n)
    hour = rng.choice(24, size=n, p=_HOURLY_DEMAND / _HOURLY_DEMAND.sum())
    pickup_second = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    weekday = (first_weekday + day) % 7
    expected = _expected_minutes(pickup_zone, dropoff_zone, distance, hour, weekday)
    duration = np.round(np.clip(expected * rng.lognormal(0.0, 0.2, n), 1.0, 240.0), 2)

    fare = _upfront_fare(pickup_zone, dropoff_zone, distance, expected, rng)
    payment = rng.choice(_PAYMENT_TYPES, size=n, p=_PAYMENT_WEIGHTS)
    airport = np.isin(pickup_zone, AIRPORTS) | np.isin(dropoff_zone, AIRPORTS)
    tip_share = np.clip(rng.normal(0.17, 0.05, n) + 0.02 * airport, 0.0, 0.35)
    tips_at_all = (payment == _CREDIT_CARD) & (rng.random(n) > 0.08)
    tip = np.round(np.where(tips_at_all, fare * tip_share, 0.0), 2)

    passengers = rng.choice(7, size=n, p=[0.02, 0.70, 0.15, 0.05, 0.03, 0.03, 0.02])
    vendor = rng.choice([1, 2], size=n, p=[0.3, 0.7])
    return {
        "pickup_zone": pickup_zone,
        "dropoff_zone": dropoff_zone,
        "distance": distance,
        "pickup_second": pickup_second,
        "duration": duration,
        "fare": fare,
        "payment": payment,
        "tip": tip,
        "passengers": passengers,
        "vendor": vendor,
    }


def _expected_minutes(
    pickup_zone: Array,
    dropoff_zone: Array,
    distance: Array,
    hour: Array,
    weekday: Array,
) -> Array:
    """Typical trip time: Manhattan crawls, airport runs use highways, rush hour slows all."""
    borough = np.array(_city().borough)
    in_manhattan = (borough[pickup_zone] == "Manhattan") & (borough[dropoff_zone] == "Manhattan")
    airport = np.isin(pickup_zone, AIRPORTS) | np.isin(dropoff_zone, AIRPORTS)
    mph = np.where(in_manhattan, 10.0, np.where(airport, 20.0, 15.0))
    workday = weekday < 5
    rush = workday & (((hour >= 7) & (hour < 10)) | ((hour >= 16) & (hour < 19)))
    night = hour < 6
    mph = mph * np.where(rush, 0.65, 1.0) * np.where(night, 1.35, 1.0)
    mph = mph * np.where(workday, 1.0, 1.1)
    return 2.0 + distance / mph * 60.0


def _upfront_fare(
    pickup_zone: Array,
    dropoff_zone: Array,
    distance: Array,
    expected_minutes: Array,
    rng: np.random.Generator,
) -> Array:
    """The TLC meter priced up front: $3 flag drop, $3.50/mile, $0.70/slow minute; JFK flat fare."""
    borough = np.array(_city().borough)
    slow_minutes = 0.3 * expected_minutes * rng.lognormal(0.0, 0.1, len(distance))
    fare = 3.0 + 3.5 * distance + 0.7 * slow_minutes
    jfk_manhattan = ((pickup_zone == JFK) & (borough[dropoff_zone] == "Manhattan")) | (
        (dropoff_zone == JFK) & (borough[pickup_zone] == "Manhattan")
    )
    fare = np.where(jfk_manhattan, 70.0, fare)
    fare = fare + np.where((pickup_zone == EWR) | (dropoff_zone == EWR), 17.5, 0.0)
    return np.round(fare, 2)


def iter_uploads(
    seed: int, start: datetime | None = None, *, protected: Sequence[str] | None = None
) -> Iterator[LabelledUpload]:
    """An endless stream of labelled uploads; near-copies come from ``protected``.

    ``protected`` defaults to ``protected_fingerprints()``, the registry the copyright model uses.
    """
    _check_non_negative(seed=seed)
    registry = list(protected) if protected is not None else protected_fingerprints()
    return _upload_stream(seed, _utc_start(start), registry)


def _upload_stream(seed: int, origin: datetime, registry: list[str]) -> Iterator[LabelledUpload]:
    registry_values = np.array([int(p, 16) for p in registry], dtype=np.uint64)
    rng = np.random.default_rng([seed, 2])
    uploaders = _draw_uploaders(rng)
    offset_us = 0
    for chunk_index in itertools.count():
        gaps = np.cumsum(rng.exponential(MEAN_GAP_SECONDS * 1e6, CHUNK).astype(np.int64))
        who = rng.integers(0, UPLOADER_POOL, CHUNK)
        risk = uploaders["risk"][who]
        nsfw = rng.random(CHUNK) < _sigmoid(-3.3 + 5.0 * risk)
        violent = rng.random(CHUNK) < _sigmoid(-3.5 + 5.0 * risk)
        fingerprints, sources = _draw_fingerprints(rng, registry_values, CHUNK)
        texts = _draw_texts(rng, nsfw, violent)
        seconds = np.clip(rng.lognormal(np.log(300.0), 1.0, CHUNK), 1.0, 86_400.0)
        for i in range(CHUNK):
            number = chunk_index * CHUNK + i
            title, description, tags = texts[i]
            source = int(sources[i])
            event = UploadEvent(
                event_id=f"upload-{seed}-{number}",
                occurred_at=origin + timedelta(microseconds=offset_us + int(gaps[i])),
                uploader_id=f"user-{seed}-{int(who[i])}",
                title=title,
                description=description,
                tags=tags,
                duration_seconds=round(float(seconds[i]), 1),
                content_fingerprint=f"{int(fingerprints[i]):016x}",
                uploader_account_age_days=int(uploaders["age_days"][who[i]]),
                uploader_prior_strikes=int(uploaders["strikes"][who[i]]),
            )
            yield LabelledUpload(
                event=event,
                nsfw=bool(nsfw[i]),
                violent=bool(violent[i]),
                copyright_source=registry[source] if source >= 0 else None,
            )
        offset_us += int(gaps[-1])


def _draw_uploaders(rng: np.random.Generator) -> dict[str, Array]:
    """A pool of uploaders whose hidden risk makes young, struck accounts post worse content."""
    risk = rng.beta(1.2, 6.0, UPLOADER_POOL)
    age_days = np.clip(rng.lognormal(np.log(700.0) - 3.0 * risk, 1.0), 0, 5_000).astype(np.int64)
    strikes = rng.poisson(12.0 * risk**2)
    return {"risk": risk, "age_days": age_days, "strikes": strikes}


def _draw_fingerprints(
    rng: np.random.Generator, registry: npt.NDArray[np.uint64], n: int
) -> tuple[npt.NDArray[np.uint64], Array]:
    """Random 64-bit fingerprints, except ~5% copies of a protected one with a few bits flipped."""
    values = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    sources = np.full(n, -1, dtype=np.int64)
    if len(registry) == 0:
        return values, sources
    for row in np.flatnonzero(rng.random(n) < COPY_RATE):
        source = int(rng.integers(0, len(registry)))
        flips = rng.choice(64, size=int(rng.integers(0, MAX_FLIPPED_BITS + 1)), replace=False)
        mask = sum((1 << int(bit)) for bit in flips)
        values[row] = np.uint64(int(registry[source]) ^ mask)
        sources[row] = source
    return values, sources


def _draw_texts(
    rng: np.random.Generator, nsfw: npt.NDArray[np.bool_], violent: npt.NDArray[np.bool_]
) -> list[tuple[str, str, list[str]]]:
    """Titles, descriptions and tags whose words hint at the labels, noisily and with overlap.

    Drawn for a whole chunk at once: token indices per category, then a per-upload shuffle
    done as one sort by (upload, random key).
    """
    n = len(nsfw)
    flagged = nsfw | violent
    counts = np.stack(
        [
            rng.integers(4, 12, n),
            rng.poisson(np.where(flagged, 1.2, 0.3)),
            rng.poisson(np.where(nsfw, 1.8, 0.05)),
            rng.poisson(np.where(violent, 1.8, 0.05)),
        ],
        axis=1,
    )
    word_counts = counts.sum(axis=1)
    owners = np.concatenate([np.repeat(np.arange(n), counts[:, k]) for k in range(4)])
    tokens = np.concatenate(
        [
            start + rng.integers(0, size, int(counts[:, k].sum()))
            for k, (start, size) in enumerate(_VOCABULARY_SPANS[:4])
        ]
    )
    words = _split_shuffled(rng, tokens, owners, word_counts)

    filler_counts = word_counts // 2
    filler_start, filler_size = _VOCABULARY_SPANS[4]
    filler = filler_start + rng.integers(0, filler_size, int(filler_counts.sum()))
    bodies = _split_shuffled(
        rng,
        np.concatenate([tokens, filler]),
        np.concatenate([owners, np.repeat(np.arange(n), filler_counts)]),
        word_counts + filler_counts,
    )
    title_lengths = rng.integers(3, 7, n)
    tag_counts = rng.integers(1, 7, n)
    texts = []
    for i in range(n):
        upload_words = [_VOCABULARY[t] for t in words[i]]
        title = " ".join(upload_words[: title_lengths[i]]).capitalize()
        description = " ".join(_VOCABULARY[t] for t in bodies[i]).capitalize() + "."
        tags = list(dict.fromkeys(upload_words))[: tag_counts[i]]
        texts.append((title[:200], description, tags))
    return texts


def _split_shuffled(
    rng: np.random.Generator, tokens: Array, owners: Array, counts: Array
) -> list[Array]:
    """Group tokens by owner, each group in random order, in one vectorised sort."""
    order = np.lexsort((rng.random(len(tokens)), owners))
    return np.split(tokens[order], np.cumsum(counts)[:-1])


def _sigmoid(x: Array) -> Array:
    result: Array = 1.0 / (1.0 + np.exp(-x))
    return result


def _utc_start(start: datetime | None) -> datetime:
    if start is None:
        return utc_now()
    if start.tzinfo is None:
        raise ConfigError("start must be a timezone-aware datetime (UTC preferred)")
    return start.astimezone(UTC)


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ConfigError(f"{name} must be zero or more, got {value}")


def with_outcomes(rides: Iterable[LabelledRide]) -> Iterator[RideEvent | RideCompleted]:
    """Each ride, and later its ``ride_completed`` outcome, in event-time order.

    An outcome is released once a ride at or after its end time has been yielded (the rest at the
    end), so the merged sequence never goes back in time.
    """
    pending: list[tuple[datetime, int, RideCompleted]] = []
    for number, labelled in enumerate(rides):
        ride = labelled.event
        while pending and pending[0][0] <= ride.occurred_at:
            yield heapq.heappop(pending)[2]
        yield ride
        ended = ride.occurred_at + timedelta(minutes=labelled.duration_minutes)
        outcome = RideCompleted(
            event_id=ride.event_id,
            occurred_at=ended,
            duration_minutes=labelled.duration_minutes,
            tip_amount=labelled.tip_amount,
        )
        heapq.heappush(pending, (ended, number, outcome))
    while pending:
        yield heapq.heappop(pending)[2]
