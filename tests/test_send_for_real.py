"""Notebook 05 sends to the user's own project: events dated now, and a test project first (issue 17, item 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05-your-amplitude-project.ipynb"


def _cells() -> list[dict[str, object]]:
    return list(json.loads(NOTEBOOK.read_text())["cells"])


def _source(cell: dict[str, object]) -> str:
    return "".join(cell["source"])  # type: ignore[arg-type]


def test_the_events_it_sends_are_dated_now() -> None:
    # The notebook's own code up to the events (magics left out), run here.
    namespace: dict[str, object] = {}
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(line for line in _source(cell).splitlines() if not line.lstrip().startswith("%"))
        if "NBVAL_SKIP" in code or ".upload(" in code:
            continue
        exec(code, namespace)
        if "events" in namespace:
            break
    events = namespace["events"]
    assert isinstance(events, pd.DataFrame) and len(events) == 300
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    age = now - events["time"]
    assert age.min() >= pd.Timedelta(0), "no event in the future"
    assert age.min() < pd.Timedelta(minutes=5), "the newest event is from just now"
    assert age.max() < pd.Timedelta(days=4), "and the oldest from the last few days"


def test_it_says_where_the_events_land_and_suggests_a_test_project() -> None:
    text = " ".join(_source(c) for c in _cells() if c["cell_type"] == "markdown")
    assert "test project" in text
    assert "your real project" in text or "real project's key" in text
    assert "today" in text and "last days" not in text
