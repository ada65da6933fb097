"""The retry policy: how many tries, how long between them, and which errors end it early."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamjury.retry import RetryPolicy


class Flaky(Exception):
    pass


class Fatal(Flaky):
    pass


def failing(times: int, error: Exception, calls: list[int]) -> Callable[[], str]:
    def action() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error
        return "done"

    return action


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=9, base_delay_s=0.5, max_delay_s=3.0, jitter="none")

    assert [policy.delay(retry) for retry in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@given(
    retry=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=100),
    seed=st.integers(),
)
def test_a_jittered_wait_is_never_negative_nor_above_the_backoff(
    retry: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(attempts=2, base_delay_s=base, max_delay_s=cap, jitter="full")

    wait = policy.delay(retry, random.Random(seed))

    assert 0 <= wait <= min(cap, base * 2 ** min(retry - 1, 64))


def test_full_jitter_spreads_the_waits() -> None:
    policy = RetryPolicy(attempts=2, base_delay_s=1.0, max_delay_s=1.0, jitter="full")
    rng = random.Random(3)

    assert len({policy.delay(1, rng) for _ in range(20)}) == 20


def test_call_retries_until_the_action_succeeds_waiting_the_backoff() -> None:
    calls: list[int] = []
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay_s=0.5, max_delay_s=10, jitter="none")

    result = policy.call(failing(2, Flaky("x"), calls), retry_on=Flaky, sleep=waits.append)

    assert result == "done"
    assert calls == [1, 2, 3]
    assert waits == [0.5, 1.0]


def test_call_raises_the_last_error_once_attempts_are_used_up() -> None:
    calls: list[int] = []
    waits: list[float] = []
    told: list[tuple[int, float]] = []
    policy = RetryPolicy(attempts=3, base_delay_s=0.1, max_delay_s=10, jitter="none")

    with pytest.raises(Flaky):
        policy.call(
            failing(99, Flaky("x"), calls),
            retry_on=Flaky,
            on_retry=lambda attempt, wait, exc: told.append((attempt, wait)),
            sleep=waits.append,
        )

    assert calls == [1, 2, 3]
    assert waits == [0.1, 0.2]
    assert told == [(1, 0.1), (2, 0.2)]


def test_call_gives_up_at_once_on_a_give_up_error_even_a_retryable_one() -> None:
    calls: list[int] = []
    waits: list[float] = []

    with pytest.raises(Fatal):
        RetryPolicy(attempts=5).call(
            failing(99, Fatal("x"), calls),
            retry_on=Flaky,
            give_up_on=Fatal,
            sleep=waits.append,
        )

    assert (calls, waits) == ([1], [])


def test_call_never_retries_other_errors() -> None:
    calls: list[int] = []

    with pytest.raises(KeyError):
        RetryPolicy(attempts=5).call(
            failing(99, KeyError("x"), calls),
            retry_on=Flaky,
            sleep=lambda _: None,
        )

    assert calls == [1]


def test_tries_yields_every_attempt_and_sleeps_only_between_them() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay_s=1, max_delay_s=10, jitter="none")

    assert list(policy.tries(sleep=waits.append)) == [1, 2, 3, 4]
    assert waits == [1, 2, 4]


def test_tries_stops_before_a_wait_that_would_pass_the_deadline() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=10, base_delay_s=1, max_delay_s=10, jitter="none")

    tried = list(policy.tries(sleep=waits.append, clock=lambda: 100.0, deadline=103.5))

    assert tried == [1, 2, 3]  # waits of 1 and 2 fit; the next, 4, would end at 104
    assert waits == [1, 2]


def test_gives_up_after_the_attempts() -> None:
    policy = RetryPolicy(attempts=3)

    assert [policy.gives_up(failures) for failures in (1, 2, 3)] == [False, False, True]


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"base_delay_s": -1},
        {"max_delay_s": -0.1},
        {"jitter": "half"},
    ],
)
def test_a_nonsensical_policy_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]
