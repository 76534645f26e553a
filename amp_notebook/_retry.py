"""The retry policy: an immutable value that says how long to wait and when to stop.

Pure (design.md, principle 7): no clock, no sleep. The caller passes the attempt
number, the elapsed time and a random generator; the policy answers with numbers.

Backoff is "full jitter" from AWS's "Exponential Backoff and Jitter": the wait
before retry ``n`` is drawn uniformly from ``[0, min(max_s, initial_s * multiplier**(n-1))]``.
``jitter`` scales how much of that range is random: 1.0 is full jitter, 0.0 is
plain exponential backoff (deterministic), 0.5 draws from the upper half.

Reference, "Responses": retry 429 and 5xx with backoff; for a throttled device
or user, pause it for 30 s (``throttle_pause_s``) and keep sending the others.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ._exceptions import ConfigurationError


def _number(name: str, value: object, *, low: float, allow_inf: bool = False) -> float:
    # bool is an int subclass: RetryPolicy(attempts=True) is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"RetryPolicy.{name} must be a number, not {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ConfigurationError(f"RetryPolicy.{name} must be finite, not {value!r}")
    if v < low:
        raise ConfigurationError(f"RetryPolicy.{name} must be >= {low}, not {value!r}")
    return v


@dataclass(frozen=True)
class RetryPolicy:
    """How an upload retries a request that failed for a reason that may pass.

    ``attempts``: tries per batch in all, the first send included (1 = never retry).
    ``initial_s``, ``multiplier``, ``max_s``: the backoff ceiling
    ``min(max_s, initial_s * multiplier**(attempt-1))``.
    ``jitter``: share of the ceiling drawn at random (1.0 = AWS "full jitter").
    ``budget_s``: total time an upload may spend retrying (``math.inf`` for none).
    ``throttle_pause_s``: how long a throttled device/user is paused after a 429
    (reference, "Responses": "pause the throttled devices/users for 30 s").
    """

    attempts: int = 8
    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 1.0
    budget_s: float = 600.0
    throttle_pause_s: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigurationError(f"RetryPolicy.attempts must be an integer, not {self.attempts!r}")
        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be at least 1 (1 = no retry)")
        _number("initial_s", self.initial_s, low=0.0)
        _number("max_s", self.max_s, low=0.0)
        _number("multiplier", self.multiplier, low=1.0)
        _number("jitter", self.jitter, low=0.0)
        if self.jitter > 1.0:
            raise ConfigurationError(f"RetryPolicy.jitter must be between 0 and 1, not {self.jitter!r}")
        if self.max_s < self.initial_s:
            raise ConfigurationError(
                f"RetryPolicy.max_s ({self.max_s!r}) must be >= initial_s ({self.initial_s!r})"
            )
        if _number("budget_s", self.budget_s, low=0.0, allow_inf=True) <= 0.0:
            raise ConfigurationError("RetryPolicy.budget_s must be > 0")
        _number("throttle_pause_s", self.throttle_pause_s, low=0.0)

    @classmethod
    def none(cls) -> RetryPolicy:
        """Never retry, never wait: the first failure is final (throttle pauses are 0 s)."""
        return cls(attempts=1, initial_s=0.0, max_s=0.0, budget_s=math.inf, throttle_pause_s=0.0)

    @classmethod
    def fast(cls) -> RetryPolicy:
        """For tests and the sandbox: a few retries with millisecond waits."""
        return cls(
            attempts=5, initial_s=0.001, max_s=0.01, budget_s=10.0, throttle_pause_s=0.01
        )

    def ceiling(self, attempt: int) -> float:
        """The largest backoff before retry number ``attempt`` (1 = the first retry)."""
        _check_attempt(attempt)
        try:
            raw = self.initial_s * self.multiplier ** (attempt - 1)
        except OverflowError:  # multiplier**huge: the cap applies anyway
            return self.max_s
        return min(self.max_s, raw)

    def delay(
        self, attempt: int, rng: random.Random, retry_after: float | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry).

        A server's ``Retry-After`` wins over the computed backoff and is used as is
        (no jitter: the server asked for that time), but never above ``max_s``: a
        broken or hostile header must not freeze a notebook for hours. Raise
        ``max_s`` to honour longer server waits. A negative or NaN ``retry_after``
        is ignored.
        """
        ceiling = self.ceiling(attempt)
        if retry_after is not None and not math.isnan(retry_after):
            return min(self.max_s, max(0.0, float(retry_after)))
        low = ceiling * (1.0 - self.jitter)
        return low + (ceiling - low) * rng.random()

    def give_up(self, attempt: int, elapsed: float, next_delay: float = 0.0) -> bool:
        """True when no retry should follow attempt number ``attempt``.

        ``attempt``: tries made so far for this batch (the first send is 1).
        ``elapsed``: seconds since the upload started. ``next_delay``: the wait
        the next retry would need; waiting past the budget is pointless, so a
        retry whose wait ends after ``budget_s`` is given up too.
        """
        _check_attempt(attempt)
        if attempt >= self.attempts:
            return True
        return elapsed + max(0.0, next_delay) > self.budget_s


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be an integer >= 1, not {attempt!r}")


__all__ = ["RetryPolicy"]
