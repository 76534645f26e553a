"""Columns that map to no event key are named, with how to send them (issue 12, item 5).

Automatic mapping takes only columns named like event keys; every other column is left
out of the events. Silently dropping data is what the developers' guide forbids
("nothing is lost"), so the report (text and HTML), the mapper and the CLI say which
columns will not be sent and how to send them.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import amp_notebook  # noqa: F401  (registers df.amplitude)
from amp_notebook._mapping import resolve_mapping
from amp_notebook._unmapped import unmapped_columns, unmapped_text
from amp_notebook.cli import main

NOW_MS = 1_750_000_000_000


def frame() -> pd.DataFrame:
    saved = io.StringIO()
    pd.DataFrame(
        {
            "user_id": ["user-00001", "user-00002"],
            "event_type": ["Purchase", "Purchase"],
            "time": [NOW_MS - 1000, NOW_MS - 500],
            "amount": [9.99, 4.5],
            "props": ["a", "b"],
            "event_properties.sku": ["s-1", "s-2"],
        }
    ).to_csv(saved)  # index=True: read back, it is the "Unnamed: 0" column
    saved.seek(0)
    return pd.read_csv(saved)


def test_unmapped_columns_are_the_frames_columns_no_key_uses() -> None:
    df = frame()
    assert df.columns[0] == "Unnamed: 0"
    used = resolve_mapping(df.columns).columns()
    assert unmapped_columns(df.columns, used) == ["Unnamed: 0", "amount", "props"]
    used = resolve_mapping(df.columns, {"event_properties": ["amount"]}).columns()
    assert unmapped_columns(df.columns, used) == ["Unnamed: 0", "props"]


def test_text_says_how_to_send_them_in_python_and_on_the_command_line() -> None:
    text = unmapped_text(["amount", "props"])
    assert "'amount', 'props'" in text
    assert "not sent" in text
    assert "mapping={'event_properties': ['amount', 'props']}" in text
    cli = unmapped_text(["amount", "props"], cli=True)
    assert "--map event_properties=amount,props" in cli
    assert unmapped_text([]) == ""


def test_a_saved_index_is_named_as_such() -> None:
    text = unmapped_text(["Unnamed: 0", "amount"])
    assert "index_col=0" in text
    # The index is not suggested as a property.
    assert "mapping={'event_properties': ['amount']}" in text


def test_long_lists_are_cut_but_counted() -> None:
    names = [f"c{i}" for i in range(40)]
    text = unmapped_text(names)
    assert "40 columns" in text and "and 30 more" in text
    assert "c0" in text and "c39" not in text
    assert "[col1, col2, ...]" in text
    assert "c29" in unmapped_text(names[:30])  # up to 30, the hint lists them all


def test_report_text_and_html_name_the_unsent_columns() -> None:
    report = frame().amplitude.validate(now_ms=NOW_MS)
    assert report.unmapped == ["Unnamed: 0", "amount", "props"]
    assert "not sent" in repr(report) and "'amount'" in repr(report)
    assert "amount" in report._repr_html_() and "not sent" in report._repr_html_()
    # Everything mapped: nothing said.
    full = frame().drop(columns=["Unnamed: 0"]).amplitude.validate({"event_properties": ["amount", "props"]}, now_ms=NOW_MS)
    assert full.unmapped == []
    assert "not sent" not in repr(full)


def test_mapper_names_the_unsent_columns() -> None:
    from amp_notebook._jupyter.mapper import mapper

    ui = mapper(frame(), now_ms=NOW_MS)
    assert "Not sent (no event key): &#x27;Unnamed: 0&#x27;, &#x27;amount&#x27;, &#x27;props&#x27;" in ui.summary.value
    ui.selects["event_properties"].value = ("amount", "props", "Unnamed: 0", "event_properties.sku")
    ui.validate()
    assert "no event key" not in ui.summary.value


@pytest.mark.parametrize("command", ["validate", "upload"])
def test_cli_names_the_unsent_columns(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "events.csv"
    frame().to_csv(src, index=False)
    args = [command, str(src)] + (["--dry-run"] if command == "upload" else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "not sent" in out
    assert "--map event_properties=amount,props" in out
