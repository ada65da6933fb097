"""A failing Kinesis shard's back-off: doubling from the fetch interval, capped, then a failure."""

from __future__ import annotations

from streamjury.streams.kinesis.consumer import ConsumerOptions


def test_a_failing_shard_waits_twice_as_long_each_time_up_to_the_cap() -> None:
    policy = ConsumerOptions(fetch_interval_s=0.2, max_backoff_s=1.0).error_backoff()

    assert [policy.delay(errors) for errors in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_shard_fails_the_poll_after_max_consecutive_errors() -> None:
    policy = ConsumerOptions(max_consecutive_errors=3).error_backoff()

    assert [policy.gives_up(errors) for errors in (1, 2, 3)] == [False, False, True]


def test_a_zero_fetch_interval_retries_at_once() -> None:
    policy = ConsumerOptions(fetch_interval_s=0.0).error_backoff()

    assert {policy.delay(errors) for errors in range(1, 10)} == {0.0}
