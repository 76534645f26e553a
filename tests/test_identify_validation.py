"""Identify's and Group Identify's rules, one test per rule (identify-api.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from amp_notebook._identify_mapping import plan_identify
from amp_notebook._identify_validation import validate_identify
from amp_notebook._report import ValidationReport


def check(df: pd.DataFrame, kind: Any = "user", **kw: Any) -> ValidationReport:
    return validate_identify(df, plan_identify(df, kind, **kw))


def hits(report: ValidationReport, reason: str) -> list[tuple[object, str]]:
    f = report.failures
    f = f[f["reason"] == reason]
    return list(zip(f["row"], f["severity"], strict=True))


def test_same_id_rules_as_events() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", None, "null", "abc", "abc"],
                       "device_id": [None, None, None, None, "device-0001"], "plan": ["a"] * 5},
                      index=list("vwxyz"))
    r = check(df)
    assert hits(r, "id_missing") == [("w", "error")]
    assert hits(r, "id_invalid") == [("x", "error")]
    # Short ids are removed by the server: fatal alone, a warning when device_id remains.
    assert hits(r, "id_too_short") == [("y", "error"), ("z", "warning")]
    msg = r.failures[r.failures["reason"] == "id_missing"]["message"].iloc[0]
    assert "every identification needs" in msg


def test_add_needs_numbers() -> None:
    df = pd.DataFrame({"user_id": [f"user-{i:04d}" for i in range(5)],
                       "logins": [1, 2.5, "3", True, np.nan]}, dtype=object)
    r = check(df, operations={"logins": "add"})
    assert hits(r, "add_not_a_number") == [(2, "error"), (3, "error")]  # NaN: left unchanged, fine
    assert "pd.to_numeric" in r.failures["message"].iloc[0]
    assert check(df).ok  # as a set, anything goes


def test_list_operations_take_a_value_or_a_list() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002", "user-0003"],
                       "tags": ["a", ["b", "c"], {"k": 1}]})
    for op in ("append", "prepend", "preInsert", "postInsert", "remove"):
        assert hits(check(df, operations={"tags": op}), "list_operation_object") == [(2, "error")]


def test_strings_and_nesting_as_for_events() -> None:
    deep: Any = []
    for _ in range(45):
        deep = [deep]
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002", "user-0003"],
                       "note": ["x" * 1025, "ok", "ok"], "blob": [None, None, deep],
                       "platform": ["p" * 1025, "iOS", "iOS"]})
    r = check(df)
    assert sorted(hits(r, "string_too_long")) == [(0, "error"), (0, "error")]
    assert hits(r, "nesting_too_deep") == [(2, "error")]


def test_duplicate_ids_warn_later_rows_win() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002", "user-0001", None],
                       "device_id": [None, None, None, "device-0001"], "plan": ["a", "b", "c", "d"]},
                      index=[10, 11, 12, 13])
    r = check(df)
    assert hits(r, "duplicate_id") == [(12, "warning")]
    text = r.failures[r.failures["reason"] == "duplicate_id"]["message"].iloc[0]
    assert "row 10" in text and "later row's values win" in text
    assert r.ok  # a warning: sent


def test_more_than_1800_updates_per_user_warn() -> None:
    df = pd.DataFrame({"user_id": ["user-0001"] * 1802 + ["user-0002"], "n": range(1803)})
    r = check(df, operations={"n": "add"})
    assert hits(r, "updates_per_hour") == [(1800, "warning"), (1801, "warning")]
    assert "1,800 per hour" in r.failures[r.failures["reason"] == "updates_per_hour"]["message"].iloc[0]


def test_location_fields_go_together() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "user-0002", "user-0003"],
                       "country": ["DE", "FR", None], "city": ["Berlin", None, None]})
    r = check(df)
    got = r.failures[r.failures["reason"] == "field_group_reset"]
    assert got["row"].tolist() == [0, 1]
    assert set(got["severity"]) == {"warning"}
    assert "country, city without region, dma" in got["message"].iloc[0]
    assert "country without region, city, dma" in got["message"].iloc[1]


def test_group_needs_type_and_value() -> None:
    df = pd.DataFrame({"org_id": ["org-1", None, " "], "plan": ["a", "b", "c"]})
    r = check(df, kind="group", group_type="company", group_value="org_id")
    assert hits(r, "group_missing") == [(1, "error"), (2, "error")]
    r = check(df, kind="group", group_value="org_id")
    assert {row for row, _ in hits(r, "group_missing")} == {0, 1, 2}  # no group_type at all
    r = check(df, kind="group", group_type="company", group_value="org_id")
    assert hits(r, "duplicate_id") == []


def test_too_many_group_properties() -> None:
    wide = pd.DataFrame({"org_id": ["org-1"], **{f"p{i}": [i] for i in range(1025)}})
    r = check(wide, kind="group", group_type="company", group_value="org_id")
    assert hits(r, "too_many_properties") == [(0, "error")]


def test_style_highlights_the_cells() -> None:
    df = pd.DataFrame({"user_id": ["user-0001", "null"], "logins": [1, "x"]})
    html = check(df, operations={"logins": "add"}).style().to_html()
    assert "add_not_a_number" in html and "id_invalid" in html
    assert "background-color: #f8d7da" in html
