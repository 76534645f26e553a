"""One test per Amplitude rule, written from shared/reference/amplitude-api.md
("Event keys", "General rules"): valid and invalid examples at the edges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from amp_notebook._mapping import Const, Field, ResolvedMapping
from amp_notebook._rules import RULES, Reason, Severity
from amp_notebook._validation import ValidateOptions, validate_frame

NOW_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z, injected: tests never read the clock
DAY_MS = 86_400_000
ZERO_ID = "00000000-0000-0000-0000-000000000000"


def _field(column: str, source: object) -> Field:
    key, dot, name = column.partition(".")
    return Field(key, name if dot else None, source)


def run(columns: dict[str, object], *, base: bool = True, **options: object):
    """Validate a frame whose column names are event keys ("event_properties.x" nested).

    A valid user_id and event_type are added unless given (or base=False). Values that
    are Const become constants. Returns the report.
    """
    data = dict(columns)
    if base:
        data.setdefault("user_id", "user-00001")
        data.setdefault("event_type", "Click")
    consts = {k: v for k, v in data.items() if isinstance(v, Const)}
    cols = {k: v for k, v in data.items() if not isinstance(v, Const)}
    n = max((len(v) for v in cols.values() if isinstance(v, (list, pd.Series, pd.Index, np.ndarray))), default=1)
    frame = pd.DataFrame(
        {k: (v if isinstance(v, (list, pd.Series, pd.Index, np.ndarray)) else [v] * n) for k, v in cols.items()}
    )
    fields = [_field(c, c) for c in frame.columns] + [_field(k, v) for k, v in consts.items()]
    opts = {"now_ms": NOW_MS, **options}
    return validate_frame(frame, ResolvedMapping(tuple(fields)), ValidateOptions(**opts))  # type: ignore[arg-type]


def problems(report, reason: Reason | None = None) -> list[tuple[int, str, str, str]]:
    """(position, key, reason, severity) per failure, optionally for one reason."""
    f = report.failures
    out = list(zip(f.index.tolist(), f["key"], f["reason"], f["severity"], strict=True))
    return [p for p in out if reason is None or p[2] == reason.value]


def hit_rows(report, reason: Reason, severity: Severity | None = None) -> list[int]:
    return [p for p, _, r, s in problems(report) if r == reason.value and (severity is None or s == severity.value)]


# -- the catalogue ------------------------------------------------------------------------


def test_reason_codes_are_stable_strings():
    assert Reason.ID_TOO_SHORT == "id_too_short"
    assert isinstance(Reason.TIME_INVALID, str)
    assert str(Reason.PLAN_INVALID) == "plan_invalid"
    assert Severity.ERROR == "error"
    assert Severity.WARNING == "warning"
    for code in ("event_type_missing", "event_type_reserved", "id_missing", "id_too_short",
                 "id_invalid", "device_id_all_zero", "time_invalid", "time_suspicious",
                 "string_too_long", "nesting_too_deep", "groups_too_many", "revenue_incomplete",
                 "not_a_number", "not_an_integer", "lat_out_of_range", "lng_out_of_range",
                 "session_id_invalid", "plan_invalid", "not_a_boolean"):
        assert Reason(code).value == code


def test_every_reason_has_a_rule_citing_the_reference():
    assert set(RULES) == set(Reason)
    for rule in RULES.values():
        assert rule.reference in ("Event keys", "General rules", "Limits") or rule.reference.startswith(
            "identify-api.md, "
        )
        assert rule.rule


# -- event_type (Event keys -> event_type: required, reserved names refused) --------------


def test_event_type_required():
    r = run({"event_type": ["Click", None, "", "   ", np.nan]})
    assert hit_rows(r, Reason.EVENT_TYPE_MISSING) == [1, 2, 3, 4]
    assert {s for *_, s in problems(r, Reason.EVENT_TYPE_MISSING)} == {"error"}


def test_event_type_not_mapped_fails_every_row():
    r = run({"user_id": ["user-1", "user-2"]}, base=False)
    assert hit_rows(r, Reason.EVENT_TYPE_MISSING) == [0, 1]


@pytest.mark.parametrize(
    "name",
    [
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    ],
)
def test_reserved_event_types_refused(name: str):
    r = run({"event_type": ["Start Session", name]})
    assert hit_rows(r, Reason.EVENT_TYPE_RESERVED, Severity.ERROR) == [1]


@pytest.mark.parametrize("name", ["session_start", "session_end", "revenue_amount"])
def test_formerly_reserved_event_types_are_a_warning(name: str):
    # Reference, "Event keys" -> event_type: "older docs also reserve" them; today's don't.
    r = run({"event_type": ["Start Session", name]})
    assert problems(r) == [(1, "event_type", "event_type_formerly_reserved", "warning")]
    assert "older Amplitude docs" in r.failures["message"].iloc[0]


# -- ids (Event keys -> user_id / device_id; General rules -> invalid ids) -----------------


def test_user_id_or_device_id_required():
    r = run(
        {"user_id": ["user-0001", None, None], "device_id": [None, "device-01", None]},
    )
    assert hit_rows(r, Reason.ID_MISSING, Severity.ERROR) == [2]


def test_no_id_mapped_fails_every_row():
    r = run({"event_type": ["a", "b"]}, base=False)
    assert hit_rows(r, Reason.ID_MISSING) == [0, 1]


def test_id_minimum_length_default_5():
    r = run({"user_id": ["abcd", "abcde"]})
    # the short id is removed by the server and nothing is left: an error
    assert problems(r, Reason.ID_TOO_SHORT) == [(0, "user_id", "id_too_short", "error")]


def test_short_id_is_a_warning_when_the_other_id_remains():
    r = run({"user_id": ["abcd", "abcd"], "device_id": ["device-01", "dev"]})
    assert problems(r, Reason.ID_TOO_SHORT) == [
        (0, "user_id", "id_too_short", "warning"),
        (1, "user_id", "id_too_short", "error"),
        (1, "device_id", "id_too_short", "error"),
    ]


def test_short_id_is_an_error_when_the_other_id_is_invalid():
    r = run({"user_id": ["abcd"], "device_id": ["null"]})
    assert hit_rows(r, Reason.ID_TOO_SHORT, Severity.ERROR) == [0]
    assert hit_rows(r, Reason.ID_INVALID) == [0]


@pytest.mark.parametrize(("min_len", "bad"), [(1, []), (3, []), (4, []), (5, [0]), (6, [0, 1])])
def test_custom_min_id_length(min_len: int, bad: list[int]):
    r = run({"user_id": ["abcd", "abcde", "abcdef"]}, min_id_length=min_len)
    assert hit_rows(r, Reason.ID_TOO_SHORT) == bad


@pytest.mark.parametrize(
    "value",
    ["anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", '""',
     ZERO_ID, "{}", "lmy47d", "0", "-1", "NULL", "Null", "None", "N/A", "UNDEFINED", "LMY47D",
     "Anonymous"],
)
def test_invalid_ids_case_insensitive(value: str):
    # The empty string is on the list too, but a blank id is never sent: it is a missing
    # id (issue 12, item 3; tests/test_ids_and_object_columns.py).
    r = run({"user_id": ["user-0001", value]})
    assert hit_rows(r, Reason.ID_INVALID, Severity.ERROR) == [1]
    # reported once, as invalid (not also as too short)
    assert hit_rows(r, Reason.ID_TOO_SHORT) == []


def test_a_lone_blank_id_is_a_missing_id():
    r = run({"user_id": ["user-0001", "", "  "]})
    assert hit_rows(r, Reason.ID_MISSING, Severity.ERROR) == [1, 2]
    assert hit_rows(r, Reason.ID_INVALID) == []


def test_invalid_device_ids_too():
    r = run({"device_id": ["device-01", "Unknown", "nullable-ok"]})
    assert hit_rows(r, Reason.ID_INVALID) == [1]


def test_ids_are_judged_as_sent_strings():
    # integer ids are sent as strings: 0 and -1 are invalid ids, 123 is too short
    r = run({"user_id": pd.Series([0, -1, 123, 123456], dtype="int64")})
    assert hit_rows(r, Reason.ID_INVALID) == [0, 1]
    assert hit_rows(r, Reason.ID_TOO_SHORT) == [2]
    # a float column of whole ids (gaps make it float64) is sent without ".0"
    r = run({"user_id": [12345.0, np.nan, 1234.0]})
    assert hit_rows(r, Reason.ID_TOO_SHORT) == [2]  # "1234"; "12345" is fine
    assert hit_rows(r, Reason.ID_MISSING) == [1]


def test_all_zero_device_id():
    r = run({"device_id": [ZERO_ID, "a0000000-0000-0000-0000-000000000000"]})
    assert problems(r, Reason.DEVICE_ID_ALL_ZERO) == [(0, "device_id", "device_id_all_zero", "error")]
    assert hit_rows(r, Reason.ID_INVALID) == []  # one reason for it, the specific one


# -- time (Event keys -> time: integer ms since the epoch) ---------------------------------


def test_time_forms_that_read_as_ms():
    r = run(
        {
            "time": [
                NOW_MS,
                "2026-05-28T10:00:00Z",
                pd.Timestamp("2026-05-28 10:00"),
                dt.datetime(2026, 5, 28, 10),
                None,  # absent: the event would be dated at the upload time
            ]
        }
    )
    # Rows 0-3 read; rows 2 and 3 are one instant, so one event twice (see below).
    assert problems(r) == [
        (3, "insert_id", "duplicate_event", "warning"),
        (4, "time", "time_missing", "error"),
    ]


def test_unparseable_time_is_an_error():
    r = run({"time": ["2026-05-28T10:00:00", "yesterday", "2026-13-45", True]})
    assert hit_rows(r, Reason.TIME_INVALID, Severity.ERROR) == [1, 2, 3]


def test_time_before_2000_is_a_warning():
    start_2000 = 946_684_800_000
    r = run({"time": pd.Series([start_2000, start_2000 - 1, 1_780_000_000], dtype="int64")})
    assert problems(r, Reason.TIME_SUSPICIOUS) == [
        (1, "time", "time_suspicious", "warning"),
        (2, "time", "time_suspicious", "warning"),  # seconds read as ms: January 1970
    ]
    assert "time_unit='s'" in r.failures["message"].iloc[-1]


def test_negative_time_is_an_error():
    # Reference, "Event keys" -> time: ms *since* the epoch; the server refuses a negative one.
    r = run({"time": pd.Series([1_780_000_000_000, -1, -1_780_000_000_000], dtype="int64")})
    assert problems(r) == [(1, "time", "time_invalid", "error"), (2, "time", "time_invalid", "error")]
    assert "before 1970" in r.failures["message"].iloc[0]


def test_time_more_than_a_day_ahead_is_a_warning():
    times = pd.Series([NOW_MS, NOW_MS + DAY_MS, NOW_MS + DAY_MS + 1, NOW_MS * 1000], dtype="int64")
    r = run({"time": times})
    assert hit_rows(r, Reason.TIME_SUSPICIOUS, Severity.WARNING) == [2, 3]
    # without an injected clock that half of the rule is skipped
    r = run({"time": times}, now_ms=None)
    assert hit_rows(r, Reason.TIME_SUSPICIOUS) == []


def test_time_unit_seconds():
    r = run({"time": pd.Series([1_780_000_000], dtype="int64")}, time_unit="s")
    assert problems(r) == []


# -- strings (General rules: at most 1024 characters) --------------------------------------


@pytest.mark.parametrize(
    "key", ["platform", "event_type", "user_id", "device_id", "insert_id", "event_properties.note",
            "user_properties.bio", "groups.org", "plan.branch"]
)
def test_strings_at_most_1024(key: str):
    r = run({key: ["x" * 1024, "x" * 1025]})
    assert hit_rows(r, Reason.STRING_TOO_LONG, Severity.ERROR) == [1]
    assert problems(r, Reason.STRING_TOO_LONG)[0][1] == key
    assert "1,025" in r.failures["message"].iloc[-1]


def test_nested_strings_at_most_1024():
    r = run(
        {
            "event_properties.tags": [
                ["a", "x" * 1024],
                ["a", "x" * 1025],
                {"k": "x" * 1025},
                {"k": ["ok", {"deep": "y" * 2000}]},
                ("x" * 1025,),
            ],
            "groups.team": [["t" * 1024], ["t"], ["t"], ["t"], ["t" * 1025]],
        }
    )
    assert hit_rows(r, Reason.STRING_TOO_LONG) == [1, 2, 3, 4, 4]
    messages = r.failures[r.failures["reason"] == "string_too_long"]["message"].tolist()
    assert "event_properties.tags[1]" in messages[0]
    assert "event_properties.tags['k'][1]['deep']" in messages[2]


def test_dict_keys_are_not_values():
    r = run({"event_properties.blob": [{"k" * 2000: 1}]})
    assert problems(r) == []


# -- nesting (Event keys -> event_properties: depth at most 40) ----------------------------


def _nested(levels: int) -> object:
    """A value ``levels`` levels deep: {"a": {"a": ... 1}} with ``levels`` dicts."""
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_nesting_depth_40_vs_41():
    # event_properties itself is level 1, so a property value may hold 39 more levels.
    r = run({"event_properties.p": [_nested(39), _nested(40)]})
    assert hit_rows(r, Reason.NESTING_TOO_DEEP, Severity.ERROR) == [1]
    # a whole-object column: the cell is the properties object (level 1)
    r = run({"event_properties": [_nested(40), _nested(41)]})
    assert hit_rows(r, Reason.NESTING_TOO_DEEP) == [1]
    # lists count as levels too
    r = run({"user_properties.p": [[[[1]]], _nested(45)]})
    assert hit_rows(r, Reason.NESTING_TOO_DEEP) == [1]


def test_whole_properties_column_must_hold_dicts():
    r = run({"event_properties": [{"a": 1}, '{"a": 1}', None]})
    assert hit_rows(r, Reason.NOT_AN_OBJECT, Severity.ERROR) == [1]


# -- groups (Event keys -> groups: 5 types, 10 values; the rest not tracked) ---------------


def test_groups_5_vs_6_types():
    five = {f"groups.g{i}": ["v", "v"] for i in range(5)}
    r = run({**five, "groups.g5": ["v", None]})
    assert problems(r, Reason.GROUPS_TOO_MANY) == [(0, "groups.g5", "groups_too_many", "warning")]


def test_groups_10_vs_11_values():
    r = run({"groups.a": [["1"] * 5, ["1"] * 5], "groups.b": [["2"] * 5, ["2"] * 6]})
    assert problems(r, Reason.GROUPS_TOO_MANY) == [(1, "groups.b", "groups_too_many", "warning")]
    assert "11 group values" in r.failures["message"].iloc[-1]


def test_group_empty_list_is_not_a_value():
    six = {f"groups.g{i}": ["v"] for i in range(5)}
    r = run({**six, "groups.g5": [[]]})
    assert problems(r, Reason.GROUPS_TOO_MANY) == []


# -- revenue (Event keys -> productId / revenueType / price / quantity / revenue) ----------


def test_revenue_needs_price_and_quantity_or_revenue():
    r = run(
        {
            "productId": ["p1", "p2", "p3", "p4", None],
            "price": [9.99, 9.99, None, None, None],
            "quantity": [2, None, None, None, None],
            "revenue": [19.98, None, 5.0, None, None],
        }
    )
    # A warning: Amplitude accepts the event, it just counts no revenue (as the sandbox does).
    assert hit_rows(r, Reason.REVENUE_INCOMPLETE, Severity.WARNING) == [1, 3]


def test_revenue_type_alone_is_incomplete():
    r = run({"revenueType": ["refund", "refund"], "revenue": [-5.0, None]})
    assert hit_rows(r, Reason.REVENUE_INCOMPLETE) == [1]


def test_revenue_is_price_times_quantity():
    r = run({"price": [2.5, 2.5], "quantity": [2, 2], "revenue": [5.0, 6.0]})
    assert problems(r, Reason.REVENUE_MISMATCH) == [(1, "revenue", "revenue_mismatch", "warning")]


def test_numeric_keys_take_numbers():
    r = run({"price": [1.5, -3, "9.99", True, np.inf, None]})
    # text, booleans and infinities are not JSON numbers (the encoder would drop them)
    assert hit_rows(r, Reason.NOT_A_NUMBER, Severity.ERROR) == [2, 3, 4]


@pytest.mark.parametrize("key", ["quantity", "event_id", "session_id"])
def test_integer_keys(key: str):
    r = run({key: [3, 3.0, 3.5, "3", None]})
    assert hit_rows(r, Reason.NOT_AN_INTEGER, Severity.ERROR) == [2]
    assert hit_rows(r, Reason.NOT_A_NUMBER) == [3]


# -- location --------------------------------------------------------------------------------


def test_latitude_range():
    r = run({"location_lat": [90, -90, 90.0001, -90.0001, 0.0]})
    assert hit_rows(r, Reason.LAT_OUT_OF_RANGE, Severity.ERROR) == [2, 3]


def test_longitude_range():
    r = run({"location_lng": [180, -180, 180.0001, -180.0001, 95.0]})
    assert hit_rows(r, Reason.LNG_OUT_OF_RANGE, Severity.ERROR) == [2, 3]


# -- session_id (Event keys -> session_id: ms since the epoch, -1 for none) ----------------


def test_session_id_minus_one_or_not_negative():
    r = run({"session_id": pd.Series([-1, 1_396_381_378_123, 0, -2, -1_396_381_378_123])})
    assert hit_rows(r, Reason.SESSION_ID_INVALID, Severity.ERROR) == [3, 4]


def test_session_id_from_datetimes_is_ms():
    r = run({"session_id": pd.to_datetime(["2026-05-28 10:00", None])})
    assert problems(r) == []


# -- plan (Event keys -> plan: only branch, source, version strings) -----------------------


def test_plan_fields():
    r = run({"plan.branch": ["main"], "plan.version": ["3"], "plan.owner": ["me"]})
    assert problems(r, Reason.PLAN_INVALID) == [(0, "plan.owner", "plan_invalid", "error")]


def test_whole_plan_objects():
    r = run({"plan": [{"branch": "main", "version": "3"}, {"branch": "x", "team": "a"}, "main"]})
    assert hit_rows(r, Reason.PLAN_INVALID) == [1]
    assert hit_rows(r, Reason.NOT_AN_OBJECT) == [2]


# -- $skip_user_properties_sync (Event keys: a boolean) --------------------------------------


def test_skip_user_properties_sync_is_boolean():
    r = run({"$skip_user_properties_sync": [True, False, "true", 1, 2, None]})
    # 0/1 go out as false/true; text and other numbers would be dropped
    assert hit_rows(r, Reason.NOT_A_BOOLEAN, Severity.ERROR) == [2, 4]
    r = run({"$skip_user_properties_sync": pd.Series([True, None], dtype="boolean")})
    assert problems(r) == []


# -- constants are validated once and broadcast -------------------------------------------


def test_constant_broadcast_to_every_row():
    r = run({"user_id": ["user-0001", "user-0002", "user-0003"], "event_type": Const("[Amplitude] Revenue")})
    assert hit_rows(r, Reason.EVENT_TYPE_RESERVED) == [0, 1, 2]
    assert r.failures["column"].isna().all()  # a constant has no column


def test_constant_id_combines_per_row():
    r = run({"user_id": Const("abcd"), "device_id": ["device-01", None]})
    assert problems(r, Reason.ID_TOO_SHORT) == [
        (0, "user_id", "id_too_short", "warning"),
        (1, "user_id", "id_too_short", "error"),
    ]


# -- duplicates (Event keys -> insert_id: Amplitude keeps one event per insert_id and device/user)


def test_identical_rows_are_one_event_to_amplitude():
    r = run({"event_properties.amount": [5, 5, 6, 5], "user_id": ["user-1", "user-1", "user-1", "user-2"]})
    assert problems(r) == [(1, "insert_id", "duplicate_event", "warning")]
    f = r.failures.loc[1]
    assert "same event as row 0" in f["message"] and "insert_id column" in f["message"]
    assert pd.isna(f["column"])  # the whole row, no one column


def test_rows_with_the_same_insert_id_and_device_are_one_event():
    r = run(
        {
            "insert_id": ["a-1", "a-1", "a-1", None, None, "b-2"],
            "user_id": ["user-1", "user-1", "user-2", "user-1", "user-1", "user-1"],
            "event_properties.amount": [1, 2, 3, 4, 4, 5],  # content differs: the insert_id decides
        }
    )
    # Row 1 repeats row 0's id for the same user; row 2 is another user; rows 3 and 4
    # have no id, so theirs comes from their content, which is the same.
    assert hit_rows(r, Reason.DUPLICATE_EVENT) == [1, 4]
    f = r.failures.loc[1]
    assert f["column"] == "insert_id" and f["value"] == "a-1" and "same insert_id as row 0" in f["message"]
    assert pd.isna(r.failures.loc[4]["column"]) and "same event as row 3" in r.failures.loc[4]["message"]


def test_a_constant_insert_id_makes_every_later_row_a_duplicate():
    r = run({"event_properties.amount": [1, 2, 3], "insert_id": Const("same")})
    assert hit_rows(r, Reason.DUPLICATE_EVENT) == [1, 2]
    assert "(a constant)" in r.failures.loc[2]["message"]


def test_duplicates_are_found_across_slices_and_in_unhashable_cells(monkeypatch):
    import amp_notebook._duplicates as dup
    import amp_notebook._validation as val

    monkeypatch.setattr(dup, "SLICE_ROWS", 2)
    monkeypatch.setattr(val, "CHUNK_ROWS", 2)
    r = run({"event_properties.tags": [["a", "b"], ["c"], {"k": 1}, ["a", "b"], {"k": 1}]})
    assert hit_rows(r, Reason.DUPLICATE_EVENT) == [3, 4]
    messages = r.failures[r.failures["reason"] == "duplicate_event"]["message"].tolist()
    assert "row 0" in messages[0] and "row 2" in messages[1]


def test_duplicates_found_bucket_by_bucket_are_the_same(monkeypatch):
    # Issue 11: past BUCKET_ROWS the hashes are sorted by buckets of their top bits.
    import amp_notebook._duplicates as dup

    rng = np.random.default_rng(3)
    values = rng.integers(0, 150, 400)  # about 250 rows repeat an earlier one
    r = run({"event_properties.amount": values, "user_id": "user-1"})
    expected = [i for i in range(len(values)) if values[i] in values[:i]]
    assert hit_rows(r, Reason.DUPLICATE_EVENT) == expected
    monkeypatch.setattr(dup, "BUCKET_ROWS", 10)
    monkeypatch.setattr(dup, "SLICE_ROWS", 64)
    pd.testing.assert_frame_equal(run({"event_properties.amount": values, "user_id": "user-1"}).failures, r.failures)
    hashes = rng.integers(0, 2**64, 1_000, dtype=np.uint64)
    hashes[rng.integers(0, 1_000, 50)] = hashes[rng.integers(0, 1_000, 50)]  # some repeats, in every bucket
    assert dup._repeated(hashes).tolist() == sorted({h for h in hashes.tolist() if hashes.tolist().count(h) > 1})
    assert dup._is_in(hashes, dup._repeated(hashes)).tolist() == np.isin(hashes, dup._repeated(hashes)).tolist()


def test_row_hashes_are_pandas_frame_hashes_whatever_the_slices(monkeypatch):
    # Issue 11: columns are hashed one by one (ids without pandas' table of distinct values)
    # and combined as hash_pandas_object combines a frame's: the same 64-bit values.
    import amp_notebook._duplicates as dup

    n = 3_000
    rng = np.random.default_rng(5)
    df = pd.DataFrame({
        "user_id": pd.Series([f"user-{i:06d}" for i in rng.permutation(n)], dtype="str"),
        "insert_id": np.array([f"iid-{i}" if i % 7 else None for i in range(n)], dtype=object),
        "event_type": pd.Series(rng.choice(["Play", "Pause", None], n), dtype=object),
        "amount": rng.integers(0, 5, n),
        "price": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "country": pd.Categorical(rng.choice(["DE", "FR"], n)),
        "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 10, n), unit="s"),
    })
    assert [dup._mostly_distinct(df[c]) for c in df] == [True, True, False, False, False, False, False]
    expected = pd.util.hash_pandas_object(df, index=False).to_numpy()
    for rows in (100_000, 1_000, 7):
        monkeypatch.setattr(dup, "SLICE_ROWS", rows)
        assert np.array_equal(dup._row_hashes(df, list(df.columns)), expected)
    lists = pd.DataFrame({"tags": [["a"], ["b"], ["a"]], "user_id": ["u-1", "u-1", "u-1"]}, dtype=object)
    as_text = pd.util.hash_pandas_object(lists.astype(str), index=False).to_numpy()
    assert np.array_equal(dup._row_hashes(lists, ["tags", "user_id"]), as_text)
