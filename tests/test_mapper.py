"""df.amplitude.mapper(): the mapping widget, driven without a kernel or frontend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from amp_notebook import _session, const, to_events, validate
from amp_notebook._jupyter.mapper import UNMAPPED, MapperUI, mapper

CANARY = "canary-7d1e0f9a2b3c4d5e6f708192a3b4c5d6"
NOW_MS = 1_717_000_000_000  # 2024-05-29: the events below are a few days older


@pytest.fixture(autouse=True)
def clean_session() -> Iterator[None]:
    _session.reset()
    yield
    _session.reset()


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            # Reference, "General rules": "null" is refused as an id; ids shorter than 5 are refused.
            "user_id": ["alice01", "null", "ab", "carol01", "dave0001"],
            "account": ["acct-0001", "acct-0002", "acct-0003", "acct-0004", "acct-0005"],
            # Reference, "Event keys": event_type is required.
            "event_type": ["Play", "Play", "Pause", None, "Play"],
            "time": pd.to_datetime(
                ["2024-05-20 10:00", "2024-05-20 10:01", "2024-05-20 10:02", "2024-05-20 10:03", "2024-05-20 10:04"]
            ),
            "country": ["DE", "FR", "US", "US", "DE"],
            "event_properties.plan": ["free", "pro", "pro", "free", "team"],
            "score": [1.5, 2.0, 3.5, 4.0, 5.0],
        }
    )


def make(df: pd.DataFrame | None = None, **options: Any) -> MapperUI:
    return mapper(frame() if df is None else df, now_ms=NOW_MS, **options)


def test_prefilled_from_the_automatic_mapping() -> None:
    ui = make()
    assert ui.dropdowns["user_id"].value == "user_id"
    assert ui.dropdowns["event_type"].value == "event_type"
    assert ui.dropdowns["time"].value == "time"
    assert ui.dropdowns["country"].value == "country"
    assert ui.dropdowns["device_id"].value is UNMAPPED
    assert ui.selects["event_properties"].value == ("event_properties.plan",)
    assert ui.selects["user_properties"].value == ()
    # "(none)" plus every column, in the frame's order.
    assert list(ui.dropdowns["user_id"].options) == [("(none)", UNMAPPED)] + [(c, c) for c in frame().columns]


def test_counts_follow_the_dropdowns() -> None:
    ui = make()
    assert ui.report is not None
    # Rows 1 ("null"), 2 ("ab") and 3 (no event_type).
    assert ui.counts == {"rows": 5, "errors": 3, "warnings": 0}
    assert ui.report.error_positions.tolist() == [1, 2, 3]
    reasons = set(ui.report.failures["reason"].astype(str))
    assert {"id_invalid", "id_too_short", "event_type_missing"} <= reasons
    assert "3</b> with errors" in ui.summary.value

    ui.dropdowns["user_id"].value = "account"
    assert ui.counts["errors"] == 1
    assert ui.report.error_positions.tolist() == [3]
    assert "id_invalid" not in set(ui.report.failures["reason"].astype(str))
    assert "1</b> with errors" in ui.summary.value

    # No user_id and no device_id: every row breaks the id rule.
    ui.dropdowns["user_id"].value = UNMAPPED
    assert ui.counts["errors"] == 5
    assert ui.mapping["user_id"] is None


def test_preview_shows_the_failing_rows_highlighted() -> None:
    ui = make()
    (output,) = ui.preview.outputs
    html = output["data"]["text/html"]
    assert "<table" in html
    assert "carol01" in html  # row 3, missing event_type
    assert "alice01" not in html  # a valid row is not in the preview
    ui.dropdowns["user_id"].value = "account"
    ui.dropdowns["event_type"].value = "country"
    assert ui.counts["errors"] == 0
    (output,) = ui.preview.outputs
    assert "No problems" in output["data"]["text/plain"]


def test_mapping_and_code_reproduce_the_choice() -> None:
    df = frame()
    ui = make(df)
    ui.dropdowns["user_id"].value = "account"
    ui.selects["event_properties"].value = ("score",)
    ui.selects["user_properties"].value = ("country",)
    mapping = ui.mapping
    assert mapping["user_id"] == "account"
    # The automatic dotted property the user deselected is dropped by name.
    assert mapping["event_properties"] == {"score": "score", "plan": None}
    assert mapping["user_properties"] == ["country"]

    code = ui.code.value
    assert code == ui.code_text
    assert code.startswith("mapping = {")
    assert "'user_id': 'account'," in code
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    pasted = validate(df, namespace["mapping"], now_ms=NOW_MS)
    assert ui.report is not None
    assert pasted.error_positions.tolist() == ui.report.error_positions.tolist()
    event = next(iter(to_events(df, namespace["mapping"])))
    assert event["user_id"] == "acct-0001"
    assert event["event_properties"] == {"score": 1.5}
    assert event["user_properties"] == {"country": "DE"}


def test_constant_from_the_given_mapping_is_kept() -> None:
    df = frame().drop(columns=["event_type"])
    ui = make(df, mapping={"event_type": const("Play")})
    assert ui.dropdowns["event_type"].value == const("Play")
    assert ui.counts["errors"] == 2  # only the two bad user ids
    code = ui.code.value
    assert "from amp_notebook import const" in code
    assert "'event_type': const('Play')," in code


def test_ambiguous_columns_still_open() -> None:
    df = frame().assign(userId=["u-00001"] * 5)  # user_id and userId both match user_id
    ui = make(df)
    assert ui.dropdowns["user_id"].value == "user_id"
    assert ui.report is not None
    ui.dropdowns["user_id"].value = "userId"
    assert ui.mapping["user_id"] == "userId"
    assert ui.counts["errors"] == 1


def test_dry_run_and_upload_to_the_session_sandbox() -> None:
    from amp_notebook.sandbox import Sandbox

    ui = make()
    result = ui.dry_run()
    assert result is not None
    assert result.dry_run
    assert result.skipped_count == 3
    assert "dry run" in ui.output.outputs[-1]["data"]["text/plain"]

    sandbox = Sandbox().start()
    _session.use_sandbox(sandbox)
    ui.buttons["upload"].click()
    assert ui.result is not None
    assert not ui.result.dry_run
    assert ui.result.ingested_count == 2
    assert len(sandbox.ingested) == 2
    assert sorted(e["user_id"] for e in sandbox.ingested) == ["alice01", "dave0001"]
    assert "ingested 2" in ui.output.outputs[-1]["data"]["text/plain"]
    assert all(not b.disabled for b in ui.buttons.values())


def test_upload_without_a_key_shows_the_error() -> None:
    ui = make()
    assert ui.upload() is None
    text = ui.output.outputs[-1]["data"]["text/plain"]
    assert "API key" in text


def _widget_states(root: Any) -> list[dict[str, Any]]:
    """Every widget reachable from root (children, layout, style...), as get_state() dicts."""
    import ipywidgets as w

    seen: dict[str, Any] = {}
    stack = [root]
    while stack:
        widget = stack.pop()
        if widget.model_id in seen:
            continue
        seen[widget.model_id] = widget
        for name in widget.keys:
            value = getattr(widget, name)
            values = value if isinstance(value, (list, tuple)) else [value]
            stack += [v for v in values if isinstance(v, w.Widget)]
    return [w_.get_state() for w_ in seen.values()]


def test_the_key_is_never_in_widget_state_or_repr() -> None:
    from amp_notebook.sandbox import Sandbox

    _session.set_key(CANARY)
    ui = make(api_key=CANARY)
    sandbox = Sandbox().start()
    _session.use_sandbox(sandbox)
    ui.dropdowns["user_id"].value = "account"
    ui.upload()
    assert ui.result is not None
    assert ui.result.ingested_count == 4
    ui.dry_run()
    states = _widget_states(ui.widget)
    assert len(states) > 40  # dropdowns, selects, buttons, outputs, their layouts and styles
    text = json.dumps(states, default=repr)
    assert CANARY not in text
    assert CANARY not in repr(ui)
    assert CANARY not in repr(ui.result)
    assert CANARY not in str(ui._repr_mimebundle_())


def test_displayable() -> None:
    ui = make()
    bundle = ui._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ui.widget.model_id
    assert repr(ui).startswith("MapperUI: 5 rows")
    assert bundle["text/plain"] == repr(ui)
    assert "mapping = {" in bundle["text/plain"]


def test_live_off_waits_for_validate() -> None:
    ui = make(live=False)
    assert ui.counts["errors"] == 3
    ui.dropdowns["user_id"].value = "account"
    assert ui.counts["errors"] == 3  # not re-validated yet
    assert "'user_id': 'account'" in ui.code.value
    ui.buttons["validate"].click()
    assert ui.counts["errors"] == 1


def test_integer_column_labels() -> None:
    df = pd.DataFrame({0: ["alice01", "bob0001"], "event_type": ["A", "B"], 2: np.array([1, 2])})
    ui = make(df)
    ui.dropdowns["user_id"].value = 0
    assert ui.mapping["user_id"] == 0
    assert "'user_id': 0," in ui.code.value
    assert ui.counts["errors"] == 0


def test_an_insert_id_key_is_kept_shown_and_written_as_code() -> None:
    # README, "An insert_id from your own key": mapping={"insert_id": key(...)}.
    from amp_notebook import key

    df = frame()
    given = {"insert_id": key("account", "event_type"), "event_properties.plan": "event_properties.plan"}
    ui = make(df, mapping=given)
    assert ui.error is None and ui.report is not None
    assert ui.mapping["insert_id"] == key("account", "event_type")
    # The same events as the mapping given, insert_ids included.
    events = list(to_events(df.iloc[[0, 4]], ui.mapping))
    assert len(events) == 2 and events == list(to_events(df.iloc[[0, 4]], given))
    # Shown in its dropdown, and pasteable: the code imports key.
    assert ui.dropdowns["insert_id"].value == key("account", "event_type")
    assert ui.dropdowns["insert_id"].label == "key('account', 'event_type')"
    assert "'insert_id': key('account', 'event_type')," in ui.code_text
    assert "from amp_notebook import key" in ui.code_text
    namespace: dict[str, Any] = {}
    exec(ui.code_text, namespace)
    assert namespace["mapping"] == ui.mapping
    # Other changes keep it; choosing a column (or none) replaces it, and it can be chosen again.
    ui.dropdowns["country"].value = UNMAPPED
    assert ui.mapping["insert_id"] == key("account", "event_type")
    ui.dropdowns["insert_id"].value = "account"
    assert ui.mapping["insert_id"] == "account"
    ui.dropdowns["insert_id"].value = key("account", "event_type")
    assert ui.mapping["insert_id"] == key("account", "event_type")
    assert "key(" in repr(ui)
