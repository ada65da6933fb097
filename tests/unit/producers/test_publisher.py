"""The publisher sends in batches and keeps to its pacing on an injected clock (fake here)."""

from __future__ import annotations

import math

import pytest

from producers.publisher import Outgoing, Publisher, PublishStats, SteadyRate, Unpaced
from streamjury.clock import FakeClock
from streamjury.errors import ConfigError
from streamjury.streams.base import OutRecord
from streamjury.streams.memory import MemoryBackend
from tests.unit.producers.doubles import TimedProducer, make_items

TOLERANCE = 1e-6


def total_records(backend: MemoryBackend, stream: str) -> int:
    return sum(backend.end_offsets(stream).values())


def test_unpaced_run_sends_everything_in_full_batches_without_sleeping(
    producer: TimedProducer, clock: FakeClock, backend: MemoryBackend
) -> None:
    publisher = Publisher(producer, clock, batch_size=500)

    stats = publisher.publish(make_items(1234), Unpaced())

    assert producer.batch_sizes() == [500, 500, 234]
    assert clock.sleeps == []
    assert stats.sent == 1234
    assert total_records(backend, "rides") == 1234


def test_records_of_one_key_keep_their_order(
    producer: TimedProducer, clock: FakeClock, backend: MemoryBackend
) -> None:
    items = [Outgoing("rides", OutRecord("same-key", f"{i}".encode())) for i in range(50)]

    Publisher(producer, clock, batch_size=7).publish(items)

    partition = next(p for p, end in backend.end_offsets("rides").items() if end)
    values = [record.value for record in backend.read_partition("rides", partition)]
    assert values == [f"{i}".encode() for i in range(50)]


def test_n_events_at_rate_r_take_n_over_r_seconds(
    producer: TimedProducer, clock: FakeClock
) -> None:
    publisher = Publisher(producer, clock, batch_size=500)

    stats = publisher.publish(make_items(1000), SteadyRate(250, burst=500))

    assert stats.seconds == pytest.approx(1000 / 250, abs=TOLERANCE)
    assert clock.monotonic() == pytest.approx(4.0, abs=TOLERANCE)
    assert stats.events_per_second == pytest.approx(250, rel=1e-6)


def test_paced_run_never_sends_a_record_before_it_is_due(
    producer: TimedProducer, clock: FakeClock
) -> None:
    rate = 3_000
    publisher = Publisher(producer, clock, batch_size=100)

    publisher.publish(make_items(900), SteadyRate(rate, burst=100))

    for index, sent_at in enumerate(producer.send_times()):
        assert sent_at >= index / rate - TOLERANCE, f"record {index} went early"


def test_low_rate_sends_each_record_exactly_on_its_slot(
    producer: TimedProducer, clock: FakeClock
) -> None:
    publisher = Publisher(producer, clock, batch_size=500)

    stats = publisher.publish(make_items(6), SteadyRate(4))

    assert producer.send_times() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert producer.batch_sizes() == [1] * 6
    assert stats.seconds == pytest.approx(1.5)


def test_high_rate_still_sends_in_batches_every_tick(
    producer: TimedProducer, clock: FakeClock
) -> None:
    rate, count, tick = 10_000, 2_000, 0.005
    publisher = Publisher(producer, clock, batch_size=500, tick=tick)

    stats = publisher.publish(make_items(count), SteadyRate(rate, burst=500))

    flushes = len(producer.flushes)
    assert flushes <= count / (rate * tick) + 2  # about one flush per tick, not one per record
    assert max(producer.batch_sizes()) <= 500
    assert sum(producer.batch_sizes()) == count
    assert stats.seconds == pytest.approx(count / rate, abs=TOLERANCE)


def test_batches_never_exceed_the_batch_size_when_behind(
    producer: TimedProducer, clock: FakeClock
) -> None:
    producer.stall_on, producer.stall = 1, 5.0  # first flush hangs: everything after is late
    publisher = Publisher(producer, clock, batch_size=50)

    publisher.publish(make_items(400), SteadyRate(100, burst=50))

    assert max(producer.batch_sizes()) <= 50


def test_after_a_stall_it_catches_up_at_most_one_batch(
    producer: TimedProducer, clock: FakeClock
) -> None:
    rate, batch, count, stall = 100, 10, 100, 10.0
    producer.stall_on, producer.stall = 5, stall
    publisher = Publisher(producer, clock, batch_size=batch)

    stats = publisher.publish(make_items(count), SteadyRate(rate, burst=batch))

    resumed_at = producer.flushes[4].at + stall
    after = [t for t in producer.send_times() if t >= resumed_at - TOLERANCE]
    for sent, at in enumerate(after, start=1):  # a token bucket of one batch: no bigger burst
        assert sent <= batch + (at - resumed_at) * rate + 1
    # the time lost beyond one batch is not made up
    assert stats.seconds == pytest.approx(count / rate + stall - batch / rate, abs=0.02)


def test_events_for_several_streams_share_one_flush(
    producer: TimedProducer, clock: FakeClock, backend: MemoryBackend
) -> None:
    items = [*make_items(3, "rides"), *make_items(2, "uploads")]

    stats = Publisher(producer, clock, batch_size=10).publish(items)

    assert len(producer.flushes) == 1
    assert stats.per_stream == {"rides": 3, "uploads": 2}
    assert total_records(backend, "rides") == 3
    assert total_records(backend, "uploads") == 2


def test_progress_callback_sees_every_batch(producer: TimedProducer, clock: FakeClock) -> None:
    seen: list[int] = []

    def on_batch(stats: PublishStats) -> None:
        seen.append(stats.sent)

    Publisher(producer, clock, batch_size=40, on_batch=on_batch).publish(make_items(100))

    assert seen == [40, 80, 100]


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan, math.inf])
def test_steady_rate_refuses_a_rate_that_is_not_positive_and_finite(rate: float) -> None:
    with pytest.raises(ConfigError, match="rate"):
        SteadyRate(rate)


def test_publisher_refuses_an_empty_batch_size(producer: TimedProducer, clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="batch size"):
        Publisher(producer, clock, batch_size=0)
