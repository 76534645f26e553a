"""Integers that do not fit a signed 64-bit integer (issue 12, items 1 and 2).

Reference, "Event keys": ``time``, ``event_id`` and ``quantity`` are integers and
``session_id`` an "integer (long)": a signed 64-bit number, -2**63 .. 2**63-1. JSON
numbers beyond that are read by Amplitude as floating point (digits lost) or refused.
One such cell is one row's error (``integer_out_of_range``), never an aborted upload,
and never a value sent altered: a uint64 above 2**63-1 is not sent as if it were a long.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import HTTP_PATH, Emulator, Sandbox
from amp_notebook.sandbox._checks import Problems, check_event

KEY = "range-key-0123456789"
NOW_MS = 1_750_000_000_000
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH  # never dialled: the in-process transport answers
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)

INTEGER_KEYS = ("time", "event_id", "session_id", "quantity")


def _column(kind: str, value: Any) -> Any:
    """Two cells: a good one first, then ``value`` in the dtype ``kind``."""
    good = NOW_MS if kind != "float64" else float(NOW_MS)
    if kind == "object":
        return pd.Series([good, value], dtype=object)
    return np.array([good, value], dtype=kind)


TOO_BIG = [
    ("object", 10**20),
    ("object", 2**63),
    ("object", INT64_MIN - 1),
    ("object", 2**70),
    ("uint64", 2**63 + 5),
    ("uint64", 2**64 - 1),
    ("float64", 1e20),
    ("float64", 1e300),
    ("float64", -1e20),
]


def _frame(key: str, kind: str, value: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": ["user-00001", "user-00002"], "event_type": ["Purchase", "Purchase"], key: _column(kind, value)}
    )


def _upload(df: pd.DataFrame, **kw: Any) -> tuple[amp.UploadResult, Sandbox]:
    sb = Sandbox()
    result = amp.upload(
        df, api_key=KEY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
        retry=RetryPolicy.fast(), progress=False, now_ms=NOW_MS, **kw,
    )
    return result, sb


@pytest.mark.parametrize("key", INTEGER_KEYS)
@pytest.mark.parametrize(("kind", "value"), TOO_BIG)
def test_integer_key_beyond_int64_is_one_row_error(key: str, kind: str, value: Any) -> None:
    df = _frame(key, kind, value)
    report = amp.validate(df, now_ms=NOW_MS)
    f = report.failures
    assert f["reason"].tolist() == ["integer_out_of_range"], f
    assert f.index.tolist() == [1]
    assert (f["severity"].iloc[0], f["key"].iloc[0], f["column"].iloc[0]) == ("error", key, key)
    assert "64-bit" in f["message"].iloc[0]

    # No abort: the events are built, the bad value is never sent altered.
    events = list(amp.to_events(df))
    assert len(events) == 2
    assert key not in events[1]
    dry = amp.upload(df, dry_run=True, progress=False, now_ms=NOW_MS)
    assert dry.counts()["skipped"] == 1

    result, sb = _upload(df)
    rows = result.rows
    assert rows["status"].tolist() == ["ingested", "skipped"]
    assert rows["reason"].iloc[1] == "invalid: integer_out_of_range"
    assert len(sb.ingested) == 1


@pytest.mark.parametrize("key", ["event_id", "quantity"])
def test_int64_bounds_are_sent_exactly(key: str) -> None:
    df = pd.DataFrame(
        {"user_id": ["user-00001"] * 2, "event_type": ["Purchase"] * 2,
         key: pd.Series([INT64_MAX, INT64_MIN], dtype=object)}
    )
    assert amp.validate(df, now_ms=NOW_MS).failures.empty
    assert [e[key] for e in amp.to_events(df)] == [INT64_MAX, INT64_MIN]
    result, sb = _upload(df)
    assert result.counts()["ingested"] == 2
    assert sorted(e[key] for e in sb.ingested) == [INT64_MIN, INT64_MAX]


def test_uint64_session_id_above_int64_max_is_not_sent_as_a_long() -> None:
    df = pd.DataFrame(
        {"user_id": ["user-00001"], "event_type": ["x"], "session_id": np.array([2**63 + 5], dtype="uint64")}
    )
    assert amp.validate(df, now_ms=NOW_MS).failures["reason"].tolist() == ["integer_out_of_range"]
    assert "session_id" not in next(iter(amp.to_events(df)))


def test_seconds_that_overflow_int64_as_milliseconds_are_out_of_range() -> None:
    # 10**17 s is 10**20 ms: int64 arithmetic would wrap round to a plausible-looking time.
    df = pd.DataFrame({"user_id": ["user-00001"] * 2, "event_type": ["x"] * 2,
                       "time": np.array([1_750_000_000, 10**17], dtype="int64")})
    report = amp.validate(df, time_unit="s", now_ms=NOW_MS)
    assert report.failures["reason"].tolist() == ["integer_out_of_range"]
    events = list(amp.to_events(df, time_unit="s"))
    assert events[0]["time"] == 1_750_000_000_000
    assert "time" not in events[1]


PROPERTY_VALUES = [
    pd.Series([1, 10**20], dtype=object),
    pd.Series([1, INT64_MIN - 1], dtype=object),
    np.array([1, 2**63 + 5], dtype="uint64"),
    pd.Series([[1], [2, 10**20]], dtype=object),
    pd.Series([{"a": 1}, {"a": {"b": 2**64}}], dtype=object),
]


@pytest.mark.parametrize("values", PROPERTY_VALUES, ids=range(len(PROPERTY_VALUES)))
def test_property_integer_beyond_int64_is_one_row_error(values: Any) -> None:
    df = pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["x", "x"],
                       "event_properties.n": values})
    f = amp.validate(df, now_ms=NOW_MS).failures
    assert (f.index.tolist(), f["reason"].tolist(), f["key"].tolist()) == (
        [1], ["integer_out_of_range"], ["event_properties.n"]
    )
    assert len(list(amp.to_events(df))) == 2  # no TypeError from the JSON encoder
    result, _ = _upload(df)
    assert result.rows["status"].tolist() == ["ingested", "skipped"]
    # Sent as it is (the exact digits): no abort either. The sandbox refuses an integer
    # it reads exactly (uint64); beyond 64 bits its JSON parser reads a double and keeps
    # it, as Amplitude's would (the one deliberate difference, see sandbox/_checks.py).
    result, sb = _upload(df, on_invalid="send")
    assert result.rows["status"].iloc[0] == "ingested"
    assert result.rows["status"].iloc[1] in ("ingested", "rejected")
    assert len(sb.ingested) == (result.rows["status"] == "ingested").sum()


def test_property_int64_bounds_and_big_floats_are_fine() -> None:
    df = pd.DataFrame({"user_id": ["user-00001"] * 3, "event_type": ["x"] * 3,
                       "event_properties.n": pd.Series([INT64_MAX, INT64_MIN, 1e20], dtype=object)})
    assert amp.validate(df, now_ms=NOW_MS).failures.empty
    assert [e["event_properties"]["n"] for e in amp.to_events(df)] == [INT64_MAX, INT64_MIN, 1e20]


# -- the sandbox says the same (its own checks, written from the reference) ----------------


@pytest.mark.parametrize("key", INTEGER_KEYS)
@pytest.mark.parametrize("value", [2**63, 2**64 - 1, INT64_MIN - 1])
def test_sandbox_refuses_integer_keys_beyond_int64(key: str, value: int) -> None:
    problems = Problems()
    event = {"event_type": "x", "user_id": "user-00001", key: value}
    assert not check_event(0, event, 5, problems)
    assert problems.invalid == {key: [0]}


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, INT64_MIN - 1])
def test_sandbox_refuses_property_integers_beyond_int64(value: int) -> None:
    problems = Problems()
    event = {"event_type": "x", "user_id": "user-00001", "event_properties": {"n": [1, {"m": value}]}}
    assert not check_event(0, event, 5, problems)
    assert problems.invalid == {"event_properties": [0]}


def test_sandbox_accepts_the_int64_bounds() -> None:
    emu = Emulator()
    import orjson

    ev = {"event_type": "x", "user_id": "user-00001", "event_id": INT64_MAX, "session_id": INT64_MAX,
          "event_properties": {"n": INT64_MIN}}
    r = emu.handle(HTTP_PATH, orjson.dumps({"api_key": KEY, "events": [ev]}), {}, NOW_MS / 1000)
    assert r.status == 200, r.json()
