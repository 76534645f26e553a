"""Small things that trip a first-time user (issue 17, item 11), each with the hint it needs."""

from __future__ import annotations

import pydoc

import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook._result import FAILED, RowLedger, UploadResult

NOW_MS = 1_800_000_000_000


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["A", "B"],
                         "time": pd.to_datetime(["2026-03-04", "2026-03-05"])})


def test_a_value_where_a_column_is_expected_hints_at_const() -> None:
    with pytest.raises(amp.MappingError, match=r"const\('Web'\)"):
        _frame().amplitude.validate({"platform": "Web"})


def test_ids_moved_into_the_index_are_pointed_at() -> None:
    df = _frame().set_index("user_id")
    failures = df.amplitude.validate(now_ms=NOW_MS).failures
    messages = failures.loc[failures["reason"] == "id_missing", "message"]
    assert len(messages) == 2
    assert all("index" in m and "reset_index()" in m for m in messages)
    # With a device_id column mapped, rows lacking it get the same hint.
    both = _frame().assign(device_id=["device-0001", None]).set_index("user_id")
    failures = both.amplitude.validate(now_ms=NOW_MS).failures
    assert failures["reason"].tolist() == ["id_missing"]
    assert "reset_index()" in failures["message"].iloc[0]


def test_no_hint_when_the_index_is_not_an_id() -> None:
    df = _frame().drop(columns="user_id")
    message = df.amplitude.validate(now_ms=NOW_MS).failures["message"].iloc[0]
    assert "reset_index" not in message


@pytest.mark.parametrize(
    "call",
    [
        lambda df: df.amplitude.validate(tz="Europe/Berlim"),
        lambda df: list(df.amplitude.to_events(tz="Europe/Berlim")),
        lambda df: df.amplitude.upload(dry_run=True, tz="Europe/Berlim", progress=False),
    ],
    ids=["validate", "to_events", "upload"],
)
def test_unknown_tz_is_a_configuration_error(call) -> None:
    with pytest.raises(amp.ConfigurationError, match=r"tz=.Europe/Berlim.*did you mean .Europe/Berlin."):
        call(_frame())


def test_help_of_upload_shows_the_options() -> None:
    for target in (amp.upload, pd.DataFrame().amplitude.upload, amp.upload_async):
        text = pydoc.render_doc(target, renderer=pydoc.plaintext)
        for option in ("api_key", "mapping", "region", "endpoint", "dry_run", "on_invalid",
                       "progress", "missing_time", "retry", "to_resend"):
            assert option in text, (target, option)
        assert "_upload" not in text


def test_one_row_is_singular() -> None:
    df = _frame().head(1)
    assert repr(df.amplitude.validate(now_ms=NOW_MS)).startswith(
        "ValidationReport: 1 row, 0 with errors, 0 with warnings")
    result = UploadResult(frame=df, ledger=RowLedger(1), endpoint="HTTP V2 (US)")
    result.ledger.mark([0], FAILED, "stopped", "not sent")
    text = repr(result)
    assert "UploadResult: 1 row to HTTP V2 (US)" in text
    assert "stopped: 1 (row 0)" in text
    two = UploadResult(frame=_frame(), ledger=RowLedger(2), endpoint="x")
    two.ledger.mark([0, 1], FAILED, "stopped", "not sent")
    assert "stopped: 2 (rows 0, 1)" in repr(two)
    one = UploadResult(frame=df, ledger=RowLedger(1), endpoint="x", dry_run=True, batches=1)
    assert "would send 1 event in 1 request" in repr(one)
