"""Pacing arithmetic: per-partition send windows and project-wide token buckets.

Pure: the caller passes time in (float seconds on any monotonic clock); nothing
here reads a clock or sleeps (design.md, principle 7).

The per-partition model (reference, "Limits": "about 30 events/s, averaged over
a recent window (about 30 s)" per device id / user id):

* Amplitude (and the sandbox emulator) throttles a partition when more than
  ``device_eps * window_s`` of its events *arrived* within the last
  ``window_s`` seconds.
* We allow ourselves ``C = floor(device_eps * safety * window_s)`` events in any
  ``window_s`` of *send* time: an event sent at ``t`` counts while
  ``now < t + window_s`` (:func:`window_budget`).
* Send time is not arrival time: an event reaches the server somewhere between
  its send and its answer. So the scheduler books a request's events at the time
  its answer came back (``Scheduler.done(batch, now)``), not when it was sent: with
  one request in flight per device, a device's next window then starts at least
  ``window_s`` after the previous request *arrived*, whatever the latency, and a
  device may send its whole budget ``C`` at once (Amplitude's documented limit,
  issue 11). The margin between windows is the measured latency itself.
  ``Pacing.safety`` (0.95: 855 of 900 for HTTP V2) absorbs clock differences and
  a resend the server may count twice.
* Strict pacing (``Pacing(strict=True)``, and what a device gets once Amplitude
  has throttled it: issue 11) adds a short rule, at most
  ``ceil(C * burst_s / window_s)`` events in any ``burst_s = window_s / 30``
  (29 per second for HTTP V2), for servers that measure the rate over a window
  shorter than the documented one.
* A partition with no more events in the whole upload than the smallest cap of
  its rules (:func:`smallest_cap`) can never be held back by them, so the
  scheduler keeps no window for it (``_plan``).

The project model (reference, "Limits", Starter plan: "at most 100 requests/s
and 1000 events/s"): one token bucket for events and one for requests. A bucket
for a limit ``L`` per second refills at ``r = L * safety`` per second and holds
``b = L - r`` (at least 1), so that any 1 s interval sees at most
``b + r * 1 s = L``: a token bucket lets at most ``b + r * T`` through in any
interval of length ``T``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Float slack for "enough tokens": times computed as now + deficit / rate can
# land a hair short of the deficit after the refill multiplies back.
_EPS = 1e-9

NEVER_BEFORE = -math.inf


def window_budget(device_eps: float, window_s: float, safety: float) -> int:
    """Events allowed per partition in any ``window_s``: ``floor(device_eps * safety * window_s)``, >= 1."""
    return max(1, math.floor(device_eps * safety * window_s + _EPS))


def partition_rules(
    device_eps: float, window_s: float, safety: float, burst_s: float | None = 1.0
) -> tuple[tuple[int, float], ...]:
    """The (capacity, window) rules of one partition (see the module docstring)."""
    cap = window_budget(device_eps, window_s, safety)
    rules: list[tuple[int, float]] = [(cap, float(window_s))]
    if burst_s is not None and 0 < burst_s * 2 <= window_s:
        rules.append((max(1, math.ceil(cap * burst_s / window_s - _EPS)), float(burst_s)))
    return tuple(rules)


def pacing_rules(
    device_eps: float, window_s: float, safety: float, *, strict: bool
) -> tuple[tuple[int, float], ...]:
    """A partition's rules: its window budget, plus the burst rule (``window_s / 30``) when ``strict``."""
    return partition_rules(device_eps, window_s, safety, window_s / 30.0 if strict else None)


def smallest_cap(rules: Sequence[tuple[int, float]]) -> int:
    """The most events a partition may send under ``rules`` without ever waiting."""
    return min(cap for cap, _ in rules)


