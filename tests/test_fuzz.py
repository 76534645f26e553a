"""Property tests: hostile DataFrames through validate, to_events and upload.

Frames with every dtype pandas has (numpy, nullable, categorical, pyarrow strings,
naive and tz-aware datetimes, object columns holding anything), missing values of
every flavour, control characters, emoji, 2 KB strings, nested containers, huge
and tiny numbers, inf, and odd column names. The sandbox (in-process transport)
is the oracle. Invariants (developers' guide; reference, "Responses"):

* only amp_notebook's documented errors escape (``AmpNotebookError``);
* every row ends ingested, rejected, failed or skipped, and the non-ingested ones
  say why;
* every event is strict JSON (no NaN / Infinity);
* what the sandbox stored is what ``to_events`` produced for the ingested rows.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import HTTP_PATH, Sandbox

KEY = "fuzz-key-0123456789"
NOW_MS = 1_780_000_000_000  # 2026-05-28, fixed so "time in the future" is deterministic
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH  # never dialled: the in-process transport answers

# -- values -------------------------------------------------------------------------------

_nasty_text = st.sampled_from(
    [
        "", " ", "null", "undefined", "None", "nan", "NaN", "0", "00000000-0000-0000-0000-000000000000",
        "\x00", "\x07bell", "tab\tnew\nline\r", "\u202eRTL", "\ud7ff", "\ufeffbom", "🙂🎉👩‍👩‍👧",
        "é" * 3, "x" * 2048, "é" * 1100, "[Amplitude] Revenue", "$identify", "user-00001",
        "2026-01-01T00:00:00Z", "2026-01-01 12:00:00+05:30", "1767225600000", "-1", "1e308",
    ]
)
text = st.one_of(_nasty_text, st.text(max_size=40), st.text(min_size=5, max_size=12, alphabet="abcdef0123456789-"))
ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), 1_767_225_600_000, 1_767_225_600]),
)
# Beyond int64 (and beyond uint64): one row's integer_out_of_range, never an abort.
big_ints = st.one_of(
    st.integers(2**63, 2**80),
    st.integers(-(2**80), -(2**63) - 1),
    st.sampled_from([2**63, 2**63 + 5, 2**64 - 1, 2**64, -(2**63) - 1, 10**20]),
)
uints = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([2**63 - 1, 2**63, 2**63 + 5, 2**64 - 1]))
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e308, 1.7976931348623157e308, math.inf, -math.inf, math.nan,
                     1_767_225_600_000.0, 1_767_225_600.5]),
)
missing = st.sampled_from([None, math.nan, pd.NA, pd.NaT, np.nan])
leaf = st.one_of(text, ints, big_ints, floats, st.booleans(), missing)
nested = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
datetimes = st.datetimes(
    min_value=pd.Timestamp("1677-09-22").to_pydatetime(), max_value=pd.Timestamp("2262-04-10").to_pydatetime()
)


def _with_missing(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, values, missing)


@st.composite
def column(draw: st.DrawFn, n: int, role: str) -> Any:
    """One column of ``n`` rows in a drawn dtype (a list, array or Series)."""
    kind = draw(
        st.sampled_from(
            ["int64", "uint64", "object_int", "float64", "bool", "object_str", "object_any", "category",
             "Int64", "boolean", "string", "pyarrow_str", "str_default", "datetime", "datetime_tz", "nested"]
        )
    )
    if kind == "int64":
        return np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype="int64")
    if kind == "uint64":
        return np.array(draw(st.lists(uints, min_size=n, max_size=n)), dtype="uint64")
    if kind == "object_int":  # Python ints of any size, as read_json or a database gives them
        return pd.Series(draw(st.lists(_with_missing(st.one_of(ints, big_ints)), min_size=n, max_size=n)), dtype=object)
    if kind == "float64":
        return np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype="float64")
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "object_str":
        return pd.Series(draw(st.lists(_with_missing(text), min_size=n, max_size=n)), dtype=object)
    if kind == "object_any":
        return pd.Series(draw(st.lists(leaf, min_size=n, max_size=n)), dtype=object)
    if kind == "category":
        return pd.Categorical(draw(st.lists(st.one_of(text, st.none()), min_size=n, max_size=n)))
    if kind == "Int64":
        vals = draw(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), min_size=n, max_size=n))
        return pd.array(vals, dtype="Int64")
    if kind == "boolean":
        return pd.array(draw(st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n)), dtype="boolean")
    if kind in ("string", "pyarrow_str", "str_default"):
        vals = draw(st.lists(st.one_of(text, st.none()), min_size=n, max_size=n))
        dtype = {"string": "string[python]", "pyarrow_str": "string[pyarrow]", "str_default": "str"}[kind]
        try:
            return pd.array(vals, dtype=dtype)
        except TypeError:  # pandas 2.2 has no "str" alias
            return pd.array(vals, dtype="string")
    if kind in ("datetime", "datetime_tz"):
        vals = draw(st.lists(st.one_of(datetimes, st.none()), min_size=n, max_size=n))
        idx = pd.to_datetime(pd.Series(vals, dtype=object))
        if kind == "datetime_tz":
            tz = draw(st.sampled_from(["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"]))
            # Out of bounds after shifting: keep it naive.
            with contextlib.suppress(Exception):
                idx = idx.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        return idx
    return pd.Series(draw(st.lists(nested, min_size=n, max_size=n)), dtype=object)


_prop_names = st.one_of(
    st.sampled_from(["plan", "amount", "", " ", "a.b", "名前", "🙂", "x" * 300, "$set", "null", "0",
                     "revenue", "\n", "event_type"]),
    st.text(max_size=12),
)


INTEGER_ROLES = ("event_id", "session_id", "quantity")
BLANKS = ["", " ", "\t", "  \n "]
OBJECT_NAMES = ["plan", "Plan", "event_properties", "user_properties", "groups", "eventProperties"]


@st.composite
def edge_column(draw: st.DrawFn, n: int, role: str) -> Any:
    """The edges issue 12 names, drawn on purpose (a hostile column hits them only by chance):
    integers beyond int64 and uint64 for every integer key, and blank text for the others."""
    if role in (*INTEGER_ROLES, "time"):
        if draw(st.booleans()):
            return np.array(draw(st.lists(uints, min_size=n, max_size=n)), dtype="uint64")
        return pd.Series(draw(st.lists(st.one_of(ints, big_ints, missing), min_size=n, max_size=n)), dtype=object)
    vals = draw(st.lists(st.sampled_from([*BLANKS, f"{role}-00001", None]), min_size=n, max_size=n))
    dtype = draw(st.sampled_from([object, "string[python]", "string[pyarrow]"]))
    return pd.Series(vals, dtype=dtype)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    cols: dict[Any, Any] = {}
    for role in ("user_id", "device_id", "event_type", "time", "event_id", "session_id", "quantity"):
        # Often a reasonable column, sometimes hostile or at the edges, sometimes absent.
        choice = draw(st.sampled_from(["good", "good", "hostile", "edge", "absent"]))
        if choice == "absent" or (role in INTEGER_ROLES and choice == "good" and draw(st.booleans())):
            continue
        if choice == "hostile":
            cols[role] = draw(column(n, role))
        elif choice == "edge":
            cols[role] = draw(edge_column(n, role))
        elif role in ("user_id", "device_id") and draw(st.booleans()):
            # Good ids with blank ones among them: a blank id is a missing id.
            cols[role] = [draw(st.sampled_from([*BLANKS, f"{role}-00001", f"{role}-00002"])) for _ in range(n)]
        elif role in INTEGER_ROLES:
            cols[role] = draw(st.lists(st.integers(0, 10**12), min_size=n, max_size=n))
        elif role == "time":
            cols[role] = pd.date_range("2026-01-01", periods=n, freq="min")
        elif role == "event_type":
            cols[role] = [draw(st.sampled_from(["Play", "Pause", "Purchase 🙂"])) for _ in range(n)]
        else:
            cols[role] = [f"{role}-{draw(st.integers(0, 3)):05d}" for _ in range(n)]
    for name in draw(st.lists(_prop_names, max_size=4, unique=True)):
        cols[f"event_properties.{name}"] = draw(column(n, "prop"))
    if draw(st.booleans()):
        cols[draw(st.sampled_from([0, 1.5, ("a", "b"), "unmapped", "", "user_properties.tier"]))] = draw(
            column(n, "extra")
        )
    if draw(st.booleans()):
        # Named like an object-valued key: mapped to it only when it holds dicts.
        name = draw(st.sampled_from(OBJECT_NAMES))
        if draw(st.booleans()):
            cols[name] = draw(column(n, "object"))
        else:
            cols[name] = [draw(st.dictionaries(st.sampled_from(["branch", "source", "version", "a", "b"]),
                                               st.one_of(text, ints, big_ints), max_size=3)) for _ in range(n)]
    index = draw(st.sampled_from([None, "str", "dup", "dt"]))
    df = pd.DataFrame(cols) if cols else pd.DataFrame(index=range(n))
    if index == "str":
        df.index = [f"r{i}" for i in range(n)]
    elif index == "dup":
        df.index = [7] * n
    elif index == "dt":
        df.index = pd.date_range("2020-01-01", periods=n)
    return df


# -- the properties -------------------------------------------------------------------------


def _strict_json(obj: Any) -> None:
    """Raise if ``obj`` has NaN/Infinity anywhere (json.dumps allow_nan=False)."""
    json.dumps(obj, allow_nan=False)


def _assert_settled(result: amp.UploadResult, df: pd.DataFrame) -> None:
    rows = result.rows
    assert len(rows) == len(df)
    assert set(rows["status"]) <= {"ingested", "rejected", "failed", "skipped"}, rows["status"].tolist()
    not_ok = rows[rows["status"] != "ingested"]
    assert not_ok["reason"].notna().all(), not_ok
    assert (not_ok["reason"].astype(str).str.len() > 0).all(), not_ok
    c = result.counts()
    assert c["ingested"] + c["rejected"] + c["failed"] + c["skipped"] == len(df)


def _assert_one_verdict(report: amp.ValidationReport, result: amp.UploadResult, on_invalid: str) -> None:
    """One rule, one verdict (tests/test_one_verdict.py, fuzzed): Amplitude (the sandbox)
    rejects only rows the validator calls errors, and, sent as they are, every such row
    but the documented differences (time_missing; a property integer beyond 64 bits)."""
    status = result.rows["status"].to_numpy()
    f = report.failures[report.failures["severity"] == "error"]
    differs = (f["reason"] == "time_missing") | (
        (f["reason"] == "integer_out_of_range") & f["key"].str.contains("properties", regex=False)
    )
    errors = set(f.index.tolist())
    agreed = errors - set(f.index[differs].tolist())
    for p in np.flatnonzero(status == "rejected").tolist():
        assert p in errors, (p, result.rows.iloc[p].to_dict())
    if on_invalid == "send":
        for p in sorted(agreed):
            assert status[p] == "rejected", (p, f.loc[[p], ["key", "reason", "message", "value"]].to_dict("records"), result.rows.iloc[p].to_dict())


def _canonical(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, allow_nan=False)


def _as_stored(event: dict[str, Any], min_id_length: int = 5) -> dict[str, Any]:
    """What Amplitude keeps of a valid event: top-level nulls dropped, and a user_id /
    device_id shorter than min_id_length removed when the other id carries the event
    (reference, "Event keys": "a shorter id is removed from the event by the server")."""
    out = {k: v for k, v in event.items() if v is not None}
    for key in ("user_id", "device_id"):
        v = out.get(key)
        if isinstance(v, str) and len(v) < min_id_length:
            del out[key]
    return out


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    derandomize=True,
)


@FUZZ
@given(df=frames(), on_invalid=st.sampled_from(["skip", "send"]))
def test_hostile_frames_upload_safely(df: pd.DataFrame, on_invalid: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed; exceptions are not
        try:
            report = amp.validate(df, now_ms=NOW_MS)
        except amp.MappingError:
            return  # a documented refusal of the columns; nothing else to check
        assert len(report.failures) == 0 or report.failures["reason"].notna().all()

        try:
            events = list(amp.to_events(df))
        except amp.AmpNotebookError:
            events = None
        if events is not None:
            assert len(events) == len(df)
            for ev in events:
                _strict_json(ev)
                assert isinstance(ev.get("insert_id"), str) and ev["insert_id"]

        sb = Sandbox()
        try:
            result = amp.upload(
                df, api_key=KEY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                retry=RetryPolicy.fast(), progress=False, on_invalid=on_invalid, now_ms=NOW_MS,
            )
        except amp.AmpNotebookError as err:
            # e.g. RequestRejected when a whole request is refused: the rows still settle.
            res = getattr(err, "result", None)
            failure = err
        else:
            res = failure = None
    if failure is not None:
        assert res is not None, repr(failure)
        _assert_settled(res, df)
        return
    _assert_settled(result, df)
    _assert_one_verdict(report, result, on_invalid)

    stored = sb.emulator.ingested
    for ev in stored:
        _strict_json(ev)
    ingested_pos = np.flatnonzero((result.rows["status"] == "ingested").to_numpy())
    assert events is not None, "to_events failed on a frame that uploaded"
    expected = {ev["insert_id"]: _canonical(_as_stored(ev)) for ev in (events[p] for p in ingested_pos)}
    got = {ev["insert_id"]: _canonical(ev) for ev in stored}
    # Same insert_ids (rows with identical content share one: the sandbox keeps one copy).
    assert got == expected
    assert result.ingested_count == len(ingested_pos)


def test_empty_frames() -> None:
    for df in (pd.DataFrame(), pd.DataFrame({"user_id": [], "event_type": []})):
        sb = Sandbox()
        try:
            result = amp.upload(df, api_key=KEY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                                retry=RetryPolicy.fast(), progress=False)
        except amp.AmpNotebookError:
            continue
        assert result.counts()["rows"] == 0
        assert sb.emulator.ingested == []


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324])
def test_non_finite_numbers_never_reach_the_wire(value: float) -> None:
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["Play"],
                       "event_properties.x": [value], "event_properties.y": [[value, {"z": value}]]})
    for ev in amp.to_events(df):
        _strict_json(ev)


# -- insert_id from a key (issue 12, item 9): hostile key columns ---------------------------------


@st.composite
def keyed_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, amp.InsertIdKey]:
    """A frame with one or two key columns of any dtype (big ints, uint64, blanks, missing,
    nested values), sometimes named like an event key; the key may take event_type too."""
    n = draw(st.integers(1, 6))
    df = pd.DataFrame({"user_id": [f"user-{draw(st.integers(0, 2)):05d}" for _ in range(n)],
                       "event_type": [draw(st.sampled_from(["Play", "Pause"])) for _ in range(n)]})
    names: list[Any] = []
    for name in draw(st.lists(st.sampled_from(["order_id", "line", 0, "plan", "Order ID"]), min_size=1,
                              max_size=2, unique=True)):
        df[name] = draw(st.one_of(column(n, "key"), edge_column(n, "event_id"), edge_column(n, "user_id")))
        names.append(name)
    if draw(st.booleans()):
        names.append("event_type")
    if draw(st.booleans()):
        df["event_properties.price"] = draw(column(n, "prop"))
    return df, amp.key(*names)


@FUZZ
@given(case=keyed_frames(), on_invalid=st.sampled_from(["skip", "send"]))
def test_hostile_key_columns_settle_every_row(case: tuple[pd.DataFrame, amp.InsertIdKey], on_invalid: str) -> None:
    df, insert_key = case
    mapping = {"insert_id": insert_key}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = amp.validate(df, mapping, now_ms=NOW_MS)
        f = report.failures
        keyless = sorted(set(f.index[(f["reason"] == "insert_id_key_missing").to_numpy()].tolist()))
        # Encoding agrees with validation: it fails exactly when a row has no key value, naming it.
        if keyless:
            with pytest.raises(amp.MappingError, match="a column of the insert_id key") as err:
                list(amp.to_events(df, mapping))
            assert err.value.key == "insert_id" and err.value.column in insert_key.columns
        else:
            events = list(amp.to_events(df, mapping))
            assert all(isinstance(e["insert_id"], str) and len(e["insert_id"]) == 32 for e in events)
        sb = Sandbox()
        result = amp.upload(df, api_key=KEY, mapping=mapping, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                            retry=RetryPolicy.fast(), progress=False, on_invalid=on_invalid, now_ms=NOW_MS)
    _assert_settled(result, df)
    status = result.rows["status"].to_numpy()
    # Never sent, even as they are: skipped (with "skip", the row's first error is the reason given).
    assert all(status[p] == "skipped" for p in keyless)
    if on_invalid == "send":
        assert all("insert_id_key_missing" in result.rows["reason"].iloc[p] for p in keyless)
    # What was stored carries the key's ids: those of the rows it came from.
    keep = [p for p in range(len(df)) if p not in keyless]
    expected = {e["insert_id"] for e in amp.to_events(df.iloc[keep], mapping)} if keep else set()
    ingested = np.flatnonzero(status == "ingested").tolist()
    got = {e["insert_id"] for e in sb.emulator.ingested}
    assert got <= expected and len(got) <= len(ingested)
    if ingested:
        assert got
