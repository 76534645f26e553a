"""style_failures / ValidationReport.style(): highlighted, escaped, capped, deterministic."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from amp_notebook._mapping import Field, ResolvedMapping
from amp_notebook._styler import ERROR_CSS, STYLER_UUID, WARNING_CSS, style_failures
from amp_notebook._validation import ValidateOptions, validate_frame

pytest.importorskip("jinja2")

OPTS = ValidateOptions(now_ms=1_780_000_000_000)


def rm_of(**keys: object) -> ResolvedMapping:
    """key=column; "event_properties__name" for a nested value."""
    fields = []
    for key, source in keys.items():
        top, _, name = key.partition("__")
        fields.append(Field(top, name or None, source))
    return ResolvedMapping(tuple(fields))


def css_rules(html: str) -> dict[str, str]:
    """cell id -> its CSS declarations, from the <style> block."""
    style = html.split("</style>")[0]
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style):
        for sel in selectors.split(","):
            sel = sel.strip().replace('<style type="text/css">', "").strip()
            rules[sel] = rules.get(sel, "") + body
    return rules


def cell_id(html: str, text: str) -> str:
    """The id of the <td> whose text is ``text``."""
    # pandas 2.2 appends an empty tooltip <span> to each cell
    m = re.search(r'<td id="([^"]+)"[^>]*>' + re.escape(text) + r'(<span class="pd-t"></span>)?</td>', html)
    assert m, f"no cell {text!r}"
    return m.group(1)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": ["user-0001", "abc", "abcd", "user-0004"],
            "dev": [None, None, "device-03", None],
            "name": ["Click", "Click", "Click", "<script>alert(1)</script>"],
            "unmapped_secret": ["s1", "s2", "s3", "s4"],
        },
        index=["r0", "r1", "r2", "r3"],
    )


@pytest.fixture
def report(frame: pd.DataFrame):
    return validate_frame(frame, rm_of(user_id="uid", device_id="dev", event_type="name"), OPTS)


def test_only_failing_rows_and_mapped_columns(report):
    styler = report.style()
    data = styler.data
    assert list(data.index) == ["r1", "r2"]  # r0 and r3 pass ("<script>..." is a fine event name)
    assert list(data.columns) == ["uid", "dev", "name", "reasons"]
    assert "unmapped_secret" not in styler.to_html()


def test_failing_cell_highlighted_by_severity(report):
    html = report.style().to_html()
    rules = css_rules(html)
    error_cell = "#" + cell_id(html, "abc")  # too short, no other id: error
    warning_cell = "#" + cell_id(html, "abcd")  # too short, device id remains: warning
    assert "background-color: #f8d7da" in rules[error_cell]
    assert "background-color: #fff3cd" in rules[warning_cell]
    assert ERROR_CSS.split(";")[0] in rules[error_cell]
    assert WARNING_CSS.split(";")[0] not in rules[error_cell]
    ok_cell = "#" + cell_id(html, "device-03")
    assert ok_cell not in rules


def test_reasons_column_is_visible_text(report):
    data = report.style().data
    assert data.loc["r1", "reasons"] == "user_id: id_too_short (error)"
    assert data.loc["r2", "reasons"] == "user_id: id_too_short (warning)"
    assert "id_too_short (error)" in report.style().to_html()  # no CSS needed to read it


def test_reason_as_tooltip(report):
    html = report.style().to_html()
    assert "fewer than min_id_length=5" in html


def test_html_is_escaped():
    df = pd.DataFrame(
        {
            "uid": ["<b>", "user-0002"],  # too short: the row fails
            "name": ["<script>alert(1)</script>", None],
            "tags": [["<script>in a list</script>" + "x" * 1100], None],
        }
    )
    rm = rm_of(user_id="uid", event_type="name", event_properties__tags="tags")
    rm = ResolvedMapping((*rm.fields, Field("event_properties", "<img src=x onerror=alert(1)>", "tags")))
    r = validate_frame(df, rm, OPTS)
    assert list(r.style().data.index) == [0, 1]
    html = r.style().to_html()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the property key, in a tooltip
    assert "<script>" not in html
    assert "<b>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_fixed_uuid_renders_identically(report, frame):
    first = report.style().to_html()
    second = report.style().to_html()
    again = validate_frame(frame, rm_of(user_id="uid", device_id="dev", event_type="name"), OPTS)
    assert first == second == again.style().to_html()
    assert f"T_{STYLER_UUID}" in first


def test_cap_and_more_caption():
    df = pd.DataFrame({"uid": [f"a{i}" for i in range(150)] + [f"user-{i:04d}" for i in range(10)], "name": ["Click"] * 160})
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    styler = r.style(max_rows=100)
    assert len(styler.data) == 100
    html = styler.to_html()
    assert "and 50 more rows" in html
    assert html.count("<tr>") == 101  # header + 100 rows
    small = r.style(max_rows=200)
    assert len(small.data) == 150
    assert "more rows" not in small.to_html()


def test_style_failures_directly(frame, report):
    styler = style_failures(frame, report.failures, max_rows=1)
    assert list(styler.data.index) == ["r1"]
    assert list(styler.data.columns) == ["uid", "reasons"]  # default: the failing columns
    assert "and 1 more row<" in styler.to_html()  # singular for one


def test_long_values_are_cut():
    df = pd.DataFrame({"uid": ["user-0001"], "name": ["x" * 5000]})
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    html = r.style().to_html()
    assert "x" * 1000 not in html
    assert "5,000 characters" in html


def test_duplicate_index_and_no_failures():
    df = pd.DataFrame({"uid": ["abc", "abc"], "name": ["a", "b"]}, index=[1, 1])
    r = validate_frame(df, rm_of(user_id="uid", event_type="name"), OPTS)
    styler = r.style()
    assert len(styler.data) == 2
    html = styler.to_html()
    assert html.count("background-color: #f8d7da") == 1  # one rule for both cells
    ok = validate_frame(df.assign(uid="user-0001").reset_index(drop=True), rm_of(user_id="uid", event_type="name"), OPTS)
    assert "no rows with problems" in ok.style().to_html()
