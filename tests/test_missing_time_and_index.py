"""Two traps of real exports (issue 17, items 1 and 2).

* An empty time cell, with ``time`` mapped, would go out without ``time`` and Amplitude
  would stamp the event with the upload time: ``time_missing`` (an error unless
  ``missing_time="upload_time"`` says that is wanted).
* Duplicate index labels (``pd.concat``) make ``df.loc[labels]`` pick more rows than
  meant: ``duplicate_index`` warns, and ``UploadResult.to_resend()`` picks by position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import Sandbox

NOW_MS = 1_800_000_000_000
KEY = "test-key-missing-time"


def _reasons(report: amp.ValidationReport, reason: str) -> pd.DataFrame:
    f = report.failures
    return f[f["reason"] == reason]


# -- time_missing -------------------------------------------------------------------------


def test_the_issue_example_is_an_error_naming_row_and_column() -> None:
    df = pd.DataFrame({
        "user_id": ["user-00001", "user-00002"],
        "event_type": ["A", "B"],
        "time": [pd.Timestamp("2026-03-04 10:00"), pd.NaT],
    })
    report = df.amplitude.validate(now_ms=NOW_MS)
    assert not report.ok
    hits = _reasons(report, "time_missing")
    assert hits.index.tolist() == [1]
    hit = hits.iloc[0]
    assert (hit["row"], hit["column"], hit["key"], hit["severity"]) == (1, "time", "time", "error")
    # The message says what happens and how to accept it on purpose.
    assert "upload time" in hit["message"] and "missing_time='upload_time'" in hit["message"]


@pytest.mark.parametrize(
    "cells",
    [
        ["2026-03-04T10:00:00Z", None, "", "   "],                       # text: None, empty, blank
        [1_772_618_400_000, np.nan, np.nan, np.nan],                      # ms with gaps (float)
        pd.array([1_772_618_400_000, None, None, None], dtype="Int64"),   # nullable ints
        [pd.Timestamp("2026-03-04", tz="UTC"), None, pd.NaT, np.nan],     # objects
    ],
)
def test_every_kind_of_empty_cell_is_missing(cells: object) -> None:
    df = pd.DataFrame({"user_id": ["user-00001"] * 4, "event_type": ["A"] * 4, "when": cells})
    report = df.amplitude.validate({"time": "when"}, now_ms=NOW_MS)
    assert _reasons(report, "time_missing").index.tolist() == [1, 2, 3]
    assert _reasons(report, "time_invalid").empty


def test_not_mapped_time_is_not_missing() -> None:
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["A"], "when": [None]})
    assert df.amplitude.validate(now_ms=NOW_MS).ok  # "when" is not mapped: upload time for all


def test_missing_time_upload_time_accepts_it_as_a_warning() -> None:
    df = pd.DataFrame({"user_id": ["user-00001"] * 2, "event_type": ["A"] * 2,
                       "time": [pd.Timestamp("2026-03-04"), pd.NaT]})
    report = df.amplitude.validate(now_ms=NOW_MS, missing_time="upload_time")
    assert report.ok
    hits = _reasons(report, "time_missing")
    assert hits.index.tolist() == [1] and hits["severity"].tolist() == ["warning"]


def test_missing_time_option_is_checked() -> None:
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["A"]})
    with pytest.raises(amp.ConfigurationError, match="missing_time"):
        df.amplitude.validate(missing_time="now")


def test_upload_skips_rows_without_time_unless_asked() -> None:
    df = pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["A", "B"],
                       "time": [pd.Timestamp("2026-03-04 10:00"), pd.NaT]})
    with Sandbox() as sb:
        result = df.amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False)
        assert (result.ingested_count, result.skipped_count) == (1, 1)
        assert result.skipped["_amplitude_reason"].tolist() == ["invalid: time_missing"]
        sent = df.amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False,
                                   missing_time="upload_time")
        assert sent.ingested_count == 2
        stored = {e["user_id"]: e for e in sb.ingested}
        assert stored["user-00001"]["time"] == 1_772_618_400_000
        assert "time" not in stored["user-00002"] or stored["user-00002"]["time"] != 1_772_618_400_000


# -- duplicate_index ------------------------------------------------------------------------


def _two_exports(n: int = 6) -> pd.DataFrame:
    a = pd.DataFrame({"user_id": [f"user-a{i:04d}" for i in range(n)], "event_type": ["A"] * n,
                      "time": pd.date_range("2026-03-04", periods=n, freq="min")})
    b = a.assign(user_id=[f"user-b{i:04d}" for i in range(n)])
    return pd.concat([a, b])  # labels 0..n-1 twice


def test_duplicate_index_warns_naming_the_first_row() -> None:
    df = _two_exports(3)
    report = df.amplitude.validate(now_ms=NOW_MS)
    assert report.ok  # a warning: the rows themselves are fine
    hits = _reasons(report, "duplicate_index")
    assert hits.index.tolist() == [3, 4, 5]  # positions of the later copies
    assert hits["row"].tolist() == [0, 1, 2]
    assert set(hits["severity"]) == {"warning"}
    assert "position 0" in hits["message"].iloc[0]
    assert "to_resend()" in hits["message"].iloc[0]


def test_unique_index_has_no_warning() -> None:
    df = _two_exports(3).reset_index(drop=True)
    assert _reasons(df.amplitude.validate(now_ms=NOW_MS), "duplicate_index").empty


def test_to_resend_picks_the_failed_rows_by_position() -> None:
    df = _two_exports(6)
    with Sandbox() as sb:
        sb.fail_next(1, 503)  # the first request fails for good: no retries
        result = df.amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False,
                                     max_events_per_request=2, concurrency=1,
                                     retry=RetryPolicy.none())
        assert result.failed_count == 2
        # The old recipe picks every row sharing a failed row's label: too many.
        assert len(df.loc[result.failed.index]) == 4
        assert "result.to_resend()" in result._repr_html_()  # the dashboard's recipe
        again = result.to_resend()
        assert len(again) == 2
        pd.testing.assert_frame_equal(again, df.iloc[result.ledger.positions(3)])
        assert list(again.columns) == list(df.columns)  # no reason columns to map by mistake
        second = again.amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False)
        assert second.ingested_count == 2
        assert len(sb.ingested) == 12  # every row once


def test_to_resend_takes_other_statuses() -> None:
    df = pd.DataFrame({"user_id": ["user-00001", None], "event_type": ["A", "B"],
                       "time": pd.to_datetime(["2026-03-04", "2026-03-05"])})
    result = df.amplitude.upload(dry_run=True, progress=False)
    assert result.to_resend().empty
    assert result.to_resend("skipped").index.tolist() == [1]
    assert len(result.to_resend(["skipped", "failed"])) == 1
    with pytest.raises(ValueError, match="status"):
        result.to_resend("lost")
