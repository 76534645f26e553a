"""Builders many test modules share: the ``events()`` frame, the settled-row check and
``drain()`` / ``drain_timed()``, the Scheduler driven with a fake clock.

Imported as ``from builders import events, assert_settled, drain`` (pytest's default import mode
puts tests/ on sys.path). Not in conftest.py: the notebooks' and e2e's conftest.py are
imported under the same module name, so ``from conftest import`` would find theirs.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

import amp_notebook as amp
from amp_notebook._batching import Batch
from amp_notebook._rule_table import RULES, Reason
from amp_notebook._scheduler import Scheduler

SETTLED = {"ingested", "rejected", "failed", "skipped"}


def events(n: int, *, users: int = 50, start: str = "2026-01-01") -> pd.DataFrame:
    """``n`` valid events of ``users`` users, one a second from ``start``, two event properties;
    the index starts at 1000 so that positions and labels differ."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "user_id": [f"user-{i % users:05d}" for i in range(n)],
            "event_type": rng.choice(["Play", "Pause", "Purchase"], n),
            "time": pd.date_range(start, periods=n, freq="s"),
            "event_properties.amount": rng.integers(0, 100, n),
            "event_properties.plan": rng.choice(["free", "pro"], n),
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )


def assert_settled(result: amp.UploadResult, df: pd.DataFrame) -> None:
    """Nothing is lost: every row of ``df`` ends in one final status, with a reason unless ingested."""
    rows = result.rows
    assert list(rows.index) == list(df.index)
    assert set(rows["status"]) <= SETTLED
    not_ok = rows[rows["status"] != "ingested"]
    assert not_ok["reason"].notna().all(), not_ok
    assert sum(result.counts()[k] for k in SETTLED) == len(df)


def drain_timed(s: Scheduler, now: float = 0.0, limit: int = 100_000) -> tuple[list[tuple[float, Batch]], float]:
    """Run the loop with a fake clock until nothing is pending: each batch with the clock's
    time when it was taken, and the time at the end. ``limit``: steps (batches and waits)."""
    out: list[tuple[float, Batch]] = []
    for _ in range(limit):
        b = s.next_batch(now)
        if b is None:
            t = s.ready_at(now)
            if t is None:
                return out, now
            assert t > now, "ready_at said now, but next_batch gave nothing"
            now = t
            continue
        out.append((now, b))
    raise AssertionError("did not finish")


def drain(s: Scheduler, now: float = 0.0, limit: int = 100_000) -> tuple[list[Batch], float]:
    """Run the loop with a fake clock until nothing is pending: the batches, and the time at the end."""
    timed, now = drain_timed(s, now, limit)
    return [b for _, b in timed], now


def template_pattern(template: str) -> re.Pattern[str]:
    """A message template of the rules table as a regex: its words exactly, any text for a field."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(".*?")
    return re.compile("".join(parts), re.DOTALL)


def matches_its_rule(reason: str, message: str) -> bool:
    """Whether a failures row's message is one of its reason's templates, filled in."""
    return any(template_pattern(t).fullmatch(message) for t in RULES[Reason(reason)].messages.values())
