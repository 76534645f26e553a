"""The Scheduler with a plan (issue 11): cold devices in bulk, busy ones paced, tightening after 429s.

The model (reference, "Limits"): Amplitude throttles a device or user when more
than ``device_eps * window_s`` of its events arrive within ``window_s``; a device's
events must arrive in time order (user properties apply in arrival order), so
one request is in flight per device. Time is a fake clock throughout.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter, defaultdict

import numpy as np
import orjson
import pytest
from builders import drain  # the loop with a fake clock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_throttle import max_in_window  # the same arithmetic as the emulator's window

from amp_notebook._batching import Batch, envelope_size
from amp_notebook._config import Limits, Pacing
from amp_notebook._encoding import EncodedChunk
from amp_notebook._plan import PartitionPlan
from amp_notebook._scheduler import Scheduler
from amp_notebook._throttle import window_budget

ENV = envelope_size(32, None)


def payload(i: int, pad: int = 0) -> bytes:
    return orjson.dumps({"event_type": "e", "insert_id": str(i), "p": "x" * pad})


def chunks(keys: list[str], size: int = 1000, pads: list[int] | None = None) -> list[EncodedChunk]:
    out = []
    for s in range(0, len(keys), size):
        part = keys[s : s + size]
        out.append(EncodedChunk(np.arange(s, s + len(part), dtype=np.int64),
                                [payload(s + i, pads[s + i] if pads else 0) for i in range(len(part))], part))
    return out


def scheduler(keys: list[str], *, limits: Limits | None = None, pacing: Pacing | None = None,
              hold: bool = True, chunk_size: int = 1000, pads: list[int] | None = None) -> Scheduler:
    s = Scheduler(limits or Limits(), pacing or Pacing(), ENV, hold_in_flight=hold, plan=PartitionPlan.of(keys))
    for c in chunks(keys, chunk_size, pads):
        assert s.add(c) == []
    return s


class Loop:
    """The upload loop in miniature: ``concurrency`` requests in flight, each answered
    after ``latency`` (arriving at the server half way), ``done(batch, answer)``."""

    def __init__(self, s: Scheduler, *, latency: float = 0.05, concurrency: int = 4) -> None:
        self.s, self.latency, self.concurrency = s, latency, concurrency
        self.now = 0.0
        self.inflight: list[tuple[float, int, Batch]] = []
        self.tie = itertools.count()
        self.arrivals: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self.sent: list[Batch] = []
        self.requests: list[tuple[float, int]] = []  # (send time, events)
        self.arrive_at: dict[int, float] = {}  # id(batch) -> when it reached the server

    def send(self) -> list[Batch]:
        out = []
        while len(self.inflight) < self.concurrency:
            b = self.s.next_batch(self.now)
            if b is None:
                break
            self.arrive_at[id(b)] = self.now + self.latency / 2
            for k, n in Counter(b.partitions).items():
                self.arrivals[k].append((self.arrive_at[id(b)], n))
            heapq.heappush(self.inflight, (self.now + self.latency, next(self.tie), b))
            self.requests.append((self.now, len(b)))
            out.append(b)
        self.sent += out
        return out

    def step(self, answer=None) -> bool:
        """Send what may go, then move to the next event (an answer or a ready time)."""
        self.send()
        ready = self.s.ready_at(self.now) if len(self.inflight) < self.concurrency else None
        if not self.inflight and ready is None:
            return False
        self.now = min(t for t in (ready, self.inflight[0][0] if self.inflight else None) if t is not None)
        while self.inflight and self.inflight[0][0] <= self.now:
            at, _, b = heapq.heappop(self.inflight)
            if answer is None or not answer(self, b):
                self.s.done(b, at)
        return True

    def run(self, answer=None, max_steps: int = 1_000_000) -> float:
        for _ in range(max_steps):
            if not self.step(answer):
                return self.now
        raise AssertionError("did not finish")


# -- cold devices: in bulk, whole devices per request -------------------------------------


def test_cold_devices_go_at_once_in_few_requests() -> None:
    keys = [f"d{i % 1000}" for i in range(20_000)]  # 20 events each: no rule can hold them back
    s = scheduler(keys)
    assert s.live_partitions() == 0  # no per-device state
    loop = Loop(s)
    finish = loop.run()
    assert finish < 1.0
    assert len(loop.sent) == 11  # ceil(20,000 / 1,999)
    assert sorted(p for b in loop.sent for p in b.positions) == list(range(20_000))
    # whole devices per request: a device is in two requests only where one was cut
    spread = Counter(k for b in loop.sent for k in set(b.partitions))
    assert sum(1 for n in spread.values() if n > 1) <= len(loop.sent)


def test_requests_in_flight_have_different_devices_and_keep_each_device_in_order() -> None:
    rng = random.Random(3)
    keys = [f"d{rng.randrange(300)}" for _ in range(30_000)]
    s = scheduler(keys, limits=Limits(max_events=500), chunk_size=700)
    loop = Loop(s, concurrency=4)
    seen: dict[str, list[int]] = defaultdict(list)
    while True:
        loop.send()
        devices = [set(b.partitions) for _, _, b in loop.inflight]
        for a, b in itertools.combinations(devices, 2):
            assert not a & b  # one request in flight per device
        if not loop.step():
            break
    for b in loop.sent:
        for p, k in zip(b.positions, b.partitions, strict=True):
            seen[k].append(p)
    for k, got in seen.items():
        assert got == sorted(got), k  # positions are arrival order here
    assert sum(len(v) for v in seen.values()) == 30_000


def test_busy_devices_are_paced_cold_ones_are_not() -> None:
    # 2,000 events of one device (more than its 855 per window) among 3,000 cold ones.
    keys = ["busy"] * 2000 + [f"c{i}" for i in range(3000)]
    random.Random(1).shuffle(keys)
    s = scheduler(keys)
    loop = Loop(s)
    finish = loop.run()
    assert s.partitions() <= 1  # state for the busy one only
    busy = loop.arrivals["busy"]
    assert max_in_window(busy, 30.0) <= window_budget(30.0, 30.0, 0.95)
    assert 60.0 < finish < 61.0  # 855 + 855 + 290: two windows after the first answer
    cold_done = max(t for k, v in loop.arrivals.items() if k != "busy" for t, _ in v)
    assert cold_done < 1.0  # the cold devices did not wait for the busy one


def test_a_cold_device_is_held_while_its_request_is_in_flight() -> None:
    keys = ["a"] * 10 + ["b"] * 10
    s = scheduler(keys, limits=Limits(max_events=5))
    first = s.next_batch(0.0)
    assert first is not None and first.partitions == ["a"] * 5
    second = s.next_batch(0.0)
    assert second is not None and second.partitions == ["b"] * 5
    assert s.next_batch(0.0) is None  # both devices held
    s.done(first, 0.1)
    third = s.next_batch(0.1)
    assert third is not None and third.positions == list(range(5, 10))


def test_requeue_puts_cold_events_back_in_order_and_they_wait_for_done() -> None:
    keys = ["a"] * 6
    s = scheduler(keys, limits=Limits(max_events=4))
    b = s.next_batch(0.0)
    assert b is not None and b.positions == [0, 1, 2, 3]
    s.requeue(b.take([2, 3]))
    s.requeue(b.take([0, 1]))
    assert s.pending() == 6
    assert s.next_batch(0.0) is None  # still held by b
    s.done(b, 0.1)
    again = s.next_batch(0.1)
    assert again is not None and again.positions == [0, 1, 2, 3]
    s.done(again, 0.2)
    last = s.next_batch(0.2)
    assert last is not None and last.positions == [4, 5]


def test_pause_holds_a_cold_device_only() -> None:
    keys = ["a", "b", "a", "b"]
    s = scheduler(keys)
    s.pause({"a": 30.0})
    assert s.paused(0.0) == 1
    b = s.next_batch(0.0)
    assert b is not None and b.partitions == ["b", "b"]
    s.done(b, 0.1)
    assert s.next_batch(10.0) is None
    assert s.ready_at(10.0) == 30.0
    b = s.next_batch(30.0)
    assert b is not None and b.positions == [0, 2]
    assert s.paused(30.0) == 0


def test_pause_then_requeue_from_a_429() -> None:
    # What the loop does with a 429 naming device "a": pause it, requeue its events,
    # release the batch; "b" goes on at once, "a" after the pause, in order.
    keys = ["a", "b", "a", "b", "a"]
    s = scheduler(keys)
    b = s.next_batch(0.0)
    assert b is not None and sorted(b.positions) == [0, 1, 2, 3, 4]
    s.pause({"a": 30.0})
    s.requeue(b)
    s.done(b, 0.05)
    nb = s.next_batch(0.05)
    assert nb is not None and nb.partitions == ["b", "b"]
    s.done(nb, 0.1)
    assert s.next_batch(1.0) is None and s.ready_at(1.0) == 30.0
    last = s.next_batch(30.0)
    assert last is not None and last.positions == [0, 2, 4]


def test_tighten_paces_a_cold_device_strictly_from_now_on() -> None:
    keys = ["a"] * 200 + ["b"] * 200
    s = scheduler(keys, limits=Limits(max_events=1999))
    assert s.tighten(["a"], 0.0, eps=30.0) == 1
    assert s.tightened() == (1, False)
    assert s.tighten(["a"], 0.0) == 0  # once
    loop = Loop(s, latency=0.01)
    finish = loop.run()
    assert max_in_window(loop.arrivals["a"], 1.0) <= 29  # strict: 29 per second
    assert max_in_window(loop.arrivals["b"], 1.0) == 200  # untouched: all at once
    assert 6.0 < finish < 8.0  # 200 / 29 per second


def test_tighten_everyone_moves_the_devices_a_strict_rule_can_hold() -> None:
    keys = [f"d{i % 100}" for i in range(10_000)] + [f"small{i}" for i in range(50)]
    s = scheduler(keys)
    s.tighten([], 0.0, everyone=True)
    assert s.tightened() == (0, True)
    loop = Loop(s, latency=0.01)
    loop.run()
    for k, arrivals in loop.arrivals.items():
        assert max_in_window(arrivals, 1.0) <= 29, k
    assert s.pending() == 0


def test_tighten_a_device_while_its_request_is_in_flight_keeps_it_held() -> None:
    keys = ["a"] * 40
    s = scheduler(keys, limits=Limits(max_events=10))
    b = s.next_batch(0.0)
    assert b is not None and b.positions == list(range(10))
    s.tighten(["a"], 0.0)
    assert s.next_batch(0.0) is None  # still held by b, now as a paced partition
    s.done(b, 0.1)
    nb = s.next_batch(1.5)
    assert nb is not None and nb.positions[0] == 10


def test_starter_project_buckets_hold_with_a_plan() -> None:
    keys = [f"d{i % 500}" for i in range(20_000)]
    s = scheduler(keys, limits=Limits(max_events=10), pacing=Pacing(project_eps=1000.0, project_rps=100.0))
    loop = Loop(s, latency=0.001, concurrency=8)
    finish = loop.run()
    assert max_in_window(loop.requests, 1.0) <= 1000  # events in any second
    assert max_in_window([(t, 1) for t, _ in loop.requests], 1.0) <= 100  # requests in any second
    assert all(n <= 10 for _, n in loop.requests)
    assert finish <= 20_000 / 1000 * 1.1


def test_no_plan_entry_means_paced() -> None:
    # A key the plan has not seen (should not happen) is paced, the safe side.
    s = Scheduler(Limits(), Pacing(device_eps=1.0, window_s=1.0, safety=1.0), ENV, plan=PartitionPlan.of(["x"]))
    s.add(chunks(["y", "y"])[0])
    b = s.next_batch(0.0)
    assert b is not None and b.positions == [0]
    assert s.live_partitions() == 1


# -- properties -------------------------------------------------------------------------


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def uploads(draw: st.DrawFn) -> tuple[list[str], list[int]]:
    n = draw(st.integers(1, 400))
    devices = draw(st.integers(1, 12))
    weights = draw(st.lists(st.integers(1, 20), min_size=devices, max_size=devices))
    rng = random.Random(draw(st.integers(0, 10**6)))
    keys = [f"d{i}" for i in rng.choices(range(devices), weights=weights, k=n)]
    pads = [rng.randint(0, 300) for _ in range(n)]
    return keys, pads


@FAST
@given(
    upload=uploads(),
    max_events=st.integers(1, 50),
    max_body=st.integers(1024, 8000),
    device_eps=st.sampled_from([2.0, 5.0, 1e6]),
    strict=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_properties_under_faults(
    upload: tuple[list[str], list[int]], max_events: int, max_body: int, device_eps: float, strict: bool,
    seed: int,
) -> None:
    """Whatever the answers (ok; 429 naming a device, nothing ingested; 400 rejecting
    some events, the rest sent again): no request over the limits; every event
    settled exactly once; each device's ingested events arrive in arrival order;
    no device over its window budget as measured on arrival times."""
    keys, pads = upload
    limits = Limits(max_events=max_events, max_body_bytes=max_body)
    pacing = Pacing(device_eps=device_eps, window_s=5.0, strict=strict)
    s = Scheduler(limits, pacing, ENV, hold_in_flight=True, plan=PartitionPlan.of(keys))
    over = []
    for c in chunks(keys, 37, pads):
        over += s.add(c)
    rng = random.Random(seed)
    settled: dict[str, list[int]] = defaultdict(list)
    done_positions: list[int] = []

    def answer(loop: Loop, b: Batch) -> bool:
        body = b.body("k" * 32)
        assert len(b) <= max_events and len(body) <= max_body
        r = rng.random()
        if r < 0.15:  # 429 naming the first device of the request
            named = b.partitions[0]
            loop.s.pause({named: loop.now + 2.0})
            loop.s.tighten([named], loop.now, eps=device_eps, everyone=rng.random() < 0.2)
            loop.s.requeue(b)  # nothing of it ingested (refunded)
            for k, n in Counter(b.partitions).items():
                # the server did not count them: take them off the arrivals
                loop.arrivals[k].append((loop.arrive_at[id(b)], -n))
            loop.s.done(b, loop.now)
            return True
        if r < 0.25 and len(b) > 1:  # a 400: some rejected for good, the rest sent again
            idx = sorted(rng.sample(range(len(b)), rng.randint(1, len(b) - 1)))
            loop.s.requeue(b.take(idx))
            for k, n in Counter(b.partitions).items():
                loop.arrivals[k].append((loop.arrive_at[id(b)], -n))
            done_positions.extend(b.positions[i] for i in range(len(b)) if i not in idx)
            loop.s.done(b, loop.now)
            return True
        for p, k in zip(b.positions, b.partitions, strict=True):
            settled[k].append(p)
            done_positions.append(p)
        return False

    loop = Loop(s, latency=0.3, concurrency=3)
    loop.run(answer)
    kept = [i for i in range(len(keys)) if i not in {o.position for o in over}]
    assert sorted(done_positions) == kept  # exactly once
    for k, got in settled.items():
        assert got == sorted(got), k  # arrival order per device, across requeues
    budget = window_budget(device_eps, 5.0, 0.95)
    for k, arrivals in loop.arrivals.items():
        assert max_in_window(arrivals, 5.0) <= budget, k


@FAST
@given(upload=uploads(), max_events=st.integers(1, 50), chunk=st.integers(1, 60), planned=st.booleans())
def test_every_event_once_and_in_order_with_or_without_a_plan(
    upload: tuple[list[str], list[int]], max_events: int, chunk: int, planned: bool
) -> None:
    keys, pads = upload
    plan = PartitionPlan.of(keys) if planned else None
    s = Scheduler(Limits(max_events=max_events), Pacing(device_eps=3.0, window_s=2.0), ENV, plan=plan)
    for c in chunks(keys, chunk, pads):
        s.add(c)
    out, _ = drain(s)
    sent = [(p, k) for b in out for p, k in zip(b.positions, b.partitions, strict=True)]
    assert sorted(p for p, _ in sent) == list(range(len(keys)))
    per: dict[str, list[int]] = defaultdict(list)
    for p, k in sent:
        per[k].append(p)
    assert all(v == sorted(v) for v in per.values())


@pytest.mark.parametrize("n", [0, 1, 5])
def test_plan_of_small_inputs(n: int) -> None:
    keys = [f"k{i % 3}" for i in range(n)]
    plan = PartitionPlan.of(keys)
    assert plan.events == n
    assert sum(plan.totals.tolist()) == n
    assert plan.codes(["nope"]).tolist() == [-1]
    if n:
        assert plan.codes([keys[0]]).tolist() == [0]  # codes: order of first appearance
        counts = Counter(keys)
        name, events = plan.busiest[0]
        assert events == max(counts.values()) == counts[name]


def test_plan_order_does_not_depend_on_the_hash_salt() -> None:
    # str hashes are salted per process: codes (the pool's order) and the busiest
    # named in the text must still come out the same in every process.
    import os
    import subprocess
    import sys

    code = (
        "from amp_notebook._plan import PartitionPlan;"
        "keys = [f'd{i % 7}' for i in range(50)] + ['x', 'y', 'y'];"
        "p = PartitionPlan.of(keys);"
        "print(p.busiest, p.codes(['x', 'y', 'd3']).tolist())"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in (1, 2, 3)
    }
    assert len(outs) == 1, outs
    assert "('d0', 8)" in outs.pop()