def _parse_rules(rules: Sequence[tuple[int, float]]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    if not rules:
        raise ValueError("at least one (capacity, window_s) rule")
    for cap, win in rules:
        if cap < 1 or win <= 0:
            raise ValueError(f"bad rule capacity={cap} window_s={win}")
    return tuple(int(c) for c, _ in rules), tuple(float(w) for _, w in rules)


_PARSED: dict[tuple[tuple[int, float], ...], tuple[tuple[int, ...], tuple[float, ...]]] = {}


class SlidingWindow:
    """The send log of one partition under one or more sliding-window rules.

    Each rule ``(capacity, window_s)``: at most ``capacity`` events sent in any
    window of ``window_s`` seconds; an event sent at ``t`` counts while
    ``now < t + window_s``. Sends at the same time share one log entry, so the
    log holds at most one entry per distinct send time within the longest window.
    """

    __slots__ = ("_caps", "_counts", "_start", "_times", "_used", "_wins")

    def __init__(self, rules: Sequence[tuple[int, float]]) -> None:
        # One window per partition, made and forgotten often: the checked rules are
        # shared (immutable tuples), not rebuilt per window.
        try:
            parsed: tuple[tuple[int, ...], tuple[float, ...]] | None = _PARSED.get(rules)  # type: ignore[call-overload]
        except TypeError:  # unhashable (lists): check them every time
            parsed = None
        if parsed is None:
            parsed = _parse_rules(rules)
            if isinstance(rules, tuple):
                _PARSED[rules] = parsed
        self._caps, self._wins = parsed
        self._times: list[float] = []
        self._counts: list[int] = []
        self._start = [0] * len(rules)  # per rule: first log index still inside its window
        self._used = [0] * len(rules)  # per rule: events in its window (as of the last expire)

    def _expire(self, now: float) -> None:
        times, counts = self._times, self._counts
        n = len(times)
        for i, win in enumerate(self._wins):
            j = self._start[i]
            if j < n and times[j] + win <= now:
                used = self._used[i]
                while j < n and times[j] + win <= now:
                    used -= counts[j]
                    j += 1
                self._start[i] = j
                self._used[i] = used
        low = min(self._start)
        if low > 32 and low * 2 > n:
            # Drop entries no rule looks at any more (amortised O(1) per entry).
            del times[:low], counts[:low]
            self._start = [s - low for s in self._start]

    def available(self, now: float) -> int:
        """How many events may be sent at ``now``."""
        self._expire(now)
        return min(c - u for c, u in zip(self._caps, self._used, strict=True))

    def used(self, now: float) -> int:
        """Events counted by the first (longest) rule at ``now``."""
        self._expire(now)
        return self._used[0]

    def record(self, now: float, n: int) -> float:
        """Count ``n`` events sent at ``now``; returns the time they were booked at.

        A ``now`` earlier than the last send is booked at the last send time
        (later expiry: the safe side).
        """
        times = self._times
        if times and times[-1] >= now:
            now = times[-1]
            self._counts[-1] += n
        else:
            times.append(now)
            self._counts.append(n)
        self._used = [u + n for u in self._used]
        return now

    def refund(self, sent_at: float, n: int) -> int:
        """Un-count up to ``n`` events booked at ``sent_at`` (a send the server did not count).

        Returns how many were refunded: 0 when that entry has already left every
        window (nothing to give back).
        """
        times = self._times
        j = len(times) - 1
        while j >= 0 and times[j] > sent_at:
            j -= 1
        if j < 0 or times[j] != sent_at or j < min(self._start):
            return 0  # no such send, or it has left every window already
        d = min(n, self._counts[j])
        self._counts[j] -= d
        for i, start in enumerate(self._start):
            if j >= start:
                self._used[i] -= d
        return d

    def log(self) -> tuple[float, ...]:
        """The sends that may still count, flattened: ``(t1, n1, t2, n2, ...)``, oldest first.

        What a dormant partition keeps instead of the whole window object (issue 7:
        hundreds of thousands of devices that each sent a few events cost ~150 B
        each this way instead of ~900 B). :meth:`from_log` rebuilds a window that
        makes exactly the same decisions. Refunded (zero) entries are left out.
        """
        low = min(self._start)
        out: list[float] = []
        for t, n in zip(self._times[low:], self._counts[low:], strict=True):
            if n:
                out += (t, n)
        return tuple(out)

    @classmethod
    def from_log(cls, rules: Sequence[tuple[int, float]], log: Sequence[float]) -> SlidingWindow:
        """A window holding the sends of :meth:`log` (its rules must be the same)."""
        window = cls(rules)
        window._times = [float(t) for t in log[0::2]]
        window._counts = [int(n) for n in log[1::2]]
        total = sum(window._counts)
        # Counted in every rule until the next _expire(now) drops what has left each
        # window; ready_time() walks from index 0 and gives the same answer meanwhile.
        window._used = [total] * len(window._caps)
        return window

    def ready_time(self) -> float:
        """Earliest time at which at least one event may be sent, given the sends so far.

        ``NEVER_BEFORE`` (-inf) when one may be sent now. May be in the past:
        the log is only expired when a ``now`` is passed in.
        """
        t = NEVER_BEFORE
        times, counts = self._times, self._counts
        for i, cap in enumerate(self._caps):
            excess = self._used[i] - (cap - 1)  # events that must leave the window first
            if excess <= 0:
                continue
            j = self._start[i]
            while True:
                excess -= counts[j]
                if excess <= 0:
                    break
                j += 1
            t = max(t, times[j] + self._wins[i])
        return t


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``capacity``.

    Starts full. Lets at most ``capacity + rate * T`` tokens through in any
    interval of length ``T``. The first call with a time starts its clock.
    """

    __slots__ = ("_t", "_tokens", "capacity", "rate")

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._t: float | None = None

    @classmethod
    def per_second(cls, limit: float, safety: float, *, min_capacity: float = 1.0) -> TokenBucket:
        """A bucket that never lets more than ``limit`` through in any 1 s interval.

        Refill ``limit * safety``/s, capacity ``limit - rate`` (so ``b + r * 1 s = limit``),
        at least ``min_capacity`` (which may then break the 1 s bound: the caller's choice).
        """
        rate = limit * safety
        return cls(rate, max(1.0, min_capacity, limit - rate))

    def tokens(self, now: float) -> float:
        if self._t is None:
            self._t = now
        elif now > self._t:
            self._tokens = min(self.capacity, self._tokens + (now - self._t) * self.rate)
            self._t = now
        return self._tokens

    def has(self, n: float, now: float) -> bool:
        return self.tokens(now) >= n - _EPS

    def time_for(self, n: float, now: float) -> float:
        """Earliest time (>= now) at which ``n`` tokens are there; ``n`` <= capacity."""
        deficit = n - self.tokens(now)
        return now if deficit <= _EPS else now + deficit / self.rate

    def take(self, n: float, now: float) -> None:
        """Spend ``n`` tokens at ``now`` (the balance may dip a hair below zero)."""
        self._tokens = self.tokens(now) - n
