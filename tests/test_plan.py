"""PartitionPlan: events per partition counted a slice at a time (issue 11: the whole
frame's hashes never exist at once) give the same plan however the keys are sliced."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from amp_notebook._plan import PartitionPlan, _Counts


def sliced(keys: list[str], size: int) -> PartitionPlan:
    return PartitionPlan.from_keys(lambda: iter([keys[s : s + size] for s in range(0, len(keys), size)]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([f"device-{i}" for i in range(30)] + ["", "user:u-1"]), max_size=300),
       st.integers(1, 50))
def test_counts_and_codes_do_not_depend_on_slices(keys: list[str], size: int) -> None:
    plan = sliced(keys, size)
    # Codes are the rank of first appearance; totals the events per key.
    first_seen = list(dict.fromkeys(keys))
    assert plan.codes(first_seen).tolist() == list(range(len(first_seen)))
    counts = Counter(keys)
    assert plan.totals.tolist() == [counts[k] for k in first_seen]
    assert plan.events == len(keys) and len(plan) == len(first_seen)
    assert list(plan.hashes) == sorted(plan.hashes) and len(set(plan.hashes.tolist())) == len(plan)
    # The busiest: most events first, equal totals in first-seen order.
    expected = sorted(first_seen, key=lambda k: (-counts[k], first_seen.index(k)))[:5]
    assert plan.busiest == tuple((k, counts[k]) for k in expected)
    whole = PartitionPlan.of(keys)
    assert whole.top == plan.top and whole.totals.tolist() == plan.totals.tolist()
    assert plan.codes(["not-a-key"]).tolist() == [-1]


def test_codes_and_totals_are_int32_until_the_events_need_more() -> None:
    plan = sliced(["a", "b", "a"], 2)
    assert plan.codes_of_hashes.dtype == np.int32 and plan.totals.dtype == np.int32
    counts = _Counts()
    counts.events = np.iinfo(np.int32).max - 1  # as if 2**31 - 2 events were counted already
    counts.add(np.array([7, 7, 8], dtype=np.int64))
    assert counts.totals.dtype == np.int64 and counts.totals.tolist() == [2, 1]
