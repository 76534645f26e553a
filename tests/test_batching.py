"""Batches, bodies, the static chunker and the Scheduler's request building.

Written from the reference ("Request body", "Limits") and the contract: a body is
``{"api_key": ..., "events": [...], "options": {...}}``, fewer than 2000 events and
under the byte limit; nothing is lost, duplicated or reordered within a partition.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict

import numpy as np
import orjson
import pytest
from builders import drain  # the loop with a fake clock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amp_notebook._batching import Batch, Oversize, chunk, envelope_size
from amp_notebook._config import Limits, Pacing
from amp_notebook._encoding import EncodedChunk
from amp_notebook._scheduler import Scheduler

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_PACING = Pacing(device_eps=1e9)

keys_st = st.text(min_size=1, max_size=40)  # any text: quotes, backslashes, non-ASCII
options_st = st.one_of(
    st.none(),
    st.just({}),
    st.builds(lambda n: {"min_id_length": n}, st.integers(0, 10**6)),
)


def make_payload(i: int, pad: int) -> bytes:
    return orjson.dumps({"event_type": "e", "device_id": f"d{i}", "insert_id": str(i), "p": "x" * pad})


@st.composite
def events_st(draw: st.DrawFn, max_n: int = 120, max_pad: int = 900) -> list[tuple[int, bytes, str]]:
    n = draw(st.integers(0, max_n))
    nparts = draw(st.integers(1, 6))
    pads = draw(st.lists(st.integers(0, max_pad), min_size=n, max_size=n))
    parts = draw(st.lists(st.integers(0, nparts - 1), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))  # positions need not be in arrival order
    return [(order[i], make_payload(order[i], pads[i]), f"dev-{parts[i]}") for i in range(n)]


def to_chunks(events: list[tuple[int, bytes, str]], size: int) -> list[EncodedChunk]:
    out = []
    for s in range(0, len(events), size):
        part = events[s : s + size]
        out.append(
            EncodedChunk(
                np.array([e[0] for e in part], dtype=np.int64),
                [e[1] for e in part],
                [e[2] for e in part],
            )
        )
    return out


def check_body(batch: Batch, key: str, options: dict[str, object] | None, limits: Limits) -> None:
    body = batch.body(key, options)
    assert len(batch) <= limits.max_events
    assert len(body) <= limits.max_body_bytes
    assert len(body) == envelope_size(key, options) + batch.nbytes
    doc = json.loads(body)
    assert doc["api_key"] == key
    assert doc["events"] == [json.loads(p) for p in batch.payloads]
    if options:
        assert doc["options"] == options
    else:
        assert "options" not in doc


# -- bodies ------------------------------------------------------------------


def test_body_exact_bytes() -> None:
    b = Batch([0, 1], [b'{"a":1}', b'{"b":2}'], ["d", "d"])
    assert b.nbytes == 15
    assert b.body("k1", None) == b'{"api_key":"k1","events":[{"a":1},{"b":2}]}'
    assert b.body("k1", {}) == b'{"api_key":"k1","events":[{"a":1},{"b":2}]}'
    assert b.body("k1", {"min_id_length": 3}) == (
        b'{"api_key":"k1","events":[{"a":1},{"b":2}],"options":{"min_id_length":3}}'
    )
    assert envelope_size(2, None) == len(b'{"api_key":"k1","events":[]}')
    assert envelope_size(2, {"min_id_length": 3}) == len(
        b'{"api_key":"k1","events":[],"options":{"min_id_length":3}}'
    )


@FAST
@given(key=keys_st, options=options_st, n=st.integers(0, 5))
def test_body_is_json_and_envelope_is_exact(key: str, options: dict[str, object] | None, n: int) -> None:
    payloads = [make_payload(i, i * 7) for i in range(n)]
    b = Batch(list(range(n)), payloads, ["d"] * n)
    body = b.body(key, options)
    assert len(body) == envelope_size(key, options) + b.nbytes
    # the int form: the JSON-escaped key's byte length
    assert envelope_size(len(orjson.dumps(key)) - 2, options) == envelope_size(key, options)
    doc = json.loads(body)
    assert doc["api_key"] == key
    assert doc["events"] == [json.loads(p) for p in payloads]
    assert ("options" in doc) == bool(options)


def test_split_and_take() -> None:
    payloads = [make_payload(i, i) for i in range(5)]
    b = Batch([10, 11, 12, 13, 14], payloads, list("aabba"), seqs=[0, 1, 2, 3, 4], sent_at=3.0)
    first, second = b.split()
    assert first.positions + second.positions == b.positions
    assert first.payloads + second.payloads == payloads
    assert (len(first), len(second)) == (3, 2)
    for half in (first, second):
        assert half.nbytes == len(b",".join(half.payloads))
        assert half.sent_at == 3.0
    assert first.seqs + second.seqs == b.seqs
    t = b.take([4, 1])
    assert t.positions == [14, 11]
    assert t.partitions == ["a", "a"]
    assert t.nbytes == len(payloads[4]) + 1 + len(payloads[1])
    one = b.take([2])
    with pytest.raises(ValueError, match="split"):
        one.split()


@FAST
@given(n=st.integers(2, 60))
def test_split_halves(n: int) -> None:
    b = Batch(list(range(n)), [make_payload(i, i % 5) for i in range(n)], ["d"] * n)
    x, y = b.split()
    assert abs(len(x) - len(y)) <= 1
    assert x.payloads + y.payloads == b.payloads
    assert x.nbytes + y.nbytes + 1 == b.nbytes


# -- the static chunker --------------------------------------------------------


@FAST
@given(
    events=events_st(),
    max_events=st.integers(1, 40),
    max_body=st.integers(1024, 6000),
    key=keys_st,
    options=options_st,
    chunk_size=st.integers(1, 50),
)
def test_chunk_limits_order_and_oversize(
    events: list[tuple[int, bytes, str]],
    max_events: int,
    max_body: int,
    key: str,
    options: dict[str, object] | None,
    chunk_size: int,
) -> None:
    limits = Limits(max_events=max_events, max_body_bytes=max_body)
    env = envelope_size(key, options)
    out = list(chunk(to_chunks(events, chunk_size), limits, env))
    batches = [b for b in out if isinstance(b, Batch)]
    over = [o for o in out if isinstance(o, Oversize)]
    expected_over = [(p, len(pl)) for p, pl, _ in events if env + len(pl) > max_body]
    assert [(o.position, o.nbytes) for o in over] == expected_over
    kept = [e for e in events if env + len(e[1]) <= max_body]
    assert [p for b in batches for p in b.positions] == [e[0] for e in kept]
    assert [p for b in batches for p in b.payloads] == [e[1] for e in kept]
    assert [p for b in batches for p in b.partitions] == [e[2] for e in kept]
    for b in batches:
        assert len(b) >= 1
        check_body(b, key, options, limits)
    # greedy: a batch was closed only because the next event would break a limit
    for b, nxt in itertools.pairwise(batches):
        assert len(b) == max_events or env + b.nbytes + 1 + len(nxt.payloads[0]) > max_body


# -- the Scheduler: building requests ------------------------------------------


@FAST
@given(
    events=events_st(),
    max_events=st.integers(1, 40),
    max_body=st.integers(1024, 6000),
    key=keys_st,
    options=options_st,
    chunk_size=st.integers(1, 50),
    quantum=st.one_of(st.none(), st.integers(1, 10)),
    paced=st.booleans(),
)
def test_scheduler_limits_and_partition_order(
    events: list[tuple[int, bytes, str]],
    max_events: int,
    max_body: int,
    key: str,
    options: dict[str, object] | None,
    chunk_size: int,
    quantum: int | None,
    paced: bool,
) -> None:
    limits = Limits(max_events=max_events, max_body_bytes=max_body)
    env = envelope_size(key, options)
    pacing = Pacing(device_eps=2.0, window_s=5.0) if paced else NO_PACING
    s = Scheduler(limits, pacing, env, quantum=quantum)
    over: list[Oversize] = []
    for c in to_chunks(events, chunk_size):
        over += s.add(c)
    assert sorted((o.position, o.nbytes) for o in over) == sorted(
        (p, len(pl)) for p, pl, _ in events if env + len(pl) > max_body
    )
    kept = [e for e in events if env + len(e[1]) <= max_body]
    assert s.pending() == len(kept)
    batches, _ = drain(s)
    assert s.pending() == 0
    for b in batches:
        check_body(b, key, options, limits)
    sent = [(p, pl, k) for b in batches for p, pl, k in zip(b.positions, b.payloads, b.partitions, strict=True)]
    assert sorted(sent) == sorted(kept)  # every event exactly once, with its own payload and key
    per_in: dict[str, list[int]] = defaultdict(list)
    per_out: dict[str, list[int]] = defaultdict(list)
    for p, _, k in kept:
        per_in[k].append(p)
    for p, _, k in sent:
        per_out[k].append(p)
    assert per_out == per_in  # per-partition arrival order


def test_scheduler_mixes_partitions_in_a_request() -> None:
    # One busy device and several small ones: the busy one gives at most a quantum
    # per pass, so the small ones ride along in the first request.
    events = [(i, make_payload(i, 0), "busy") for i in range(100)]
    events += [(100 + i, make_payload(100 + i, 0), f"small-{i}") for i in range(5)]
    s = Scheduler(Limits(max_events=20), NO_PACING, 100, quantum=4)
    s.add(to_chunks(events, 1000)[0])
    b = s.next_batch(0.0)
    assert b is not None
    assert len(b) == 20
    assert sum(1 for k in b.partitions if k != "busy") == 5
    # and the busiest partition goes first (largest backlog first)
    assert b.partitions[0] == "busy"


def test_scheduler_oversize_event_is_reported_not_queued() -> None:
    big = make_payload(1, 5000)
    c = EncodedChunk(np.array([7, 8], dtype=np.int64), [make_payload(0, 1), big], ["a", "b"])
    s = Scheduler(Limits(max_body_bytes=2000), NO_PACING, envelope_size("k" * 32, None))
    assert s.add(c) == [Oversize(8, len(big))]
    assert s.pending() == 1
    b = s.next_batch(0.0)
    assert b is not None
    assert b.positions == [7]


def test_requeue_out_of_order_keeps_arrival_order() -> None:
    events = [(i, make_payload(i, 0), "d") for i in range(9)]
    s = Scheduler(Limits(max_events=3), NO_PACING, 100)
    s.add(to_chunks(events, 100)[0])
    b1, b2 = s.next_batch(0.0), s.next_batch(0.0)
    assert b1 is not None
    assert b2 is not None
    assert (b1.positions, b2.positions) == ([0, 1, 2], [3, 4, 5])
    # responses come back in any order; first b1 then b2, and a half of a split
    s.requeue(b1)
    x, y = b2.split()
    s.requeue(y)
    s.requeue(x)
    assert s.pending() == 9
    batches, _ = drain(s)
    assert [p for b in batches for p in b.positions] == list(range(9))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**9))
def test_requeue_random_interleaving(seed: int) -> None:
    """A model check: next batch of a partition always starts at its earliest pending event."""
    rng = random.Random(seed)
    n = rng.randint(1, 80)
    events = [(i, make_payload(i, rng.randint(0, 30)), f"d{rng.randint(0, 4)}") for i in range(n)]
    s = Scheduler(Limits(max_events=rng.randint(1, 12)), NO_PACING, 50, quantum=rng.randint(1, 5))
    for c in to_chunks(events, rng.randint(1, 30)):
        s.add(c)
    model: dict[str, list[int]] = defaultdict(list)  # pending positions per partition, arrival order
    for p, _, k in events:
        model[k].append(p)
    in_flight: list[Batch] = []
    done: list[int] = []
    now = 0.0
    while s.pending() or in_flight:
        if in_flight and (not s.pending() or rng.random() < 0.4):
            b = in_flight.pop(rng.randrange(len(in_flight)))
            if rng.random() < 0.5:
                if len(b) > 1 and rng.random() < 0.5:
                    b, rest = b.split()
                    s.requeue(rest)
                    for p, k in zip(rest.positions, rest.partitions, strict=True):
                        model[k].append(p)
                s.requeue(b)
                for p, k in zip(b.positions, b.partitions, strict=True):
                    model[k].append(p)
                for k in model:
                    model[k].sort()  # positions == arrival order here
            else:
                done += b.positions
            continue
        nb = s.next_batch(now)
        assert nb is not None
        b = nb
        for k in set(b.partitions):
            mine = [p for p, kk in zip(b.positions, b.partitions, strict=True) if kk == k]
            assert mine == model[k][: len(mine)]
            del model[k][: len(mine)]
        in_flight.append(b)
        now += 0.001
    assert sorted(done) == list(range(n))


def test_requeue_needs_a_scheduler_batch() -> None:
    s = Scheduler(Limits(), NO_PACING, 100)
    with pytest.raises(ValueError, match="requeue"):
        s.requeue(Batch([0], [b"{}"], ["d"]))


def test_shrink_lowers_later_batches_and_big_events_go_alone() -> None:
    key = "k" * 32
    env = envelope_size(key, None)
    small = [(i, make_payload(i, 10), "a") for i in range(40)]
    big = (40, make_payload(40, 1500), "b")
    s = Scheduler(Limits(max_body_bytes=4000), NO_PACING, env)
    s.add(to_chunks([*small, big], 100)[0])
    s.shrink(max_body_bytes=1100)
    batches, _ = drain(s)
    alone = [b for b in batches if 40 in b.positions]
    assert len(alone) == 1
    assert alone[0].positions == [40]
    for b in batches:
        if b is not alone[0]:
            assert len(b.body(key, None)) <= 1100
    assert sorted(p for b in batches for p in b.positions) == list(range(41))
    s.shrink(max_events=3)
    s.add(to_chunks([(100 + i, make_payload(100 + i, 0), "c") for i in range(7)], 100)[0])
    assert [len(b) for b in drain(s)[0]] == [3, 3, 1]


# -- memory (issue 7: an upload streams; what the scheduler holds does not grow with what it sent)


def _one_chunk(events: list[tuple[int, bytes, str]]) -> EncodedChunk:
    return to_chunks(events, max(1, len(events)))[0]


def test_sent_payloads_are_not_kept() -> None:
    import sys

    # Few events per partition (fewer than any fixed compaction threshold), as in a big frame.
    payloads = [make_payload(i, 20) for i in range(300)]
    base = [sys.getrefcount(p) for p in payloads]
    s = Scheduler(Limits(max_events=7), NO_PACING, 100)
    s.add(_one_chunk([(i, p, f"d{i % 100}") for i, p in enumerate(payloads)]))
    assert s.pending_bytes() == sum(map(len, payloads))
    sent = 0
    while (b := s.next_batch(0.0)) is not None:
        sent += len(b)
        del b
    assert sent == 300 and s.pending() == 0 and s.pending_bytes() == 0
    assert [sys.getrefcount(p) for p in payloads] == base


def test_idle_partitions_go_dormant_and_are_forgotten_once_their_window_has_passed() -> None:
    window = 2.0
    s = Scheduler(Limits(max_events=100), Pacing(device_eps=10.0, window_s=window), 100)
    t = 0.0
    for wave in range(30):  # 30 waves of 100 new devices, one event each
        s.add(_one_chunk([(wave * 100 + i, make_payload(i, 5), f"w{wave}-d{i}") for i in range(100)]))
        while (b := s.next_batch(t)) is not None:
            assert len(b)
        t += 1.0
    assert s.pending() == 0
    # Nothing pending: no live partition; records only for the devices sent to
    # within the last window (this wave and the one before; without forgetting: 3,000).
    assert s.live_partitions() == 0
    assert s.partitions() <= 200
    s.next_batch(t + window)
    assert s.partitions() == 0


def test_a_dormant_partition_keeps_its_pacing_and_its_pause() -> None:
    pacing = Pacing(device_eps=1.0, window_s=1.0, safety=1.0)  # 1 event per second
    s = Scheduler(Limits(max_events=10), pacing, 100)
    s.add(_one_chunk([(0, make_payload(0, 5), "dev")]))
    b = s.next_batch(0.0)
    assert b is not None and b.positions == [0]
    assert s.live_partitions() == 0 and s.partitions() == 1  # dormant: its send still counts
    s.add(_one_chunk([(1, make_payload(1, 5), "dev")]))
    assert s.next_batch(0.5) is None
    assert s.ready_at(0.5) == 1.0
    b = s.next_batch(1.0)
    assert b is not None and b.positions == [1]
    # Paused while dormant (a 429 for a request of its that came back late).
    s.pause({"dev": 5.0})
    assert s.paused(2.0) == 1
    s.add(_one_chunk([(2, make_payload(2, 5), "dev")]))
    assert s.next_batch(4.9) is None and s.ready_at(4.9) == 5.0
    assert s.paused(5.0) == 0
    b = s.next_batch(5.0)
    assert b is not None and b.positions == [2]
    s.next_batch(6.0)
    assert s.partitions() == 0


def test_a_device_that_sleeps_and_wakes_often_keeps_one_record() -> None:
    s = Scheduler(Limits(max_events=10), Pacing(device_eps=1000.0, window_s=30.0), 100, hold_in_flight=True)
    t = 0.0
    for i in range(500):
        s.add(_one_chunk([(i, make_payload(i, 5), "dev")]))
        b = s.next_batch(t)
        assert b is not None and b.positions == [i]
        s.done(b)
        t += 0.01
    # One record and one entry to drop it by, not one per time it went dormant.
    assert s.partitions() == 1 and len(s._live._dormant) == 1 and len(s._live._dormant_ends) == 1
    s.next_batch(t + 31.0)
    assert s.partitions() == 0 and not s._live._dormant_ends


def test_forgotten_partition_keeps_its_pacing_and_requeue_works() -> None:
    # One device with 1 event per window at most: forgetting must not let it send two.
    pacing = Pacing(device_eps=1.0, window_s=1.0, safety=1.0)
    s = Scheduler(Limits(max_events=10), pacing, 100)
    s.add(_one_chunk([(i, make_payload(i, 5), f"filler{i}") for i in range(2000)]))
    while s.next_batch(0.0) is not None:
        pass
    s.add(_one_chunk([(5000, make_payload(0, 5), "dev"), (5001, make_payload(1, 5), "dev")]))
    b = s.next_batch(0.0)
    assert b is not None and b.positions == [5000]
    assert s.next_batch(0.5) is None  # the window still holds the first send
    assert s.ready_at(0.5) == 1.0
    b2 = s.next_batch(1.0)
    assert b2 is not None and b2.positions == [5001]
    # Much later, every partition expired and idle ones are dropped; the batch in
    # flight the whole time comes back with a 429 and is sent again, in order.
    s.next_batch(10.0)
    assert s.partitions() < 2000
    s.requeue(b2)
    assert s.pending() == 1 and s.pending_bytes() == len(b2.payloads[0])
    b3 = s.next_batch(10.0)
    assert b3 is not None and b3.positions == [5001]


def test_hold_in_flight_gives_nothing_more_of_a_device_until_done():
    from amp_notebook._config import Limits, Pacing
    from amp_notebook._encoding import EncodedChunk

    s = Scheduler(Limits(max_events=3), Pacing(device_eps=1e6), 100, hold_in_flight=True)
    n = 9
    s.add(EncodedChunk(np.arange(n), [b'{"i":%d}' % i for i in range(n)], ["a", "a", "b"] * 3))
    first = s.next_batch(0.0)
    assert first is not None and set(first.partitions) == {"a", "b"}
    # Both devices have a batch in flight: nothing more until it is done.
    assert s.next_batch(0.0) is None
    s.done(first)
    second = s.next_batch(0.0)
    assert second is not None
    # A requeued part of a held batch goes back to the front, before later events.
    s.requeue(second.take([0]))
    s.done(second)
    third = s.next_batch(0.0)
    assert third is not None and third.positions[0] == second.positions[0]
