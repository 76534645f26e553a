"""One rule, one verdict: the validator and the sandbox agree on every case (issue 12, item 7).

The sandbox's checks (``sandbox/_checks.py``) restate the reference on their own, as an
oracle; the validator (``_rules``/``_validation``) is the client's reading. One table of
cases is walked through both:

* the validator's verdict on the row: ``error`` (not sent by default), ``warning`` (sent,
  something to know) or ``ok``;
* the sandbox's verdict on the event the client sends for that row with
  ``on_invalid="send"`` (invalid cells as they are, ``_send_as_is``): *rejected* or
  *ingested*.

A row is an error exactly when Amplitude (the sandbox) refuses it; warnings and clean
rows are accepted. ``DIFFERENCES`` lists the deliberate exceptions with their reason,
and asserts them too, so neither side can drift without this file saying so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import HTTP_PATH, Sandbox

KEY = "verdict-key-0123456789"
NOW_MS = 1_750_000_000_000
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH
BASE = {"user_id": "user-00001", "device_id": "device-00001", "event_type": "Play", "time": NOW_MS - 60_000}


def nested(levels: int) -> dict[str, Any]:
    """``levels`` dicts inside one another (the outer one counts as level 1)."""
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


@dataclass(frozen=True)
class Case:
    name: str
    row: dict[str, Any]
    verdict: str  # "ok" | "warning" | "error", for the validator; the sandbox follows
    mapping: dict[str, Any] | None = None
    dtypes: dict[str, Any] = field(default_factory=dict)
    before: tuple[dict[str, Any], ...] = ()  # earlier rows (duplicates); the verdict is the last row's
    index: tuple[Any, ...] | None = None  # the frame's index labels (default 0, 1, ...)


C = Case
CASES = [
    C("clean", {}, "ok"),
    # event_type: required, reserved names refused (reference, "Event keys")
    C("event_type missing", {"event_type": None}, "error"),
    C("event_type blank", {"event_type": "   "}, "error"),
    C("event_type reserved", {"event_type": "[Amplitude] Revenue"}, "error"),
    C("event_type merged user", {"event_type": "[Amplitude] Merged User"}, "error"),
    C("event_type session_start", {"event_type": "session_start"}, "warning"),
    C("event_type session_end", {"event_type": "session_end"}, "warning"),
    C("event_type revenue_amount", {"event_type": "revenue_amount"}, "warning"),
    C("event_type 1024 chars", {"event_type": "e" * 1024}, "ok"),
    C("event_type 1025 chars", {"event_type": "e" * 1025}, "error"),
    # ids (reference, "Event keys" and "General rules")
    C("user_id empty, device_id good", {"user_id": ""}, "ok"),
    C("device_id blank, user_id good", {"device_id": "  "}, "ok"),
    C("both ids blank", {"user_id": "", "device_id": " "}, "error"),
    C("no ids", {"user_id": None, "device_id": None}, "error"),
    C("user_id null", {"user_id": "null"}, "error"),
    C("user_id N/A", {"user_id": "N/A"}, "error"),
    C("user_id -1", {"user_id": "-1"}, "error"),
    C("user_id two quotes", {"user_id": '""'}, "error"),
    C("device_id all zeros", {"device_id": "00000000-0000-0000-0000-000000000000"}, "error"),
    C("user_id short, device_id good", {"user_id": "abc"}, "warning"),
    C("user_id short alone", {"user_id": "abc", "device_id": None}, "error"),
    C("user_id 1025 chars", {"user_id": "u" * 1025}, "error"),
    C("user_id a number", {"user_id": 12345678}, "ok"),
    # time: integer ms since the epoch
    C("time ISO text", {"time": "2025-06-15T10:00:00Z"}, "ok"),
    C("time garbage", {"time": "yesterday"}, "error"),
    C("time a boolean", {"time": True}, "error"),
    C("time negative", {"time": -5}, "error"),
    C("time zero", {"time": 0}, "warning"),
    C("time in seconds", {"time": 1_750_000_000}, "warning"),
    C("time far future", {"time": NOW_MS * 1000}, "warning"),
    C("time huge float", {"time": 1e30}, "error"),
    C("time beyond a long", {"time": 10**20}, "error"),
    C("time fractional ms", {"time": NOW_MS - 0.5}, "ok"),
    # integer keys
    C("event_id 2.5", {"event_id": 2.5}, "error"),
    C("event_id int64 max", {"event_id": 2**63 - 1}, "ok"),
    C("event_id beyond a long", {"event_id": 10**20}, "error"),
    C("session_id uint64 above int64", {"session_id": np.uint64(2**63 + 5)}, "error",
      dtypes={"session_id": "uint64"}),
    C("session_id -1", {"session_id": -1}, "ok"),
    C("session_id -2", {"session_id": -2}, "error"),
    C("quantity as text", {"quantity": "2"}, "error"),
    C("quantity a boolean", {"quantity": True}, "error"),
    # float keys
    C("price as text", {"price": "4.99"}, "error"),
    C("price inf", {"price": math.inf}, "error"),
    C("price a boolean", {"price": True}, "error"),
    C("price negative (refund)", {"price": -9.99, "quantity": 1}, "ok"),
    C("location_lat 123", {"location_lat": 123.0}, "error"),
    C("location_lat 90", {"location_lat": 90.0}, "ok"),
    C("location_lng -180.5", {"location_lng": -180.5}, "error"),
    # revenue
    C("productId alone", {"productId": "sku-1"}, "warning"),
    C("productId with revenue", {"productId": "sku-1", "revenue": 9.99}, "ok"),
    C("revenue mismatch", {"price": 2.0, "quantity": 3, "revenue": 5.0}, "warning"),
    # booleans
    C("skip sync 'yes'", {"$skip_user_properties_sync": "yes"}, "error"),
    C("skip sync 1", {"$skip_user_properties_sync": 1}, "ok"),
    C("skip sync True", {"$skip_user_properties_sync": True}, "ok"),
    # other strings
    C("platform 1025 chars", {"platform": "p" * 1025}, "error"),
    C("platform a number", {"platform": 5}, "ok"),
    C("insert_id 1025 chars", {"insert_id": "i" * 1025}, "error"),
    # properties (reference, "Event keys" -> event_properties; "General rules")
    C("property 1025 chars", {"event_properties.a": "x" * 1025}, "error"),
    C("property 1024 chars", {"event_properties.a": "x" * 1024}, "ok"),
    C("property list with a long string", {"event_properties.a": ["ok", "x" * 1025]}, "error"),
    C("property name 2000 chars", {"event_properties": {"k" * 2000: 1}}, "ok"),
    C("properties 40 levels", {"event_properties": nested(40)}, "ok"),
    C("properties 41 levels", {"event_properties": nested(41)}, "error"),
    C("property uint64 above int64", {"event_properties.n": np.uint64(2**63)}, "error",
      dtypes={"event_properties.n": "uint64"}),
    C("property int64 min", {"event_properties.n": -(2**63)}, "ok"),
    C("property a big float", {"event_properties.n": 1e300}, "ok"),
    C("whole properties not an object", {"props": "premium"}, "error",
      mapping={"event_properties": "props"}),
    C("user_properties nested", {"user_properties": {"plan": {"tier": "gold"}}}, "ok"),
    # groups
    C("groups 6 types", {"groups": {f"t{i}": "a" for i in range(6)}}, "warning"),
    C("groups 11 values", {"groups": {"t": [f"v{i}" for i in range(11)]}}, "warning"),
    C("group value 1025 chars", {"groups.team": "g" * 1025}, "error"),
    C("group value a dict", {"groups.team": {"id": 1}}, "ok"),  # sent as its JSON text
    # plan (tracking plan: branch, source, version)
    C("plan extra field", {"plan": {"branch": "main", "owner": "me"}}, "error"),
    C("plan good", {"plan": {"branch": "main", "version": "3"}}, "ok"),
    C("plan.version a number", {"plan.version": 15}, "ok"),  # sent as "15"
    # the same event twice: Amplitude keeps one (reference, "Event keys" -> insert_id)
    C("duplicate of an earlier row", {}, "warning", before=({},)),
    # frame facts that do not change the event (issue 17's and the backfill pre-flight's)
    C("index label repeated", {"event_type": "Other"}, "warning", before=({},), index=("a", "a")),
    C("old event setting user_properties", {"time": NOW_MS - 3 * 86_400_000, "user_properties": {"plan": "pro"}},
      "warning"),
]

# Deliberate differences: (case, the validator's verdict, the sandbox's, why).
DIFFERENCES = [
    (
        C("time mapped but empty", {"time": None}, "error"),
        "ingested",
        "the server dates an event without time at the upload time (reference, 'Event keys' "
        "-> time), which is right for live events and silently wrong for a backfill: with a "
        "time column mapped, the validator refuses the gap (time_missing) unless "
        "missing_time='upload_time' says the upload time is meant",
    ),
    (
        C("property integer beyond 64 bits", {"event_properties.n": 10**20}, "error"),
        "ingested",
        "JSON parsers (orjson here, Amplitude's too) read an integer beyond 64 bits as a "
        "double: the sandbox sees 1e+20 and keeps it; the validator refuses to send a "
        "number that would be stored altered (integer_out_of_range)",
    ),
]


def _frame(case: Case) -> pd.DataFrame:
    rows = [{**BASE, **r} for r in (*case.before, case.row)]
    index = pd.Index(case.index) if case.index is not None else None
    columns: dict[str, Any] = {}
    for name in dict.fromkeys(k for r in rows for k in r):
        cells = [r.get(name) for r in rows]
        columns[name] = pd.Series(cells, dtype=case.dtypes.get(name, object)).infer_objects()
        if name not in case.dtypes and any(isinstance(c, (dict, list)) for c in cells):
            columns[name] = pd.Series(cells, dtype=object)
    frame = pd.DataFrame(columns)
    if index is not None:
        frame.index = index
    return frame


def _verdicts(case: Case) -> tuple[str, str, pd.DataFrame]:
    df = _frame(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "looks like seconds": the report says it
        report = amp.validate(df, case.mapping, now_ms=NOW_MS)
        sb = Sandbox()
        result = amp.upload(df, api_key=KEY, mapping=case.mapping, endpoint=ENDPOINT,
                            transport=sb.transport(sleep=False), retry=RetryPolicy.fast(),
                            progress=False, now_ms=NOW_MS, on_invalid="send")
    last = len(df) - 1
    mine = report.failures.loc[report.failures.index == last, "severity"].tolist()
    local = "error" if "error" in mine else "warning" if mine else "ok"
    return local, str(result.rows["status"].iloc[last]), report.failures


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validator_and_sandbox_agree(case: Case) -> None:
    local, server, failures = _verdicts(case)
    assert local == case.verdict, failures[["key", "severity", "reason", "message"]].to_string()
    expected = "rejected" if local == "error" else "ingested"
    assert server == expected, f"validator says {local}, sandbox {server}"


@pytest.mark.parametrize(("case", "server", "why"), DIFFERENCES, ids=[d[0].name for d in DIFFERENCES])
def test_documented_differences_hold(case: Case, server: str, why: str) -> None:
    local, got, _ = _verdicts(case)
    assert (local, got) == (case.verdict, server), why


def test_every_reason_is_in_the_table() -> None:
    """Each rule of the catalogue has at least one case (or it is not covered by this file)."""
    seen: set[str] = set()
    for case in CASES + [d[0] for d in DIFFERENCES]:
        df = _frame(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            seen |= set(amp.validate(df, case.mapping, now_ms=NOW_MS).failures["reason"])
    # A new reason must get a row here (or a line in _ELSEWHERE saying why not).
    assert seen >= {r.value for r in amp._rules.Reason} - _ELSEWHERE, sorted(
        {r.value for r in amp._rules.Reason} - _ELSEWHERE - seen
    )


# Reasons this table cannot produce from a few rows (their own tests cover them).
_ELSEWHERE: set[str] = {
    "daily_quota",  # 500,000 events for one device in 24 h (a warning; tests/test_preflight.py)
    # The client's own rule: a row without a key(...) value has no insert_id and is never
    # sent, even with on_invalid="send" (tests/test_insert_key.py).
    "insert_id_key_missing",
} | {  # Identify rows' rules (validate_identify): tests/test_identify_validation.py, test_sandbox_identify.py
    rule.reason.value for rule in amp._rules.RULES.values() if rule.reference.startswith("identify-api.md")
}
