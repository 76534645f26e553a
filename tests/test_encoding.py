"""Encoding rows into Amplitude events (reference: "Event keys", "General rules")."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amp_notebook._encoding import (
    EncodedChunk,
    EncodeOptions,
    encode,
    field_values,
    frame_partition_keys,
    insert_id,
    iter_events,
    send_order,
    sort_positions,
    time_to_ms,
)
from amp_notebook._mapping import const, resolve_mapping

JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z in ms


def strict_loads(payload: bytes) -> Any:
    """json.loads that refuses NaN / Infinity (reference, "General rules")."""

    def refuse(name: str) -> Any:
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(payload, parse_constant=refuse)


def events(df: pd.DataFrame, mapping: dict[str, object] | None = None, **opts: Any) -> list[dict[str, Any]]:
    rm = resolve_mapping(df.columns, mapping)
    out = []
    for chunk in encode(df, rm, EncodeOptions(**opts), chunk_rows=3):
        assert isinstance(chunk, EncodedChunk)
        out.extend(strict_loads(p) for p in chunk.payloads)
    return out


def without_iid(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k != "insert_id"}


# -- time ---------------------------------------------------------------------------------


def test_datetime64_naive_is_utc_by_default_and_tz_option() -> None:
    s = pd.Series(pd.to_datetime(["2024-01-01 00:00:00", None, "2024-01-01 00:00:01.5"], format="ISO8601"))
    ms, bad = time_to_ms(s)
    assert ms.iloc[0] == JAN1
    assert np.isnan(ms.iloc[1])
    assert ms.iloc[2] == JAN1 + 1500
    assert not bad.any()
    ms, _ = time_to_ms(s, tz="Europe/Berlin")  # UTC+1 in winter
    assert ms.iloc[0] == JAN1 - 3_600_000


def test_datetime64_aware_is_converted() -> None:
    s = pd.Series(pd.to_datetime(["2024-01-01 01:00"]).tz_localize("Europe/Berlin"))
    ms, _ = time_to_ms(s, tz="America/New_York")  # tz option only applies to naive values
    assert ms.iloc[0] == JAN1


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_datetime64_units(unit: str) -> None:
    s = pd.Series(np.array(["2024-01-01T00:00:02"], dtype=f"datetime64[{unit}]"))
    assert time_to_ms(s)[0].iloc[0] == JAN1 + 2000


def test_iso_strings_with_and_without_offset() -> None:
    s = pd.Series(
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-01", "2024-01-01 00:00:00.250", None, "nope", ""]
    )
    ms, bad = time_to_ms(s)
    assert ms.iloc[:4].tolist() == [JAN1, JAN1, JAN1, JAN1 + 250]
    assert np.isnan(ms.iloc[4:]).all()
    assert bad.tolist() == [False, False, False, False, False, True, False]
    ms, _ = time_to_ms(s, tz="Asia/Tokyo")  # offset-less strings are in tz, others keep theirs
    assert ms.iloc[0] == JAN1
    assert ms.iloc[2] == JAN1 - 9 * 3_600_000


def test_python_datetimes_dates_and_mixed_objects() -> None:
    s = pd.Series(
        [
            dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.date(2024, 1, 1),
            dt.datetime(2024, 1, 1),
            pd.Timestamp("2024-01-01"),
            "2024-01-01T00:00:00Z",
            JAN1,
            None,
            [1],
        ],
        dtype=object,
    )
    ms, bad = time_to_ms(s, time_unit="ms")
    assert ms.iloc[:7].tolist() == [JAN1] * 7
    assert np.isnan(ms.iloc[7])
    assert not bad[7]
    assert bad[8]


@pytest.mark.parametrize(("unit", "value"), [("s", JAN1 // 1000), ("ms", JAN1), ("us", JAN1 * 1000), ("ns", JAN1 * 10**6)])
def test_numeric_units(unit: str, value: int) -> None:
    ms, bad = time_to_ms(pd.Series([value, None], dtype="Int64"), time_unit=unit)
    assert ms.iloc[0] == JAN1
    assert np.isnan(ms.iloc[1])
    assert not bad.any()


def test_seconds_warning_names_the_column() -> None:
    with pytest.warns(UserWarning, match=r"'ts'.*time_unit=\"s\""):
        ms, _ = time_to_ms(pd.Series([1_704_067_200, 1_704_067_201], name="ts"))
    assert ms.iloc[0] == 1_704_067_200  # still read as ms, as documented
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        time_to_ms(pd.Series([JAN1], name="ts"))
        time_to_ms(pd.Series([1_704_067_200], name="ts"), time_unit="s")


def test_float_seconds_and_infinity() -> None:
    ms, bad = time_to_ms(pd.Series([1_704_067_200.5, np.inf, np.nan]), time_unit="s")
    assert ms.iloc[0] == JAN1 + 500
    assert bad.tolist() == [False, True, False]


def test_pyarrow_and_categorical_times() -> None:
    pytest.importorskip("pyarrow")
    s = pd.Series(pd.to_datetime(["2024-01-01", None])).astype("timestamp[ms][pyarrow]")
    ms, _ = time_to_ms(s)
    assert ms.iloc[0] == JAN1
    assert np.isnan(ms.iloc[1])
    s = pd.Series(["2024-01-01", None, "2024-01-01"], dtype="category")
    assert time_to_ms(s)[0].iloc[[0, 2]].tolist() == [JAN1, JAN1]
    s = pd.Series(["2024-01-01T00:00:00Z", None], dtype="string[pyarrow]")
    assert time_to_ms(s)[0].iloc[0] == JAN1


def test_time_key_is_integer_ms_in_events() -> None:
    df = pd.DataFrame({"user_id": ["user-1", "user-2"], "event_type": "E", "time": pd.to_datetime(["2024-01-01", None])})
    evs = events(df)
    assert evs[0]["time"] == JAN1
    assert isinstance(evs[0]["time"], int)
    assert "time" not in evs[1]


# -- values -------------------------------------------------------------------------------


def test_missing_values_are_absent_keys() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["user-1", None, "user-3"],
            "event_type": ["E", "E", "E"],
            "event_properties.f": [1.5, np.nan, np.inf],
            "event_properties.s": pd.Series(["a", None, pd.NA], dtype=object),
            "event_properties.t": pd.to_datetime([None, None, None]),
            "price": [np.nan, 2.0, -np.inf],
        }
    )
    evs = events(df)
    assert without_iid(evs[0]) == {"user_id": "user-1", "event_type": "E", "event_properties": {"f": 1.5, "s": "a"}}
    assert without_iid(evs[1]) == {"event_type": "E", "price": 2.0}  # empty event_properties is absent
    assert without_iid(evs[2]) == {"user_id": "user-3", "event_type": "E"}


def test_dtypes_become_plain_json_values() -> None:
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {
            "user_id": [12345.0, np.nan],  # an id column with gaps is float64
            "device_id": pd.Series([123456, 7], dtype="Int64"),
            "event_type": pd.Series(["Buy", "View"], dtype="category"),
            "session_id": [1.704e12, 5.0],
            "quantity": pd.Series([2, None], dtype="Int64"),
            "$skip_user_properties_sync": pd.Series([True, None], dtype="boolean"),
            "event_properties.i": np.array([1, 2], dtype="int64"),
            "event_properties.b": np.array([True, False]),
            "event_properties.d": [Decimal("1.25"), Decimal("NaN")],
            "event_properties.s": pd.Series(["x", None], dtype="string"),
            "event_properties.pa": pd.Series([1, None], dtype=pd.ArrowDtype(pa.int64())),
            "event_properties.pas": pd.Series(["y", None], dtype=pd.ArrowDtype(pa.string())),
            "event_properties.ts": pd.to_datetime(["2026-11-26 14:03:00", "2026-11-26 14:03:00.5"], format="ISO8601"),
            "event_properties.tz": pd.to_datetime(["2026-11-26 15:03:00"]).tz_localize("Europe/Berlin").repeat(2),
            "event_properties.date": [dt.date(2026, 11, 26), None],
            "event_properties.nested": [{"a": np.int64(1), "b": [np.float64(1.5), np.nan], "c": None}, [np.bool_(True)]],
        }
    )
    e0, e1 = (without_iid(e) for e in events(df))
    assert e0["user_id"] == "12345"
    assert e0["device_id"] == "123456"
    assert e0["event_type"] == "Buy"
    assert e0["session_id"] == 1_704_000_000_000
    assert isinstance(e0["session_id"], int)
    assert e0["quantity"] == 2
    assert "quantity" not in e1
    assert e0["$skip_user_properties_sync"] is True
    assert "$skip_user_properties_sync" not in e1
    assert e0["event_properties"] == {
        "i": 1,
        "b": True,
        "d": 1.25,
        "s": "x",
        "pa": 1,
        "pas": "y",
        "ts": "2026-11-26T14:03:00.000",  # sub-seconds when any value in the column has them
        "tz": "2026-11-26T14:03:00Z",
        "date": "2026-11-26",
        "nested": {"a": 1, "b": [1.5, None]},
    }
    assert "user_id" not in e1
    assert e1["event_properties"] == {"i": 2, "b": False, "ts": "2026-11-26T14:03:00.500", "tz": "2026-11-26T14:03:00Z", "nested": [True]}


def test_string_and_numeric_key_conversions() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["user-1", "user-2", "user-3"],
            "event_type": [1, 2, 3],
            "event_id": [1.0, 2.5, 3.0],  # 2.5 is not an integer: dropped (the validator reports it)
            "price": [1, 2, 3],
            "location_lat": pd.Series(["x", 1.5, None], dtype=object),
        }
    )
    evs = events(df)
    assert [e["event_type"] for e in evs] == ["1", "2", "3"]
    assert [e.get("event_id") for e in evs] == [1, None, 3]
    assert [e["price"] for e in evs] == [1.0, 2.0, 3.0]
    assert [e.get("location_lat") for e in evs] == [None, 1.5, None]


def test_constants_groups_plan_and_whole_objects() -> None:
    df = pd.DataFrame(
        {
            "uid": ["user-1", "user-2"],
            "props": [{"z": 1, "a": np.nan}, None],
            "co": pd.Series([["acme", 7], "globex"], dtype=object),
            "br": ["main", None],
        }
    )
    rm = resolve_mapping(
        df.columns,
        {
            "user_id": "uid",
            "event_type": const("Purchase"),
            "time": const(pd.Timestamp("2024-01-01")),
            "event_properties": "props",
            "event_properties.extra": const([1, 2]),
            "groups": {"company": "co"},
            "plan": {"branch": "br", "version": const(3)},
        },
    )
    e0, e1 = (without_iid(strict_loads(p)) for c in encode(df, rm, EncodeOptions()) for p in c.payloads)
    assert e0 == {
        "user_id": "user-1",
        "event_type": "Purchase",
        "time": JAN1,
        "event_properties": {"z": 1, "extra": [1, 2]},
        "groups": {"company": ["acme", "7"]},
        "plan": {"branch": "main", "version": "3"},
    }
    assert e1["groups"] == {"company": "globex"}
    assert e1["event_properties"] == {"extra": [1, 2]}
    assert e1["plan"] == {"version": "3"}


def test_field_values_match_what_is_sent() -> None:
    df = pd.DataFrame({"user_id": ["user-1", None], "time": [JAN1, np.nan], "event_properties.x": [np.nan, 2]})
    rm = resolve_mapping(df.columns)
    opts = EncodeOptions()
    assert field_values(df, rm.get("user_id"), opts) == ["user-1", None]  # type: ignore[arg-type]
    assert field_values(df, rm.get("time"), opts) == [JAN1, None]  # type: ignore[arg-type]
    assert field_values(df, rm.nested("event_properties")[0], opts) == [None, 2.0]
    rm = resolve_mapping(df.columns, {"event_type": const("E")})
    assert field_values(df, rm.get("event_type"), opts) == ["E", "E"]  # type: ignore[arg-type]


# -- insert_id, partitions, order ---------------------------------------------------------


def test_insert_id_is_a_hash_of_the_canonical_event() -> None:
    df = pd.DataFrame({"user_id": ["user-1"], "event_type": ["E"], "event_properties.b": [1], "event_properties.a": [2]})
    (ev,) = events(df)
    canonical = json.dumps(without_iid(ev), sort_keys=True, separators=(",", ":")).encode()
    assert ev["insert_id"] == insert_id(canonical)
    assert len(ev["insert_id"]) >= 32
    assert int(ev["insert_id"], 16) >= 0


def test_insert_id_column_wins_where_present() -> None:
    df = pd.DataFrame({"user_id": ["user-1", "user-1"], "event_type": ["E", "E"], "insert_id": ["abc-1", None]})
    e0, e1 = events(df)
    assert e0["insert_id"] == "abc-1"
    assert e1["insert_id"] == insert_id(
        json.dumps(without_iid(e1), sort_keys=True, separators=(",", ":")).encode()
    )


def test_insert_id_stable_across_processes() -> None:
    code = (
        "import pandas as pd, numpy as np\n"
        "from amp_notebook._encoding import encode, EncodeOptions\n"
        "from amp_notebook._mapping import resolve_mapping\n"
        "df = pd.DataFrame({'user_id': ['user-1', 'user-2'], 'event_type': ['E', 'F'],"
        " 'event_properties.s': [{'b', 'a', 'c'}, {'x': 1.5, 'y': None}], 'time': [1704067200000, None]})\n"
        "for c in encode(df, resolve_mapping(df.columns), EncodeOptions()):\n"
        "    print('\\n'.join(p.decode() for p in c.payloads))\n"
    )
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1
    first = next(iter(outputs)).splitlines()
    assert '"s":["a","b","c"]' in first[0]  # sets are sorted, whatever the hash seed


def test_partitions_device_else_user() -> None:
    df = pd.DataFrame({"user_id": ["user-1", "user-2", None], "device_id": ["dev-1", None, "dev-3"], "event_type": "E"})
    (chunk,) = encode(df, resolve_mapping(df.columns), EncodeOptions())
    assert chunk.partitions == ["dev-1", "user:user-2", "dev-3"]
    assert chunk.positions.dtype == np.int64


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"user_id": ["user-1", "user-2", None], "device_id": ["dev-1", None, "dev-3"], "event_type": "E"}),
        pd.DataFrame({"user_id": [12345.0, np.nan, 77777.0], "event_type": "E"}),  # float ids lose the .0
        pd.DataFrame({"device_id": pd.Categorical(["a-1", None, "a-1"]), "event_type": "E"}),
        pd.DataFrame({"event_type": ["E", "E"]}),
    ],
)
def test_frame_partition_keys_are_the_encoders(frame: pd.DataFrame) -> None:
    rm = resolve_mapping(frame.columns)
    (chunk,) = encode(frame, rm, EncodeOptions())
    assert frame_partition_keys(frame, rm) == chunk.partitions
    with_const = resolve_mapping(frame.columns, {"user_id": const("user-const")})
    (chunk,) = encode(frame, with_const, EncodeOptions())
    assert frame_partition_keys(frame, with_const) == chunk.partitions


def test_encode_is_lazy_and_chunked_in_position_order() -> None:
    df = pd.DataFrame({"user_id": [f"user-{i}" for i in range(10)], "event_type": "E"})
    rm = resolve_mapping(df.columns)
    it = encode(df, rm, EncodeOptions(), positions=np.array([9, 0, 5]), chunk_rows=2)
    first = next(it)
    assert first.positions.tolist() == [9, 0]
    assert [strict_loads(p)["user_id"] for p in first.payloads] == ["user-9", "user-0"]
    assert next(it).positions.tolist() == [5]
    assert sum(len(c) for c in encode(df, rm, EncodeOptions(), chunk_rows=4)) == 10


def test_sort_positions_by_time_stable_missing_last() -> None:
    df = pd.DataFrame({"time": [3000, None, 1000, 3000, None, 2000]})
    rm = resolve_mapping(df.columns)
    assert sort_positions(df, rm, EncodeOptions(time_unit="ms")).tolist() == [2, 5, 0, 3, 1, 4]
    assert sort_positions(df, rm, EncodeOptions(time_unit="ms"), np.array([4, 3, 0])).tolist() == [3, 0, 4]
    assert sort_positions(pd.DataFrame({"user_id": ["b", "a"]}), resolve_mapping(["user_id"]), EncodeOptions()).tolist() == [0, 1]


def test_send_order_allocates_nothing_when_rows_are_in_time_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import amp_notebook._encoding as enc

    monkeypatch.setattr(enc, "_TIME_SLICE", 3)  # several slices, and boundaries between them
    times = pd.Series(pd.date_range("2026-01-01", periods=10, freq="s"))
    df = pd.DataFrame({"user_id": "u" * 5, "time": times})
    rm = resolve_mapping(df.columns)
    assert send_order(df, rm, EncodeOptions()) is None  # all rows, in frame order
    given_rows = np.array([1, 4, 7], dtype=np.int32)
    assert send_order(df, rm, EncodeOptions(), given_rows) is given_rows
    # Out of order only across a slice boundary (rows 2 and 3), and a missing time.
    swapped = df.copy()
    swapped.loc[3, "time"] = times[0]
    swapped.loc[8, "time"] = pd.NaT
    order = send_order(swapped, rm, EncodeOptions())
    assert order is not None and order.dtype == np.int32
    assert order.tolist() == [0, 3, 1, 2, 4, 5, 6, 7, 9, 8]
    assert send_order(swapped, rm, EncodeOptions(), np.array([9, 8, 3, 2])).tolist() == [3, 2, 9, 8]
    assert send_order(swapped, rm, EncodeOptions()).tolist() == sort_positions(swapped, rm, EncodeOptions()).tolist()


def test_iter_events_equals_payloads() -> None:
    df = pd.DataFrame({"user_id": ["user-1"], "event_type": ["E"]})
    rm = resolve_mapping(df.columns)
    (ev,) = iter_events(df, rm, EncodeOptions())
    (chunk,) = encode(df, rm, EncodeOptions())
    assert ev == strict_loads(chunk.payloads[0])


def test_the_frame_is_not_mutated() -> None:
    df = pd.DataFrame({"user_id": ["user-1"], "time": ["2024-01-01"], "event_properties.x": [{"a": np.nan}]})
    before = df.copy(deep=True)
    list(encode(df, resolve_mapping(df.columns), EncodeOptions()))
    pd.testing.assert_frame_equal(df, before)


# -- properties ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
)
cells = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)
column_values = st.lists(cells, min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(column_values, st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=6, max_size=6))
def test_every_payload_is_strict_json(values: list[Any], floats: list[float]) -> None:
    n = len(values)
    df = pd.DataFrame(
        {
            "user_id": pd.Series(values, dtype=object),
            "event_type": pd.Series(values, dtype=object),
            "time": pd.Series(floats[:n], dtype="float64"),
            "price": pd.Series(values, dtype=object),
            "session_id": pd.Series(floats[:n]),
            "event_properties.v": pd.Series(values, dtype=object),
            "user_properties.f": pd.Series(floats[:n]),
            "groups.g": pd.Series(values, dtype=object),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for chunk in encode(df, resolve_mapping(df.columns), EncodeOptions(), chunk_rows=4):
            for payload in chunk.payloads:
                ev = strict_loads(payload)
                assert isinstance(ev.get("insert_id"), str)
                assert isinstance(ev.get("time", 0), int)
                assert ev.get("event_properties", {"x": 1}) != {}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), scalars, min_size=1), st.sampled_from(["a", "b", "c"]), scalars)
def test_insert_id_changes_when_the_event_changes(props: dict[str, Any], key: str, new: Any) -> None:
    changed = {**props, key: new}
    frame = pd.DataFrame({"user_id": ["user-1", "user-1"], "event_type": ["E", "E"], "event_properties": [props, changed]})
    e0, e1 = events(frame)
    same = json.dumps(without_iid(e0), sort_keys=True) == json.dumps(without_iid(e1), sort_keys=True)
    assert (e0["insert_id"] == e1["insert_id"]) == same  # (json: False != 0, unlike Python)


def test_encode_options_are_checked() -> None:
    from amp_notebook._exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="time zone"):
        EncodeOptions(tz="Mars/Olympus")
    with pytest.raises(ConfigurationError, match="time_unit"):
        EncodeOptions(time_unit="minutes")  # type: ignore[arg-type]


def test_whole_floats_in_properties_go_out_as_ints_so_insert_ids_match_across_dtypes() -> None:
    # The same rows as int64, nullable Int64 and float64 (an int column that had a
    # gap, as read_csv gives it): the same events, the same insert_ids.
    base = {"user_id": ["user-1", "user-2", "user-3"], "event_type": "E", "time": [1_000, 2_000, 3_000]}
    as_int = pd.DataFrame({**base, "event_properties.amount": [593, 7, 0]})
    as_nullable = pd.DataFrame({**base, "event_properties.amount": pd.array([593, 7, 0], dtype="Int64")})
    as_float = pd.DataFrame({**base, "event_properties.amount": [593.0, 7.0, -0.0]})
    opts = EncodeOptions(time_unit="ms")
    payloads = [
        [p for c in encode(df, resolve_mapping(df.columns), opts) for p in c.payloads]
        for df in (as_int, as_nullable, as_float)
    ]
    assert payloads[0] == payloads[1] == payloads[2]
    assert b'"amount":593}' in payloads[2][0] or b'"amount":593,' in payloads[2][0]
    assert strict_loads(payloads[2][2])["event_properties"]["amount"] == 0


def test_fractional_huge_and_typed_floats_stay_floats() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["user-1"] * 4,
            "event_type": "E",
            "event_properties.x": [2.5, 2.0**60, 1e300, 12.0],
            "event_properties.nested": [{"a": 5.0, "b": [1.0, 1.5]}, {"d": Decimal("4")}, None, {"n": float("nan")}],
            "price": [3.0, 1.0, 2.0, 4.0],
        }
    )
    events = [strict_loads(p) for c in encode(df, resolve_mapping(df.columns)) for p in c.payloads]
    x = [e["event_properties"].get("x") for e in events]
    assert x[0] == 2.5 and isinstance(x[1], float) and isinstance(x[2], float)
    assert x[3] == 12 and isinstance(x[3], int)
    assert events[0]["event_properties"]["nested"] == {"a": 5, "b": [1, 1.5]}
    assert isinstance(events[0]["event_properties"]["nested"]["a"], int)
    assert events[1]["event_properties"]["nested"] == {"d": 4}
    assert "nested" not in events[3]["event_properties"]  # {"n": NaN} is empty once NaN is dropped
    assert all(isinstance(e["price"], float) for e in events)  # a float-typed key (reference)
