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
and asserts them too, so neither side can drift without this file saying so. Every
message on the way is its reason's template in the rules table (``_rule_table``), and
every reason whose rows reach the events API (its origin in the table says) has a case.
Identify's and Group Identify's rules are walked the same way, through ``validate_identify``
and the sandbox's ``/identify`` and ``/groupidentify``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import matches_its_rule  # a message is its reason's template

import amp_notebook as amp
from amp_notebook import Pacing, RetryPolicy
from amp_notebook._mapping import resolve_mapping
from amp_notebook._rule_table import RULES, Origin, Reason
from amp_notebook._validation import ValidateOptions, validate_frame
from amp_notebook.sandbox import (
    GROUP_IDENTIFY_PATH,
    HTTP_PATH,
    IDENTIFY_PATH,
    Sandbox,
    SandboxConfig,
)

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
    options: dict[str, Any] = field(default_factory=dict)  # for validate and upload (min_id_length=...)
    quota: int | None = None  # events per device a day, for the pre-flight and the sandbox alike


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
    C("user_id a boolean", {"user_id": True}, "warning"),  # sent as "true": 4 characters, short
    C("user_id lmy47d", {"user_id": "LMY47D"}, "error"),
    C("user_id {}", {"user_id": "{}"}, "error"),
    C("device_id the number 0", {"device_id": 0}, "error"),  # sent as "0": an invalid id
    C("device_id short, user_id good", {"device_id": "abcd"}, "warning"),
    C("user_id short, device_id all zeros", {"user_id": "abc", "device_id": "00000000-0000-0000-0000-000000000000"},
      "error"),
    C("device_id short, user_id invalid", {"device_id": "abc", "user_id": "none"}, "error"),
    C("user_id short, min_id_length=3", {"user_id": "abc", "device_id": None}, "ok", options={"min_id_length": 3}),
    C("user_id too short for min_id_length=8", {"user_id": "user-01", "device_id": None}, "error",
      options={"min_id_length": 8}),
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
    C("time a dict", {"time": {"at": 1}}, "error"),
    C("time a number as text", {"time": "1750000000000"}, "error"),
    C("time long max", {"time": 2**63 - 1}, "error"),  # read as ms, beyond pandas' dates
    C("time a timestamp with an offset", {"time": pd.Timestamp("2025-06-15T10:00:00+02:00")}, "ok"),
    C("time empty, missing_time='upload_time'", {"time": None}, "warning", options={"missing_time": "upload_time"}),
    C("time an empty text", {"time": ""}, "error"),  # with on_invalid="send", sent as "" (a 400)
    C("time -1", {"time": -1}, "error"),
    C("time ISO text before 1970", {"time": "1969-12-31T23:59:59Z"}, "error"),
    C("time in seconds, time_unit='s'", {"time": 1_750_000_000}, "ok", options={"time_unit": "s"}),
    C("time beyond a long, time_unit='s'", {"time": 10**17}, "error", options={"time_unit": "s"}),
    # integer keys
    C("event_id 2.5", {"event_id": 2.5}, "error"),
    C("event_id int64 max", {"event_id": 2**63 - 1}, "ok"),
    C("event_id beyond a long", {"event_id": 10**20}, "error"),
    C("event_id Decimal 2.5", {"event_id": Decimal("2.5")}, "error"),
    C("session_id uint64 above int64", {"session_id": np.uint64(2**63 + 5)}, "error",
      dtypes={"session_id": "uint64"}),
    C("session_id -1", {"session_id": -1}, "ok"),
    C("session_id -2", {"session_id": -2}, "error"),
    C("quantity as text", {"quantity": "2"}, "error"),
    C("quantity a boolean", {"quantity": True}, "error"),
    C("quantity a whole float", {"quantity": 2.0}, "ok"),  # sent as 2
    C("quantity 1e19", {"quantity": 1e19}, "error"),
    C("session_id 1.5", {"session_id": 1.5}, "error"),
    C("session_id a datetime", {"session_id": pd.Timestamp("2025-06-15T10:00:00Z")}, "ok"),  # sent as ms
    C("event_id as text", {"event_id": "5"}, "error"),
    # float keys
    C("price as text", {"price": "4.99"}, "error"),
    C("price inf", {"price": math.inf}, "error"),
    C("price a boolean", {"price": True}, "error"),
    C("price negative (refund)", {"price": -9.99, "quantity": 1}, "ok"),
    C("location_lat 123", {"location_lat": 123.0}, "error"),
    C("location_lat 90", {"location_lat": 90.0}, "ok"),
    C("location_lat 90.0000001", {"location_lat": 90.0000001}, "error"),
    C("location_lng -180.5", {"location_lng": -180.5}, "error"),
    C("location_lng beyond a long", {"location_lng": 10**20}, "error"),
    C("location_lat as text", {"location_lat": "45.0"}, "error"),
    C("price beyond a long", {"price": 10**20}, "ok"),  # a float key: 1e+20 is a float
    # revenue
    C("productId alone", {"productId": "sku-1"}, "warning"),
    C("productId with revenue", {"productId": "sku-1", "revenue": 9.99}, "ok"),
    C("productId with price and quantity", {"productId": "sku-1", "price": 1.0, "quantity": 2}, "ok"),
    C("revenueType with price only", {"revenueType": "tax", "price": 1.0}, "warning"),
    C("revenue mismatch", {"price": 2.0, "quantity": 3, "revenue": 5.0}, "warning"),
    # booleans
    C("skip sync 'yes'", {"$skip_user_properties_sync": "yes"}, "error"),
    C("skip sync 1", {"$skip_user_properties_sync": 1}, "ok"),
    C("skip sync True", {"$skip_user_properties_sync": True}, "ok"),
    C("skip sync 2", {"$skip_user_properties_sync": 2}, "error"),
    C("skip sync 0.0", {"$skip_user_properties_sync": 0.0}, "ok"),  # sent as false
    # other strings
    C("platform 1025 chars", {"platform": "p" * 1025}, "error"),
    C("platform a number", {"platform": 5}, "ok"),
    C("insert_id 1025 chars", {"insert_id": "i" * 1025}, "error"),
    C("idfa 1025 chars", {"idfa": "i" * 1025}, "error"),
    C("platform a dict", {"platform": {"a": 1}}, "ok"),  # sent as its JSON text
    C("platform 1024 emoji", {"platform": "\N{GRINNING FACE}" * 1024}, "ok"),  # characters, not bytes
    C("event_type bytes of 1030 characters", {"event_type": b"x" * 1030}, "error"),
    C("platform a dict of a long string", {"platform": {"a": "x" * 1030}}, "error"),
    # properties (reference, "Event keys" -> event_properties; "General rules")
    C("property 1025 chars", {"event_properties.a": "x" * 1025}, "error"),
    C("property 1024 chars", {"event_properties.a": "x" * 1024}, "ok"),
    C("property list with a long string", {"event_properties.a": ["ok", "x" * 1025]}, "error"),
    # Bytes are sent as their UTF-8 text (reference, "General rules": every string value).
    C("property bytes of 2000 characters", {"event_properties.a": b"x" * 2000}, "error"),
    C("property bytes of 1025 two-byte characters", {"event_properties.a": "é".encode() * 1025}, "error"),
    C("property bytes of 1024 characters", {"event_properties.a": "é".encode() * 1024}, "ok"),
    C("property list with long bytes", {"event_properties.a": ["ok", b"x" * 1025]}, "error"),
    C("group value a list of long bytes", {"groups.team": [b"x" * 2000]}, "error"),
    C("plan of long bytes", {"plan": {"branch": b"x" * 2000}}, "error"),
    C("property list with bytes of 600 two-byte characters", {"event_properties.a": ["ok", "é".encode() * 600]}, "ok"),
    C("property name 2000 chars", {"event_properties": {"k" * 2000: 1}}, "ok"),
    C("properties 40 levels", {"event_properties": nested(40)}, "ok"),
    C("properties 41 levels", {"event_properties": nested(41)}, "error"),
    C("property 40 levels inside", {"event_properties.a": nested(40)}, "error"),  # the object is level 1
    C("property 39 levels inside", {"event_properties.a": nested(39)}, "ok"),
    C("properties a list", {"props": ["a"]}, "error", mapping={"event_properties": "props"}),
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
    C("group value a boolean", {"groups.team": True}, "ok"),  # sent as "true"
    C("groups of a boolean", {"groups": {"team": True}}, "ok"),
    C("groups of 5 types and 10 values", {"groups": {f"t{i}": ["a", "b"] for i in range(5)}}, "ok"),
    C("groups not an object", {"g": "team"}, "error", mapping={"groups": "g"}),
    # plan (tracking plan: branch, source, version)
    C("plan extra field", {"plan": {"branch": "main", "owner": "me"}}, "error"),
    C("plan good", {"plan": {"branch": "main", "version": "3"}}, "ok"),
    C("plan.version a number", {"plan.version": 15}, "ok"),  # sent as "15"
    C("plan of a number version", {"plan": {"branch": "main", "version": 3}}, "ok"),  # sent as "3"
    C("plan of a long branch", {"plan": {"branch": "b" * 1025}}, "error"),
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
    (
        C("property list with an integer beyond 64 bits", {"event_properties.n": [10**20]}, "error"),
        "ingested",
        "as for a single value: the server reads 1e+20 and keeps it altered; the validator "
        "refuses it (integer_out_of_range)",
    ),
    (
        C("over the daily quota", {"event_type": "Third"}, "warning",
          before=({"event_type": "First"}, {"event_type": "Second"}), quota=2),
        "failed",
        "the quota counts what the project took from the device in a day, which the client "
        "cannot see (earlier uploads, other senders): the pre-flight warns about the rows "
        "this frame alone takes over it (daily_quota), and sends them; the server refuses "
        "them with a 400 'exceeded daily quota' and the rows end failed, to be resent later "
        "(reference, 'Responses': silenced)",
    ),
]


