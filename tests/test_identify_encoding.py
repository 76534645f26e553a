"""Rows -> identification objects, as sent (identify-api.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np
import orjson
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from amp_notebook import const
from amp_notebook._identify_encoding import (
    encode_identifications,
    iter_identifications,
    iter_partition_keys,
)
from amp_notebook._identify_mapping import plan_identify, resolve_identify


def objects(df: pd.DataFrame, kind: Any = "user", **kw: Any) -> list[dict[str, Any]]:
    return [o for _, objs in iter_identifications(df, plan_identify(df, kind, **kw)) for o in objs]


def test_operations_group_properties_and_missing_cells_are_absent() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002"], "plan": ["pro", None],
                       "logins": [3, np.nan], "tags": [["a", "b"], None], "platform": ["iOS", None]})
    got = objects(df, operations={"logins": "add", "tags": "append"})
    assert got == [
        {"user_id": "user-0001", "platform": "iOS",
         "user_properties": {"$set": {"plan": "pro"}, "$add": {"logins": 3}, "$append": {"tags": ["a", "b"]}}},
        {"user_id": "user-0002"},  # NaN leaves every property unchanged: never "set to null"
    ]


def test_unset_missing_sends_unset() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002"], "plan": ["pro", None], "n": [1, None]})
    got = objects(df, operations={"n": "add"}, unset_missing=True)
    assert got[1] == {"user_id": "user-0002", "user_properties": {"$unset": {"plan": "-"}}}
    assert got[0]["user_properties"] == {"$set": {"plan": "pro"}, "$add": {"n": 1}}


def test_dates_become_iso_8601_strings() -> None:
    df = pd.DataFrame({
        "user_id": ["user-0001", "user-0002"],
        "signup": pd.to_datetime(["2026-01-02 03:04:05", "2026-02-03 00:00:00"]),
        "seen": pd.to_datetime(["2026-01-02 03:04:05+01:00", "2026-01-02 00:00:00.250+00:00"], utc=True, format="ISO8601"),
    })
    got = objects(df)
    assert [o["user_properties"]["$set"] for o in got] == [  # type: ignore[index]
        {"signup": "2026-01-02T03:04:05", "seen": "2026-01-02T02:04:05.000Z"},
        {"signup": "2026-02-03T00:00:00", "seen": "2026-01-02T00:00:00.250Z"},
    ]


def test_whole_floats_go_out_as_integers_ids_as_strings() -> None:
    df = pd.DataFrame({"user_id": [12345.0, 67890.0], "seats": [3.0, 2.5]})
    assert objects(df) == [
        {"user_id": "12345", "user_properties": {"$set": {"seats": 3}}},
        {"user_id": "67890", "user_properties": {"$set": {"seats": 2.5}}},
    ]


def test_group_objects() -> None:
    df = pd.DataFrame({"org_id": [1001, 1002], "plan": ["enterprise", None], "seats": [10, 3]})
    got = objects(df, kind="group", group_type="company", group_value="org_id", operations={"seats": "add"})
    assert got == [
        {"group_type": "company", "group_value": "1001",
         "group_properties": {"$set": {"plan": "enterprise"}, "$add": {"seats": 10}}},
        {"group_type": "company", "group_value": "1002", "group_properties": {"$add": {"seats": 3}}},
    ]


def test_constants_and_partitions() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", None], "device_id": ["device-01", "device-02"]})
    m = resolve_identify(df.columns, "user", {"user_properties.source": const("import")})
    (chunk,) = encode_identifications(df, m)
    assert chunk.partitions == ["user:user-0001", "device-02"]  # per user, else per device
    assert [orjson.loads(unquote_to_bytes(p)) for p in chunk.payloads] == [
        {"user_id": "user-0001", "device_id": "device-01", "user_properties": {"$set": {"source": "import"}}},
        {"device_id": "device-02", "user_properties": {"$set": {"source": "import"}}},
    ]


cell = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.text(max_size=12), st.booleans(),
                 st.lists(st.text(max_size=3), max_size=3))


@given(st.lists(st.tuples(st.sampled_from(["user-0001", "user-0002", None]), cell, cell), max_size=30),
       st.integers(1, 7))
@settings(max_examples=80, deadline=None)
def test_every_row_encoded_once_in_order(rows: list[tuple[object, object, object]], chunk_rows: int) -> None:
    df = pd.DataFrame(rows, columns=["user_id", "a", "b"], dtype=object)
    df["device_id"] = [f"device-{i:03d}" for i in range(len(df))]
    m = resolve_identify(df.columns, "user", operations={"b": "append"})
    positions: list[int] = []
    decoded: list[object] = []
    keys: list[str] = []
    for chunk in encode_identifications(df, m, chunk_rows=chunk_rows):
        positions += chunk.positions.tolist()
        decoded += [orjson.loads(unquote_to_bytes(p)) for p in chunk.payloads]
        keys += chunk.partitions
    assert positions == list(range(len(df)))
    # The keys read from the id columns alone (for the Scheduler's plan) are the encoder's.
    assert [k for part in iter_partition_keys(df, m, chunk_rows=chunk_rows) for k in part] == keys
    assert decoded == [o for _, objs in iter_identifications(df, m) for o in objs]
    for row, obj in zip(rows, decoded, strict=True):
        props = obj.get("user_properties", {})  # type: ignore[union-attr]
        assert ("a" in props.get("$set", {})) == (row[1] is not None)
        assert ("b" in props.get("$append", {})) == (row[2] is not None)
