"""RetryPolicy: bounds, full jitter, budget, Retry-After (AWS "Exponential Backoff and Jitter")."""

from __future__ import annotations

import math
import random
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amp_notebook import ConfigurationError, RetryPolicy


def test_defaults_match_the_contract() -> None:
    p = RetryPolicy()
    assert (p.attempts, p.initial_s, p.max_s, p.multiplier, p.jitter, p.budget_s, p.throttle_pause_s) == (
        8, 0.5, 30.0, 2.0, 1.0, 600.0, 30.0,
    )
    # Reference, "Responses": pause throttled devices/users for 30 s.
    assert p.throttle_pause_s == 30.0


def test_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        RetryPolicy().attempts = 3  # type: ignore[misc]


def test_ceiling_grows_exponentially_then_caps() -> None:
    p = RetryPolicy(initial_s=0.5, multiplier=2.0, max_s=30.0)
    assert [p.ceiling(a) for a in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert p.ceiling(10_000) == 30.0  # no overflow


def test_no_jitter_is_deterministic() -> None:
    p = RetryPolicy(jitter=0.0)
    assert p.delay(3, random.Random(1)) == 2.0
    assert p.delay(3, random.Random(2)) == 2.0


def test_full_jitter_spans_zero_to_ceiling() -> None:
    p = RetryPolicy(initial_s=1.0, max_s=8.0, jitter=1.0)
    rng = random.Random(42)
    draws = [p.delay(4, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 8.0 for d in draws)
    # Full jitter: uniform over [0, 8]: both ends of the range are reached.
    assert min(draws) < 0.5
    assert max(draws) > 7.5
    assert 3.5 < sum(draws) / len(draws) < 4.5


def test_partial_jitter_stays_in_upper_part() -> None:
    p = RetryPolicy(initial_s=4.0, max_s=4.0, jitter=0.25)
    rng = random.Random(0)
    assert all(3.0 <= p.delay(1, rng) <= 4.0 for _ in range(500))


@given(
    attempt=st.integers(1, 200),
    seed=st.integers(0, 2**32),
    jitter=st.floats(0, 1),
    initial=st.floats(0, 5),
    extra=st.floats(0, 100),
)
def test_delay_always_within_bounds(attempt: int, seed: int, jitter: float, initial: float, extra: float) -> None:
    p = RetryPolicy(initial_s=initial, max_s=initial + extra, jitter=jitter)
    d = p.delay(attempt, random.Random(seed))
    assert 0.0 <= d <= p.max_s
    assert p.ceiling(attempt) * (1 - jitter) - 1e-9 <= d <= p.ceiling(attempt) + 1e-9


def test_retry_after_wins_without_jitter_capped_at_max_s() -> None:
    p = RetryPolicy(initial_s=0.5, max_s=30.0)
    rng = random.Random(0)
    assert p.delay(1, rng, retry_after=12.0) == 12.0
    assert p.delay(1, rng, retry_after=0.0) == 0.0
    assert p.delay(1, rng, retry_after=3600.0) == 30.0
    assert p.delay(1, rng, retry_after=-4.0) == 0.0
    assert 0.0 <= p.delay(1, rng, retry_after=math.nan) <= 0.5


def test_give_up_on_attempts() -> None:
    p = RetryPolicy(attempts=3)
    assert not p.give_up(1, 0.0)
    assert not p.give_up(2, 0.0)
    assert p.give_up(3, 0.0)


def test_give_up_on_budget() -> None:
    p = RetryPolicy(attempts=100, budget_s=10.0)
    assert not p.give_up(1, 9.0)
    assert p.give_up(1, 10.5)
    assert p.give_up(1, 9.0, next_delay=2.0)  # the wait would end past the budget
    assert not p.give_up(1, 9.0, next_delay=0.5)


def test_none_and_fast() -> None:
    assert RetryPolicy.none().give_up(1, 0.0)
    assert RetryPolicy.none().throttle_pause_s == 0.0
    fast = RetryPolicy.fast()
    assert fast.attempts > 1
    assert all(fast.delay(a, random.Random(a)) <= 0.01 for a in range(1, 10))
    assert fast.throttle_pause_s < 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"attempts": 2.5},
        {"attempts": True},
        {"initial_s": -1},
        {"initial_s": math.nan},
        {"max_s": math.inf},
        {"initial_s": 10.0, "max_s": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"budget_s": 0},
        {"budget_s": math.nan},
        {"throttle_pause_s": -1},
        {"throttle_pause_s": "30"},
    ],
)
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_infinite_budget_allowed() -> None:
    assert not RetryPolicy(budget_s=math.inf).give_up(1, 1e12)


@pytest.mark.parametrize("attempt", [0, -1, 1.0, True])
def test_bad_attempt_numbers(attempt: object) -> None:
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().delay(attempt, random.Random(0))  # type: ignore[arg-type]