def _frame(case: Case) -> pd.DataFrame:
    frame = _rows([{**BASE, **r} for r in (*case.before, case.row)], case.dtypes)
    index = pd.Index(case.index) if case.index is not None else None
    if index is not None:
        frame.index = index
    return frame


def _rows(rows: list[dict[str, Any]], dtypes: dict[str, Any]) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for name in dict.fromkeys(k for r in rows for k in r):
        cells = [r.get(name) for r in rows]
        columns[name] = pd.Series(cells, dtype=dtypes.get(name, object)).infer_objects()
        if name not in dtypes and any(isinstance(c, (dict, list)) for c in cells):
            columns[name] = pd.Series(cells, dtype=object)
    return pd.DataFrame(columns)


def _report(df: pd.DataFrame, case: Case) -> amp.ValidationReport:
    if case.quota is None:
        return amp.validate(df, case.mapping, now_ms=NOW_MS, **case.options)
    # The quota is Amplitude's (500,000), not an option: a few rows stand for it here.
    options = ValidateOptions(now_ms=NOW_MS, daily_quota=case.quota, **case.options)
    return validate_frame(df, resolve_mapping(df, case.mapping), options)


def _verdicts(case: Case) -> tuple[str, str, pd.DataFrame]:
    df = _frame(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "looks like seconds": the report says it
        report = _report(df, case)
        sb = Sandbox(SandboxConfig(daily_quota=case.quota))
        # Under a quota, one event a request: the server counts what it took before each one.
        per_request = {} if case.quota is None else {"max_events_per_request": 1}
        result = amp.upload(df, api_key=KEY, mapping=case.mapping, endpoint=ENDPOINT,
                            transport=sb.transport(sleep=False), retry=RetryPolicy.fast(),
                            progress=False, now_ms=NOW_MS, on_invalid="send", **case.options, **per_request)
    last = len(df) - 1
    mine = report.failures.loc[report.failures.index == last, "severity"].tolist()
    local = "error" if "error" in mine else "warning" if mine else "ok"
    return local, str(result.rows["status"].iloc[last]), report.failures


def _assert_one_verdict(verdict: str, local: str, server: str, failures: pd.DataFrame) -> None:
    """The validator says ``verdict``; the sandbox refuses exactly the errors; every message
    is its reason's template in the rules table."""
    assert local == verdict, failures[["key", "severity", "reason", "message"]].to_string()
    expected = "rejected" if local == "error" else "ingested"
    assert server == expected, f"validator says {local}, sandbox {server}"
    for reason, message in zip(failures["reason"], failures["message"], strict=True):
        assert matches_its_rule(reason, message), (reason, message)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validator_and_sandbox_agree(case: Case) -> None:
    local, server, failures = _verdicts(case)
    _assert_one_verdict(case.verdict, local, server, failures)


@pytest.mark.parametrize(("case", "server", "why"), DIFFERENCES, ids=[d[0].name for d in DIFFERENCES])
def test_documented_differences_hold(case: Case, server: str, why: str) -> None:
    local, got, _ = _verdicts(case)
    assert (local, got) == (case.verdict, server), why


# Reasons this table cannot produce: their rows never reach the events API (the rules
# table's origin says which: key(...) rows without a value are never sent, and Identify's
# rules are the /identify route's: the table below walks them; tests/test_insert_key.py
# covers the key's).
_ELSEWHERE = {rule.reason.value for rule in RULES.values() if not rule.origin.reaches_events_api}


def test_every_reason_is_in_the_table() -> None:
    """Each rule of the catalogue whose rows reach the events API has at least one case."""
    seen: set[str] = set()
    for case in CASES + [d[0] for d in DIFFERENCES]:
        df = _frame(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            seen |= set(_report(df, case).failures["reason"])
    assert seen >= {r.value for r in Reason} - _ELSEWHERE, sorted({r.value for r in Reason} - _ELSEWHERE - seen)
    assert "insert_id_key_missing" in _ELSEWHERE and "daily_quota" not in _ELSEWHERE


# -- Identify and Group Identify: validate_identify against the sandbox's /identify and
# -- /groupidentify (identify-api.md), the same way.

USER = {"user_id": "user-00001", "plan": "pro"}
GROUP = {"org": "org-00001", "name": "Acme"}


@dataclass(frozen=True)
class IdCase:
    name: str
    row: dict[str, Any]
    verdict: str
    kind: str = "user"  # "user": identify(); "group": group_identify(group_type="company", group_value="org")
    options: dict[str, Any] = field(default_factory=dict)  # operations=...
    before: tuple[dict[str, Any], ...] = ()
    rate: float | None = None  # a user's rate, for the pacing and the sandbox alike (None: Amplitude's)


ID = IdCase
_ADD, _APPEND = {"operations": {"logins": "add"}}, {"operations": {"tags": "append"}}
IDENTIFY_CASES = [
    ID("clean", {}, "ok"),
    ID("no ids", {"user_id": None}, "error"),
    ID("user_id null", {"user_id": "null"}, "error"),
    ID("user_id short alone", {"user_id": "abc"}, "error"),
    ID("user_id short, device_id good", {"user_id": "abc", "device_id": "device-00001"}, "warning"),
    ID("device_id all zeros", {"user_id": None, "device_id": "00000000-0000-0000-0000-000000000000"}, "error"),
    ID("user_id 1025 chars", {"user_id": "u" * 1025}, "error"),
    ID("user_id a number", {"user_id": 12345678}, "ok"),
    ID("property 1025 chars", {"plan": "x" * 1025}, "error"),
    ID("property bytes of 2000 characters", {"plan": b"x" * 2000}, "error"),
    ID("property 40 levels inside", {"plan": nested(40)}, "error"),  # user_properties is level 1
    ID("property 39 levels inside", {"plan": nested(39)}, "ok"),
    ID("add a number", {"logins": 3}, "ok", options=_ADD),
    ID("add text", {"logins": "x"}, "error", options=_ADD),
    ID("add a boolean", {"logins": True}, "error", options=_ADD),
    ID("append a list", {"tags": ["a"]}, "ok", options=_APPEND),
    ID("append an object", {"tags": {"a": 1}}, "error", options=_APPEND),
    ID("platform 1025 chars", {"platform": "p" * 1025}, "error"),
    ID("country without region, city, dma", {"country": "DE"}, "warning"),  # the others are reset
    ID("the same user twice", {"plan": "team"}, "warning", before=({},)),
    ID("group clean", {}, "ok", kind="group"),
    ID("group_value missing", {"org": None}, "error", kind="group"),
    ID("group_value 1025 chars", {"org": "o" * 1025}, "error", kind="group"),
    ID("group_value short", {"org": "ab"}, "ok", kind="group"),  # not an id: no length rule
    ID("group property 1025 chars", {"name": "x" * 1025}, "error", kind="group"),
    ID("the same group twice", {"name": "Acme Inc"}, "warning", kind="group", before=({},)),
    # "at most 1024 group properties per request": the sandbox answers 413, one row cannot be split
    ID("1025 group properties", {f"p{i}": "v" for i in range(1025)}, "error", kind="group"),
    # "drops user-property updates for a user beyond 1800 per hour": answered 200, not applied.
    # A high rate on both sides sends the 1,801 rows in a moment (the rate limit is not the rule here).
    ID("a user's 1801st update in an hour", {}, "warning", before=({},) * 1800, rate=1e6),
]

IDENTIFY_DIFFERENCES = [
    (
        ID("property integer beyond 64 bits", {"n": 10**20}, "error"),
        "ingested",
        "as for events: the server reads 1e+20 and keeps it altered; the validator refuses it "
        "(integer_out_of_range)",
    ),
    (
        ID("group_value blank", {"org": "  "}, "error", kind="group"),
        "ingested",
        "identify-api.md names no rule for a blank group value; the sandbox takes any non-empty "
        "string, the validator refuses one that is only whitespace (group_missing), as it does a "
        "blank event_type: it names no group, and would make one called '  '",
    ),
]



def _identify_verdicts(case: IdCase) -> tuple[str, str, pd.DataFrame]:
    base = USER if case.kind == "user" else GROUP
    df = _rows([{**base, **r} for r in (*case.before, case.row)], {})
    group = {"group_type": "company", "group_value": "org"} if case.kind == "group" else {}
    report = df.amplitude.validate_identify(kind=case.kind, **group, **case.options)
    send = df.amplitude.identify if case.kind == "user" else df.amplitude.group_identify
    path = IDENTIFY_PATH if case.kind == "user" else GROUP_IDENTIFY_PATH
    sandbox = Sandbox() if case.rate is None else Sandbox(SandboxConfig(device_eps=case.rate))
    pacing = {} if case.rate is None else {"pacing": Pacing(device_eps=case.rate)}
    result = send(api_key=KEY, endpoint="http://127.0.0.1:9" + path, transport=sandbox.transport(sleep=False),
                  retry=RetryPolicy.fast(), progress=False, on_invalid="send", **group, **case.options, **pacing)
    last = len(df) - 1
    mine = report.failures.loc[report.failures.index == last, "severity"].tolist()
    local = "error" if "error" in mine else "warning" if mine else "ok"
    return local, str(result.rows["status"].iloc[last]), report.failures


@pytest.mark.parametrize("case", IDENTIFY_CASES, ids=[c.name for c in IDENTIFY_CASES])
def test_identify_validator_and_sandbox_agree(case: IdCase) -> None:
    local, server, failures = _identify_verdicts(case)
    _assert_one_verdict(case.verdict, local, server, failures)


@pytest.mark.parametrize(("case", "server", "why"), IDENTIFY_DIFFERENCES, ids=[d[0].name for d in IDENTIFY_DIFFERENCES])
def test_identify_documented_differences_hold(case: IdCase, server: str, why: str) -> None:
    local, got, _ = _identify_verdicts(case)
    assert (local, got) == (case.verdict, server), why


def test_every_identify_reason_is_in_the_table() -> None:
    """Each of Identify's own rules (origin: identify validation) has a case."""
    seen: set[str] = set()
    for case in IDENTIFY_CASES + [d[0] for d in IDENTIFY_DIFFERENCES]:
        seen |= set(_identify_verdicts(case)[2]["reason"])
    own = {rule.reason.value for rule in RULES.values() if rule.origin is Origin.IDENTIFY}
    assert seen >= own, sorted(own - seen)
