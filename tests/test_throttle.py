"""Pacing: per-partition windows, project buckets, pauses, refunds, and a simulated upload.

The model under test (reference, "Limits"): Amplitude throttles a device or user
when more than ``device_eps * window_s`` of its events arrive within the last
``window_s`` seconds (HTTP V2: 30 events/s over about 30 s); Starter projects are
capped at 1000 events/s and 100 requests/s. Time is a fake clock throughout.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import Counter, defaultdict

import numpy as np
import orjson
import pytest
from builders import drain, drain_timed
from hypothesis import given, settings
from hypothesis import strategies as st

from amp_notebook._batching import Batch, envelope_size
from amp_notebook._config import Limits, Pacing
from amp_notebook._encoding import EncodedChunk
from amp_notebook._scheduler import Scheduler
from amp_notebook._throttle import SlidingWindow, TokenBucket, partition_rules, window_budget

ENV = envelope_size(32, None)


def payload(i: int) -> bytes:
    return orjson.dumps({"event_type": "e", "insert_id": str(i)})


def encoded(parts: list[str], start: int = 0) -> EncodedChunk:
    n = len(parts)
    return EncodedChunk(np.arange(start, start + n, dtype=np.int64), [payload(start + i) for i in range(n)], parts)


def max_in_window(sends: list[tuple[float, int]], window: float) -> int:
    """Most events in any window of length ``window`` (an event at t counts while now < t + window)."""
    sends = sorted(sends)
    best = total = lo = 0
    for t, n in sends:
        total += n
        while sends[lo][0] + window <= t:
            total -= sends[lo][1]
            lo += 1
        best = max(best, total)
    return best


# -- the arithmetic ------------------------------------------------------------


def test_window_budget_from_the_reference_numbers() -> None:
    assert window_budget(30.0, 30.0, 0.95) == 855  # HTTP V2: 30 eps over 30 s, 95 %
    assert window_budget(1000.0, 30.0, 0.95) == 28_500  # Batch API: 1000 eps
    assert window_budget(0.01, 1.0, 0.5) == 1  # never zero
    rules = partition_rules(30.0, 30.0, 0.95)
    assert rules == ((855, 30.0), (29, 1.0))
    # a latency spread up to the short window still keeps a server window under 900
    assert rules[0][0] + rules[1][0] <= 30 * 30
    assert partition_rules(30.0, 30.0, 0.95, burst_s=None) == ((855, 30.0),)


def test_sliding_window_counts_and_expires() -> None:
    w = SlidingWindow([(10, 30.0)])
    assert w.available(0.0) == 10
    w.record(0.0, 6)
    w.record(5.0, 4)
    assert w.available(5.0) == 0
    assert w.ready_time() == 30.0  # the 6 sent at 0 leave the window at 30
    assert w.available(29.999) == 0
    assert w.available(30.0) == 6  # an event at t counts while now < t + 30
    assert w.available(35.0) == 10
    assert w.ready_time() == -math.inf


def test_sliding_window_ready_time_needs_enough_to_leave() -> None:
    w = SlidingWindow([(10, 30.0)])
    w.record(0.0, 1)
    w.record(1.0, 1)
    w.record(2.0, 8)
    assert w.available(2.0) == 0
    assert w.ready_time() == 30.0  # one leaving is enough for one more
    w.refund(2.0, 3)
    assert w.available(2.0) == 3
    assert w.ready_time() == -math.inf
    assert w.refund(99.0, 5) == 0  # no such send


def test_sliding_window_two_rules() -> None:
    w = SlidingWindow([(10, 30.0), (3, 1.0)])
    w.record(0.0, 3)
    assert w.available(0.5) == 0
    assert w.ready_time() == 1.0
    assert w.available(1.0) == 3
    w.record(1.0, 3)
    w.record(2.0, 3)
    w.record(3.0, 1)
    assert w.available(4.0) == 0  # the long rule is full now
    assert w.ready_time() == 30.0


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["record", "refund", "wait"]), st.integers(0, 12), st.floats(0, 3)),
        max_size=60,
    ),
    fold_at=st.integers(0, 60),
)
def test_a_window_rebuilt_from_its_log_decides_the_same(ops: list[tuple[str, int, float]], fold_at: int) -> None:
    # A dormant partition keeps only window.log(); the window rebuilt from it must
    # allow exactly what the original allows, whatever comes after (issue 7).
    rules = ((10, 30.0), (3, 1.0))
    a = SlidingWindow(rules)
    b = None
    now = 0.0
    sent: list[float] = []
    for i, (op, n, dt) in enumerate([*ops, ("wait", 0, 0.0)]):
        if i == fold_at:
            b = SlidingWindow.from_log(rules, a.log())
        windows = [a] if b is None else [a, b]
        if op == "wait":
            now += dt * 10
        elif op == "record":
            k = min(n, a.available(now))
            got = {w.record(now, k) for w in windows}
            assert len(got) == 1
            sent.append(now)
        elif sent:
            t = sent[n % len(sent)]
            assert len({w.refund(t, n) for w in windows}) == 1
        if b is not None:
            assert a.available(now) == b.available(now)
            assert max(a.ready_time(), now) == max(b.ready_time(), now)


def test_token_bucket_never_more_than_the_limit_in_any_second() -> None:
    b = TokenBucket.per_second(1000.0, 0.95)
    assert (b.rate, b.capacity) == (950.0, 50.0)
    sends = []
    now = 0.0
    while now < 10.0:
        now = b.time_for(10, now)
        b.take(10, now)
        sends.append((now, 10))
    assert max_in_window(sends, 1.0) <= 1000
    assert sum(n for _, n in sends) / now == pytest.approx(950, rel=0.02)


def test_token_bucket_time_for() -> None:
    b = TokenBucket(10.0, 5.0)
    assert b.time_for(5, 0.0) == 0.0
    b.take(5, 0.0)
    assert b.time_for(2, 0.0) == pytest.approx(0.2)
    assert b.has(2, 0.2)
    assert not b.has(3, 0.2)
    assert b.tokens(100.0) == 5.0  # capped


# -- the Scheduler's pacing ----------------------------------------------------


def simulate(s: Scheduler) -> tuple[float, dict[str, list[tuple[float, int]]], list[tuple[float, int]]]:
    """Drive next_batch/ready_at with a fake clock (``drain_timed``); returns the time of the
    last request, per-partition sends (time, events) and requests (time, events)."""
    per: dict[str, list[tuple[float, int]]] = defaultdict(list)
    requests: list[tuple[float, int]] = []
    timed, _ = drain_timed(s, limit=1_000_000)
    for now, b in timed:
        for k, n in Counter(b.partitions).items():
            per[k].append((now, n))
        requests.append((now, len(b)))
    finish = timed[-1][0] if timed else 0.0
    return finish, per, requests


def simulate_answers(
    s: Scheduler, *, latency: float, seed: int = 0, concurrency: int = 4
) -> tuple[float, dict[str, list[tuple[float, int]]]]:
    """The upload loop with latency: each request is answered ``uniform(0, latency)`` after it
    is sent and reaches the server at a random moment in between; ``done(batch, answer)``.
    Returns the finish time and per-partition *arrivals* (what the server counts)."""
    rng = random.Random(seed)
    now = 0.0
    tie = itertools.count()
    inflight: list[tuple[float, int, Batch]] = []
    arrivals: dict[str, list[tuple[float, int]]] = defaultdict(list)
    while True:
        while len(inflight) < concurrency:
            b = s.next_batch(now)
            if b is None:
                break
            answer = now + rng.uniform(0.0, latency)
            arrive = rng.uniform(now, answer)
            for k, n in Counter(b.partitions).items():
                arrivals[k].append((arrive, n))
            heapq.heappush(inflight, (answer, next(tie), b))
        ready = s.ready_at(now) if len(inflight) < concurrency else None
        if not inflight and ready is None:
            return now, arrivals
        now = min(t for t in (ready, inflight[0][0] if inflight else None) if t is not None)
        while inflight and inflight[0][0] <= now:
            answer, _, b = heapq.heappop(inflight)
            s.done(b, answer)


def test_a_busy_device_sends_its_whole_window_budget_at_once() -> None:
    # Issue 11: pacing as documented (about 30 events/s averaged over 30 s): 855
    # (95 %) in one go, the next 855 one window after the answer, not 29 a second.
    s = Scheduler(Limits(), Pacing(), ENV, hold_in_flight=True)
    s.add(encoded(["dev"] * 2000))
    finish, arrivals = simulate_answers(s, latency=0.2)
    sends = arrivals["dev"]
    assert sum(n for _, n in sends) == 2000
    assert max_in_window(sends, 1.0) == 855  # the whole budget at once
    assert max_in_window(sends, 30.0) <= 855
    assert 60.0 < finish < 61.0  # two waits of a window (plus latency), not 2000 / 28.5 = 70 s


def test_one_busy_device_keeps_both_rules_when_strict() -> None:
    # Pacing(strict=True): also at most a thirtieth of the budget per thirtieth of the window.
    s = Scheduler(Limits(), Pacing(strict=True), ENV)
    s.add(encoded(["dev"] * 3000))
    finish, per, _ = simulate(s)
    sends = per["dev"]
    assert sum(n for _, n in sends) == 3000
    assert max_in_window(sends, 30.0) <= 855
    assert max_in_window(sends, 1.0) <= 29
    # 28.5 events/s on average: no slower than the budget allows
    assert finish <= 3000 / 28.5 + 1.0


@pytest.mark.parametrize("strict", [False, True])
def test_latency_spread_does_not_trip_the_server_window(strict: bool) -> None:
    # The server counts arrivals, not sends. Requests take up to 5 s and arrive at
    # any moment before their answer: booked at the answer, no device ever has more
    # than its budget arrive in any window (the emulator throttles above 30 * 30).
    s = Scheduler(Limits(), Pacing(strict=strict), ENV, hold_in_flight=True)
    s.add(encoded(["a"] * 2500 + ["b"] * 2500 + [f"c{i}" for i in range(300)]))
    _, arrivals = simulate_answers(s, latency=5.0, seed=3)
    for sends in arrivals.values():
        assert max_in_window(sends, 30.0) <= 855
        if strict:
            assert max_in_window(sends, 1.0) <= 29


def test_pause_and_resume() -> None:
    s = Scheduler(Limits(), Pacing(), ENV)
    s.add(encoded(["a", "b", "a", "b"]))
    s.pause({"a": 30.0})
    assert s.paused(0.0) == 1
    b = s.next_batch(0.0)
    assert b is not None
    assert b.partitions == ["b", "b"]
    assert s.next_batch(10.0) is None
    assert s.ready_at(0.0) == 30.0
    assert s.paused(29.9) == 1
    assert s.paused(30.0) == 0
    b = s.next_batch(30.0)
    assert b is not None
    assert b.positions == [0, 2]
    assert s.ready_at(30.0) is None


def test_pause_of_unknown_partition_applies_to_later_events() -> None:
    s = Scheduler(Limits(), Pacing(), ENV)
    s.pause({"late": 5.0})
    s.add(encoded(["late"]))
    assert s.next_batch(1.0) is None
    assert s.ready_at(1.0) == 5.0
    assert s.next_batch(5.0) is not None


def test_requeue_refunds_the_window() -> None:
    s = Scheduler(Limits(), Pacing(device_eps=1.0, window_s=10.0, safety=1.0), ENV)
    s.add(encoded(["d"] * 15))
    b = s.next_batch(0.0)
    assert b is not None
    assert len(b) == 10
    assert s.next_batch(0.0) is None
    assert s.ready_at(0.0) == 10.0
    s.requeue(b)  # e.g. a 429 or 413: the send did not count
    assert s.pending() == 15
    again = s.next_batch(1.0)
    assert again is not None
    assert again.positions == b.positions
    # without a refund (a 5xx: the server may have counted them) the budget stays spent
    s.requeue(again, refund=False)
    assert s.next_batch(2.0) is None
    assert s.ready_at(2.0) == 11.0
    rest, _ = drain(s, 11.0)
    assert [p for x in rest for p in x.positions] == list(range(15))


def test_project_buckets_starter() -> None:
    pacing = Pacing(project_eps=1000.0, project_rps=100.0)
    s = Scheduler(Limits(max_events=10), pacing, ENV)
    s.add(encoded([f"d{i % 500}" for i in range(20_000)]))
    finish, _, requests = simulate(s)
    assert max_in_window(requests, 1.0) <= 1000  # events in any second
    assert max_in_window([(t, 1) for t, _ in requests], 1.0) <= 100  # requests in any second
    assert all(n <= 10 for _, n in requests)
    assert finish <= 20_000 / 1000 * 1.1


# -- the upload-speed target -----------------------------------------------------


def zipf_counts(n_devices: int, total: int, s: float) -> list[int]:
    w = [1.0 / (i + 1) ** s for i in range(n_devices)]
    z = sum(w)
    return [max(1, round(total * x / z)) for x in w]


@pytest.mark.parametrize(
    ("label", "zipf_s", "total", "limits", "pacing"),
    [
        # Growth: no project cap; the busiest device sets the pace.
        ("device-bound", 1.0, 60_000, Limits(), Pacing()),
        # Starter: 10 events/request, 1000 events/s, 100 requests/s; both bounds close.
        ("balanced", 0.6, 60_000, Limits(max_events=10), Pacing(project_eps=1000.0, project_rps=100.0)),
        # A project cap far below the devices' total rate.
        ("project-bound", 0.3, 60_000, Limits(), Pacing(project_eps=1000.0)),
    ],
)
def test_zipf_upload_finishes_near_the_lower_bound(
    label: str, zipf_s: float, total: int, limits: Limits, pacing: Pacing
) -> None:
    counts = zipf_counts(1000, total, zipf_s)
    parts = [f"device-{i:04d}" for i, c in enumerate(counts) for _ in range(c)]
    random.Random(7).shuffle(parts)  # arrival (time) order mixes devices
    s = Scheduler(limits, pacing, ENV)
    for start in range(0, len(parts), 5000):
        assert s.add(encoded(parts[start : start + 5000], start)) == []
    t0 = time.perf_counter()
    finish, per, requests = simulate(s)
    elapsed = time.perf_counter() - t0
    bound = max(
        len(parts) / pacing.project_eps if pacing.project_eps else 0.0,
        max(counts) / pacing.device_eps,
    )
    assert finish <= 1.1 * bound, (label, finish, bound)
    assert sum(n for _, n in requests) == len(parts)
    budget = window_budget(pacing.device_eps, pacing.window_s, pacing.safety)
    for sends in per.values():
        assert max_in_window(sends, pacing.window_s) <= budget
    if pacing.project_eps:
        assert max_in_window(requests, 1.0) <= pacing.project_eps
    if pacing.project_rps:
        assert max_in_window([(t, 1) for t, _ in requests], 1.0) <= pacing.project_rps
    assert elapsed < 3.0, elapsed
