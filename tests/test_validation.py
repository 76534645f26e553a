"""validate_frame and the ValidationReport API, on well-formed and awkward frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amp_notebook._mapping import Const, Field, ResolvedMapping
from amp_notebook._report import FAILURE_COLUMNS, ValidationReport
from amp_notebook._validation import ValidateOptions, validate_frame

NOW_MS = 1_780_000_000_000
OPTS = ValidateOptions(now_ms=NOW_MS)


def rm_of(**keys: object) -> ResolvedMapping:
    """ResolvedMapping from key=column (or Const); "event_properties__x" for nested."""
    fields = []
    for key, source in keys.items():
        top, _, name = key.partition("__")
        fields.append(Field(top.replace("skip_sync", "$skip_user_properties_sync"), name or None, source))
    return ResolvedMapping(tuple(fields))


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": ["user-0001", "abc", None, "NULL", "user-0005", "user-0006"],
            "name": ["Click", "Click", "View", "View", None, "[Amplitude] Revenue"],
            "ts": pd.to_datetime(
                ["2026-05-01", "2026-05-01", "2026-05-02", "2026-05-02", "2026-05-03", "1999-12-31"]
            ),
            "plan": ["free", "pro", "pro", "free", "free", "x" * 2000],
        },
        index=pd.Index(["a", "b", "c", "d", "e", "f"], name="event"),
    )


@pytest.fixture
def report(events: pd.DataFrame) -> ValidationReport:
    rm = rm_of(user_id="uid", event_type="name", time="ts", event_properties__plan="plan")
    return validate_frame(events, rm, OPTS)


def test_failures_table_shape(report: ValidationReport):
    f = report.failures
    assert tuple(f.columns) == FAILURE_COLUMNS
    assert f.index.name == "position"
    assert f.index.is_monotonic_increasing
    # the row column holds the frame's own labels
    assert list(f["row"]) == [report.frame.index[p] for p in f.index]
    assert set(f["severity"]) <= {"error", "warning"}


def test_failures_content(report: ValidationReport):
    f = report.failures.reset_index()
    got = list(zip(f["position"], f["row"], f["column"], f["key"], f["severity"], f["reason"], strict=True))
    assert got == [
        (1, "b", "uid", "user_id", "error", "id_too_short"),
        (2, "c", "uid", "user_id", "error", "id_missing"),
        (3, "d", "uid", "user_id", "error", "id_invalid"),
        (4, "e", "name", "event_type", "error", "event_type_missing"),
        (5, "f", "name", "event_type", "error", "event_type_reserved"),
        (5, "f", "ts", "time", "warning", "time_suspicious"),
        (5, "f", "plan", "event_properties.plan", "error", "string_too_long"),
    ]


def test_messages_say_what_and_what_to_do(report: ValidationReport):
    f = report.failures.set_index("reason")
    assert "3 characters" in f.loc["id_too_short", "message"]
    assert "min_id_length=5" in f.loc["id_too_short", "message"]
    assert "'[Amplitude] Revenue' is reserved" in f.loc["event_type_reserved", "message"]
    assert "2,000 characters" in f.loc["string_too_long", "message"]
    assert "shorten" in f.loc["string_too_long", "message"]


def test_values_are_the_offending_values(report: ValidationReport):
    f = report.failures.set_index("reason")
    assert f.loc["id_too_short", "value"] == "abc"
    assert f.loc["id_invalid", "value"] == "NULL"
    long = f.loc["string_too_long", "value"]
    assert isinstance(long, str)
    assert len(long) < 100
    assert "2,000 characters" in long


def test_ok_positions_and_slices(events: pd.DataFrame, report: ValidationReport):
    before = events.copy()
    assert not report.ok
    assert report.error_positions.tolist() == [1, 2, 3, 4, 5]
    assert report.error_positions.dtype.kind == "i"
    assert list(report.valid_rows().index) == ["a"]
    assert list(report.invalid_rows().index) == ["b", "c", "d", "e", "f"]
    assert report.frame is events  # not copied
    pd.testing.assert_frame_equal(events, before)  # never mutated
    pd.testing.assert_frame_equal(report.valid_rows(), events.iloc[[0]])


def test_warnings_only_is_ok():
    df = pd.DataFrame({"uid": ["abcd"], "dev": ["device-01"], "name": ["Click"]})
    r = validate_frame(df, rm_of(user_id="uid", device_id="dev", event_type="name"), OPTS)
    assert r.ok
    assert r.error_positions.size == 0
    assert len(r.failures) == 1
    assert r.failures["severity"].iloc[0] == "warning"
    assert len(r.valid_rows()) == 1
    assert len(r.invalid_rows()) == 0


def test_counts(report: ValidationReport):
    c = report.counts()
    assert list(c.columns) == ["reason", "severity", "problems", "rows"]
    assert list(c["severity"]) == ["error"] * 6 + ["warning"]  # errors first
    assert c.set_index("reason").loc["time_suspicious", "rows"] == 1
    assert c["problems"].sum() == len(report.failures)


def test_repr_is_deterministic_text(report: ValidationReport):
    text = repr(report)
    assert text.splitlines()[0] == "ValidationReport: 6 rows, 5 with errors, 1 with warnings"
    assert "event_type_reserved" in text
    assert "time_suspicious" in text
    assert repr(report) == text


def test_big_numbers_in_repr():
    df = pd.DataFrame({"uid": [str(i) for i in range(1500)], "name": ["Click"] * 1500})  # all too short
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert repr(r).startswith("ValidationReport: 1,500 rows, 1,500 with errors, 0 with warnings")


def test_repr_html(report: ValidationReport):
    html = report._repr_html_()
    assert "5 with errors" in html
    assert "amp-validation" in html
    assert "x" * 2000 not in html  # long values are not dumped in full... in the summary table


def test_empty_frame():
    df = pd.DataFrame({"uid": pd.Series([], dtype=object), "name": pd.Series([], dtype=object)})
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert r.ok
    assert r.failures.empty
    assert tuple(r.failures.columns) == FAILURE_COLUMNS
    assert r.counts().empty
    assert repr(r) == "ValidationReport: 0 rows, 0 with errors, 0 with warnings"
    assert r.valid_rows().empty
    assert r.invalid_rows().empty
    r.style().to_html()
    r._repr_html_()


def test_empty_mapping_on_empty_frame():
    r = validate_frame(pd.DataFrame(), ResolvedMapping(()), OPTS)
    assert r.ok


# -- awkward frames ---------------------------------------------------------------------------


def test_non_string_column_labels():
    df = pd.DataFrame({0: ["user-0001", "abc"], 1: ["Click", None], (2, "t"): [NOW_MS, "x"]})
    r = validate_frame(df, rm_of(user_id=0, event_type=1, time=(2, "t")), OPTS)
    f = r.failures
    assert list(f["column"]) == [0, 1, (2, "t")]
    assert list(f["reason"]) == ["id_too_short", "event_type_missing", "time_invalid"]
    r.style().to_html()


def test_duplicate_index_labels():
    df = pd.DataFrame({"uid": ["user-0001", "abc", "null"], "name": ["Click"] * 3}, index=[7, 7, 7])
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert r.error_positions.tolist() == [1, 2]
    errors = r.failures[r.failures["severity"] == "error"]
    assert list(errors["row"]) == [7, 7]
    assert r.warning_positions.tolist() == [1, 2]  # duplicate_index: the label repeats
    assert len(r.valid_rows()) == 1
    assert r.valid_rows()["uid"].iloc[0] == "user-0001"
    assert len(r.invalid_rows()) == 2
    assert "abc" in r.style().to_html()


def test_multiindex_index():
    idx = pd.MultiIndex.from_tuples([("x", 1), ("x", 2)], names=["k", "n"])
    df = pd.DataFrame({"uid": ["user-0001", "abc"], "name": ["Click", "Click"]}, index=idx)
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert list(r.failures["row"]) == [("x", 2)]
    assert r.invalid_rows().index.tolist() == [("x", 2)]
    r.style().to_html()


def test_categorical_nullable_and_arrow_dtypes():
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {
            "uid": pd.Series(["user-0001", "abc", None], dtype="string[pyarrow]"),
            "dev": pd.Series([None, "device-02", None], dtype="string"),
            "name": pd.Categorical(["Click", None, "[Amplitude] Revenue"]),
            "qty": pd.Series([1, None, 3], dtype="Int64"),
            "price": pd.Series([1.5, None, 2.0], dtype="float64[pyarrow]"),
            "flag": pd.Series([True, None, False], dtype="boolean"),
            "lat": pd.Series([10.0, 95.0, None], dtype="Float64"),
        }
    )
    rm = rm_of(user_id="uid", device_id="dev", event_type="name", quantity="qty", price="price",
               skip_sync="flag", location_lat="lat")
    r = validate_frame(df, rm, OPTS)
    got = list(zip(r.failures.index, r.failures["reason"], r.failures["severity"], strict=True))
    # within a row, failures follow the mapping's order
    assert got == [
        (1, "id_too_short", "warning"),
        (1, "event_type_missing", "error"),
        (1, "lat_out_of_range", "error"),
        (2, "id_missing", "error"),
        (2, "event_type_reserved", "error"),
    ]
    r.style().to_html()


def test_categorical_integer_ids():
    df = pd.DataFrame({"uid": pd.Categorical([123456, 12, None]), "name": ["a", "b", "c"]})
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert list(zip(r.failures.index, r.failures["reason"], strict=True)) == [
        (1, "id_too_short"), (2, "id_missing")
    ]


def test_mixed_type_object_columns():
    df = pd.DataFrame(
        {
            "uid": pd.Series(["user-0001", 123, 1234567, None, 0.0, b"bytes-id"], dtype=object),
            "name": pd.Series(["Click", 5, "View", "View", "View", "View"], dtype=object),
            "prop": pd.Series([1, "x" * 1025, [1, "y" * 1025], {"a": None}, None, 2.5], dtype=object),
            "price": pd.Series([1, "2", 3.5, None, True, np.nan], dtype=object),
        }
    )
    rm = rm_of(user_id="uid", event_type="name", event_properties__prop="prop", price="price")
    r = validate_frame(df, rm, OPTS)
    got = list(zip(r.failures.index, r.failures["key"], r.failures["reason"], strict=True))
    assert got == [
        (1, "user_id", "id_too_short"),  # 123 is sent as "123"
        (1, "event_properties.prop", "string_too_long"),
        (1, "price", "not_a_number"),  # "2" is text
        (2, "event_properties.prop", "string_too_long"),
        (3, "user_id", "id_missing"),
        (4, "user_id", "id_invalid"),  # 0.0 is sent as "0"
        (4, "price", "not_a_number"),  # True is not a number
    ]


def test_all_nan_columns():
    df = pd.DataFrame(
        {
            "uid": [np.nan] * 3,
            "dev": [None] * 3,
            "name": ["a", "b", "c"],
            "t": [np.nan] * 3,
            "p": [None] * 3,
            "price": [np.nan] * 3,
            "g": [None] * 3,
        }
    )
    rm = rm_of(user_id="uid", device_id="dev", event_type="name", time="t",
               event_properties__p="p", price="price", groups__g="g")
    r = validate_frame(df, rm, OPTS)
    assert list(r.failures["reason"]) == ["id_missing", "time_missing"] * 3


def test_duplicate_column_labels_do_not_crash():
    df = pd.DataFrame([["user-0001", "Click", "x"]], columns=["uid", "name", "name"])
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    assert r.ok


def test_constants_have_no_column():
    df = pd.DataFrame({"uid": ["user-0001", "user-0002"]})
    r = validate_frame(df, rm_of(user_id="uid", event_type=Const(None)), OPTS)
    assert list(r.failures["reason"]) == ["event_type_missing"] * 2
    assert r.failures["column"].isna().all()
    assert list(r.failures["row"]) == [0, 1]


def test_with_automatic_mapping():
    from amp_notebook._mapping import resolve_mapping

    df = pd.DataFrame(
        {
            "user_id": ["user-0001", "n/a"],
            "event_type": ["Click", "Click"],
            "time": ["2026-05-01T00:00:00Z", "later"],
            "event_properties.plan": ["pro", "y" * 1025],
        }
    )
    r = validate_frame(df, resolve_mapping(df.columns), OPTS)
    assert list(zip(r.failures["key"], r.failures["reason"], strict=True)) == [
        ("user_id", "id_invalid"),
        ("time", "time_invalid"),
        ("event_properties.plan", "string_too_long"),
    ]


def test_default_options():
    df = pd.DataFrame({"uid": ["user-0001"], "name": ["Click"], "t": [NOW_MS * 10]})
    r = validate_frame(df, rm_of(user_id="uid", event_type="name", time="t"))
    assert r.ok
    assert r.failures.empty  # no clock: the "future" half of the time rule is off


def _python_calls(fn: object) -> int:
    """How many Python-level function calls ``fn()`` makes (deterministic, unlike a timer)."""
    import sys

    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        fn()  # type: ignore[operator]
    finally:
        sys.setprofile(None)
    return calls


def test_validation_is_column_wise():
    # Valid rows cost no Python call each: 100x the rows, about the same calls. Failing
    # cells may cost a few (a message per distinct value), never a row-wise loop.
    # Counted, not timed, so a busy machine cannot fail it.
    def run(n: int, uid: str, first: int, failures: int) -> None:
        df = pd.DataFrame({"uid": [uid] * n, "name": ["Click"] * n, "t": first + np.arange(n)})
        r = validate_frame(df, rm_of(user_id="uid", event_type="name", time="t"), OPTS)
        assert len(r.failures) == failures

    ok = ("user-00001", 1_780_000_000_000)
    valid_small, valid_large = (_python_calls(lambda n=n: run(n, *ok, 0)) for n in (2_000, 200_000))
    assert valid_large < 2 * valid_small, (valid_small, valid_large)
    # Too short an id, and seconds read as milliseconds: two failing cells per row.
    failing = _python_calls(lambda: run(200_000, "abc", 1_780_000_000, 400_000))
    assert failing < valid_small + 2 * 400_000, failing  # at most 2 calls per failing cell


def test_bad_options_are_configuration_errors():
    from amp_notebook._exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="min_id_length"):
        ValidateOptions(min_id_length=0)
    with pytest.raises(ConfigurationError, match="time_unit"):
        ValidateOptions(time_unit="minutes")


hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

_cells = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(st.lists(st.tuples(_cells, _cells, _cells, _cells, _cells), max_size=8))
def test_any_object_frame_validates(rows):
    df = pd.DataFrame(rows, columns=["uid", "name", "t", "price", "prop"], dtype=object)
    rm = rm_of(user_id="uid", event_type="name", time="t", price="price", event_properties__prop="prop")
    r = validate_frame(df, rm, OPTS)
    n = len(df)
    assert set(r.error_positions.tolist()) <= set(range(n))
    assert len(r.valid_rows()) + len(r.invalid_rows()) == n
    # a row with neither id present always fails
    no_id = [i for i, row in enumerate(rows) if row[0] is None or (isinstance(row[0], float) and row[0] != row[0])]
    assert set(no_id) <= set(r.error_positions.tolist())
    repr(r)


def test_large_frames_are_validated_in_slices_with_the_same_answer(monkeypatch):
    import amp_notebook._validation as v
    from amp_notebook._mapping import resolve_mapping

    df = pd.DataFrame(
        {
            "user_id": [f"user-{i:05d}" if i % 7 else "null" for i in range(50)],
            "event_type": ["Play" if i % 11 else "" for i in range(50)],
        },
        index=[f"r{i}" for i in range(50)],
    )
    rm = resolve_mapping(df.columns)
    whole = v.validate_frame(df, rm)
    monkeypatch.setattr(v, "CHUNK_ROWS", 8)
    sliced = v.validate_frame(df, rm)
    pd.testing.assert_frame_equal(whole.failures, sliced.failures)
    assert list(whole.error_positions) == list(sliced.error_positions)
