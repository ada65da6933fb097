"""Synthetic data: deterministic by seed, valid on the wire, and carrying learnable signal."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from producers.synthetic import (
    AMBIGUOUS_WORDS,
    NSFW_WORDS,
    NYC,
    VIOLENT_WORDS,
    LabelledRide,
    LabelledUpload,
    borough_of,
    generate_rides,
    generate_uploads,
    iter_rides,
    iter_uploads,
    protected_fingerprints,
)
from streamjury.errors import ConfigError
from streamjury.schemas import parse_event

START = datetime(2025, 3, 6, 9, 0, tzinfo=UTC)  # a Thursday: the simulated week spans a weekend
CASH, CARD = 2, 1


@pytest.fixture(scope="module")
def rides() -> list[LabelledRide]:
    return generate_rides(seed=1, count=5_000, start=START)


@pytest.fixture(scope="module")
def uploads() -> list[LabelledUpload]:
    return generate_uploads(seed=1, count=5_000, start=START)


def test_same_seed_and_start_give_identical_events() -> None:
    assert generate_rides(7, 50, START) == generate_rides(7, 50, START)
    assert generate_uploads(7, 50, START) == generate_uploads(7, 50, START)


def test_different_seeds_give_different_events() -> None:
    assert generate_rides(7, 50, START) != generate_rides(8, 50, START)
    assert generate_uploads(7, 50, START) != generate_uploads(8, 50, START)


def test_a_short_run_is_the_start_of_a_longer_one() -> None:
    assert generate_rides(3, 10, START) == generate_rides(3, 2_000, START)[:10]
    assert generate_uploads(3, 10, START) == generate_uploads(3, 2_000, START)[:10]


def test_event_ids_are_unique_and_name_the_seed(
    rides: list[LabelledRide], uploads: list[LabelledUpload]
) -> None:
    ride_ids = [r.event.event_id for r in rides]
    upload_ids = [u.event.event_id for u in uploads]

    assert len(set(ride_ids)) == len(rides)
    assert len(set(upload_ids)) == len(uploads)
    assert ride_ids[:2] == ["ride-1-0", "ride-1-1"]
    assert upload_ids[:2] == ["upload-1-0", "upload-1-1"]


def test_occurred_at_is_utc_from_start_and_never_goes_back(rides: list[LabelledRide]) -> None:
    times = [r.event.occurred_at for r in rides]

    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert times[0] >= START
    assert times == sorted(times)
    assert times[-1] - START < timedelta(minutes=30)


def test_default_start_is_now() -> None:
    before = datetime.now(UTC)

    (ride,) = generate_rides(0, 1)

    assert before <= ride.event.occurred_at < before + timedelta(minutes=1)


def test_every_event_survives_the_wire_schema(
    rides: list[LabelledRide], uploads: list[LabelledUpload]
) -> None:
    events = [r.event for r in rides[:300]] + [u.event for u in uploads[:300]]

    assert all(parse_event(event.to_bytes()) == event for event in events)


def test_pickups_cover_every_new_york_hour_of_the_week_before_start(
    rides: list[LabelledRide],
) -> None:
    pickups = [r.event.pickup_datetime for r in rides]

    assert {p.astimezone(NYC).hour for p in pickups} == set(range(24))
    assert all(START - timedelta(days=8) < p < START for p in pickups)


def test_most_pickups_are_in_manhattan(rides: list[LabelledRide]) -> None:
    share = np.mean([borough_of(r.event.PULocationID) == "Manhattan" for r in rides])

    assert share > 0.5


def test_longer_trips_take_longer(rides: list[LabelledRide]) -> None:
    distance = np.array([r.event.trip_distance for r in rides])
    minutes = np.array([r.duration_minutes for r in rides])

    assert np.corrcoef(distance, minutes)[0, 1] > 0.7


def test_weekday_rush_hour_is_slower_per_mile_than_the_weekend(
    rides: list[LabelledRide],
) -> None:
    def minutes_per_mile(workday: bool) -> float:
        return float(
            np.median(
                [
                    r.duration_minutes / r.event.trip_distance
                    for r in rides
                    if r.event.trip_distance > 2
                    and r.event.pickup_datetime.astimezone(NYC).hour in (8, 17)
                    and (r.event.pickup_datetime.astimezone(NYC).weekday() < 5) == workday
                ]
            )
        )

    assert minutes_per_mile(workday=True) > 1.2 * minutes_per_mile(workday=False)


def test_fares_follow_the_meter_flag_drop_plus_per_mile(rides: list[LabelledRide]) -> None:
    metered = [r.event for r in rides if r.event.fare_amount != 70.0]

    assert all(e.fare_amount >= 3.0 + 3.5 * e.trip_distance - 0.01 for e in metered)


def test_cash_rides_never_tip(rides: list[LabelledRide]) -> None:
    cash = [r for r in rides if r.event.payment_type == CASH]

    assert cash
    assert all(r.tip_amount == 0.0 for r in cash)


def test_card_tips_are_a_share_of_the_fare(rides: list[LabelledRide]) -> None:
    card = [r for r in rides if r.event.payment_type == CARD]
    shares = np.array([r.tip_amount / r.event.fare_amount for r in card])

    assert np.all((shares >= 0) & (shares <= 0.38))
    assert 0.10 < np.median(shares) < 0.25


def test_about_five_percent_of_uploads_copy_a_protected_work_within_a_few_bits(
    uploads: list[LabelledUpload],
) -> None:
    copies = [u for u in uploads if u.copyright_source is not None]
    registry = set(protected_fingerprints())

    assert 0.03 < len(copies) / len(uploads) < 0.07
    for copy in copies:
        assert copy.copyright_source in registry
        flipped = int(copy.event.content_fingerprint, 16) ^ int(copy.copyright_source, 16)
        assert flipped.bit_count() <= 6


def uses(words: tuple[str, ...], upload: LabelledUpload) -> bool:
    text = f"{upload.event.title} {upload.event.description}".lower().rstrip(".")
    return not set(words).isdisjoint(text.split())


def test_flagged_uploads_use_flag_words_more_but_not_always(
    uploads: list[LabelledUpload],
) -> None:
    violent = [uses(VIOLENT_WORDS, u) for u in uploads if u.violent]
    peaceful = [uses(VIOLENT_WORDS, u) for u in uploads if not u.violent]
    nsfw = [uses(NSFW_WORDS, u) for u in uploads if u.nsfw]
    clean_ambiguous = [uses(AMBIGUOUS_WORDS, u) for u in uploads if not (u.nsfw or u.violent)]

    assert 0.6 < np.mean(violent) < 0.95
    assert np.mean(peaceful) < 0.15
    assert 0.6 < np.mean(nsfw) < 0.95
    assert np.mean(clean_ambiguous) > 0.1


def test_flagged_content_comes_from_younger_more_struck_accounts(
    uploads: list[LabelledUpload],
) -> None:
    flagged = [u.event for u in uploads if u.nsfw or u.violent]
    clean = [u.event for u in uploads if not (u.nsfw or u.violent)]

    assert np.mean([e.uploader_prior_strikes for e in flagged]) > np.mean(
        [e.uploader_prior_strikes for e in clean]
    )
    assert np.median([e.uploader_account_age_days for e in flagged]) < np.median(
        [e.uploader_account_age_days for e in clean]
    )


def test_protected_fingerprints_are_distinct_hex_and_fixed_by_seed() -> None:
    registry = protected_fingerprints()

    assert len(registry) == len(set(registry)) == 2_000
    assert all(len(f) == 16 and int(f, 16) >= 0 for f in registry)
    assert registry == protected_fingerprints(seed=0)
    assert registry != protected_fingerprints(seed=1)


def test_iterators_stream_past_one_chunk_with_unique_ids() -> None:
    ride_ids = {r.event.event_id for r in itertools.islice(iter_rides(5, START), 3_000)}
    upload_ids = {u.event.event_id for u in itertools.islice(iter_uploads(5, START), 3_000)}

    assert len(ride_ids) == len(upload_ids) == 3_000


def test_ten_thousand_events_have_ten_thousand_distinct_ids() -> None:
    rides = generate_rides(2, 5_000, START)
    uploads = generate_uploads(2, 5_000, START)

    assert len({item.event.event_id for item in [*rides, *uploads]}) == 10_000


@pytest.mark.parametrize(
    ("seed", "count", "start"),
    [(-1, 5, START), (1, -5, START), (1, 5, datetime(2025, 1, 1))],
)
def test_bad_arguments_are_config_errors(seed: int, count: int, start: datetime) -> None:
    with pytest.raises(ConfigError):
        generate_rides(seed, count, start)
