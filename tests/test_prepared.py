"""Each mapped column is converted once per upload (``_prepared``), and the result is the same.

Counted with a wrapper around the conversion: a text time column is parsed once for
the time rule, the pre-flight, the send order and the encoder; the blank ids are
searched once for the id rules, the partition plan and the encoder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import _prepared
from amp_notebook._encoding import EncodeOptions, encode
from amp_notebook._mapping import resolve_mapping
from amp_notebook._prepared import PreparedColumns

# A string-dtype column in both pandas: "str" is one in pandas 3 (the default for text),
# an object column in pandas 2.2, where "string" is the StringDtype.
TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else "string"

NOW_MS = 1_780_000_000_000


def _frame(n: int = 300) -> pd.DataFrame:
    times = pd.Timestamp("2026-05-01") + pd.to_timedelta(np.arange(n)[::-1], unit="s")  # out of order
    return pd.DataFrame({
        "user_id": pd.Series([f"user-{i % 7:04d}" if i % 50 else " " for i in range(n)], dtype="str"),
        "device_id": pd.Series([f"device-{i % 11:04d}" for i in range(n)], dtype="str"),
        "event_type": "Play",
        "time": pd.Series(times.strftime("%Y-%m-%dT%H:%M:%S+02:00"), dtype="str"),
        "user_properties.plan": "pro",
    })


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(_prepared, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_prepared, name, counted)
    return calls


def test_an_upload_parses_a_text_time_column_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _counting(monkeypatch, "time_to_ms")
    result = _frame().amplitude.upload(dry_run=True, progress=False, now_ms=NOW_MS)
    assert result.validation.ok
    assert len(parses) == 1  # the time rule, the pre-flight's old-event check, the send order, the encoder


def test_an_upload_searches_the_ids_for_blanks_once_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    searches = _counting(monkeypatch, "_blank_cells")
    df = _frame()
    result = df.amplitude.upload(dry_run=True, progress=False, now_ms=NOW_MS)
    assert len(searches) == 2  # user_id and device_id: the id rules, the plan and the encoder read them
    events = list(amp.to_events(df))
    assert "user_id" not in events[0] and events[1]["user_id"] == "user-0001"  # a blank id is left out
    assert result.batches == 1


def test_the_prepared_columns_give_the_events_the_encoder_makes_alone() -> None:
    df = _frame(1_000)
    rm = resolve_mapping(df, None)
    options = EncodeOptions(tz="Europe/Berlin")
    shared = PreparedColumns(df, rm, tz="Europe/Berlin")
    amp.validate(df, now_ms=NOW_MS)
    alone = [p for c in encode(df, rm, options, chunk_rows=64) for p in c.payloads]
    assert [p for c in encode(df, rm, options, chunk_rows=64, prepared=shared) for p in c.payloads] == alone
    # Columns of another frame or zone are not used: the encoder converts its own.
    other = PreparedColumns(df, rm, tz="UTC")
    assert [p for c in encode(df, rm, options, chunk_rows=64, prepared=other) for p in c.payloads] == alone


def test_blank_text_ids_are_what_str_isspace_calls_blank() -> None:
    # Arrow's strip (text columns) and Python's isspace (the encoder's walk of other columns)
    # must agree on every whitespace character, or the rules and the wire would disagree.
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    cells = ["", *spaces, "".join(spaces), "a", " a ", "\u200b", "\ufeff", None]
    expected = [c is not None and (not c or c.isspace()) for c in cells]
    for dtype in ("str", "string", object):
        assert _prepared._blank_cells(pd.Series(cells, dtype=dtype)).tolist() == expected, dtype


def test_validation_makes_a_text_key_columns_texts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # key(...): the missing check and the duplicate check read the key's texts from one pass.
    from amp_notebook import _key_ids

    calls: list[object] = []
    real = _key_ids._texts
    monkeypatch.setattr(_key_ids, "_texts", lambda series: calls.append(series.name) or real(series))
    df = pd.DataFrame({
        "user_id": "user-0001",
        "event_type": "Play",
        "order_id": pd.Series([f"o-{i % 150}" if i != 3 else None for i in range(300)], dtype=object),
    })
    report = amp.validate(df, {"insert_id": amp.key("order_id")}, now_ms=NOW_MS)
    assert calls.count("order_id") == 1
    reasons = report.failures.groupby("reason").size().to_dict()
    # Row 3 has no key value; of rows 150-299 each repeats the row 150 before it, except 153
    # (row 3 has no insert_id to repeat), whose key value comes first there.
    assert reasons == {"insert_id_key_missing": 1, "duplicate_event": 149}


@pytest.mark.parametrize("mapping", [None, {"insert_id": "iid"}], ids=["content", "insert_id column"])
def test_the_quota_counts_text_ids_by_the_duplicate_checks_hashes(monkeypatch: pytest.MonkeyPatch, mapping) -> None:
    # The pre-flight's first pass over text ids is the duplicate check's hashing, in slices
    # of its own; the findings are the ones the pre-flight's own pass gives.
    from amp_notebook import _duplicates, _preflight, _validation
    from amp_notebook._validation import ValidateOptions, validate_frame

    n = 600
    df = pd.DataFrame({
        "user_id": pd.Series([f"user-{i % 3:04d}" if i % 7 else None for i in range(n)], dtype=TEXT),
        "device_id": pd.Series([f"device-{i % 2:04d}" for i in range(n)], dtype=TEXT),
        "event_type": "Play",
        "time": pd.Timestamp("2026-05-01") + pd.to_timedelta(np.arange(n), unit="s"),
        "iid": pd.Series([f"i-{i}" for i in range(n)], dtype=TEXT),
    })
    rm = resolve_mapping(df, mapping)
    options = ValidateOptions(now_ms=NOW_MS, daily_quota=150)
    monkeypatch.setattr(_duplicates, "SLICE_ROWS", 64)
    own = validate_frame(df, rm, options).failures
    monkeypatch.setattr(_validation, "QuotaCount", lambda *a: _preflight.QuotaCount(df, rm, None))  # counts nothing
    alone = validate_frame(df, rm, options).failures
    pd.testing.assert_frame_equal(own, alone)
    assert set(own.loc[own["reason"] == "daily_quota", "key"]) == {"user_id", "device_id"}
    calls: list[int] = []
    monkeypatch.undo()
    monkeypatch.setattr(_duplicates, "SLICE_ROWS", 64)
    monkeypatch.setattr(_preflight, "_candidates", lambda *a: calls.append(1))
    pd.testing.assert_frame_equal(validate_frame(df, rm, options).failures, own)
    assert calls == []  # the ids were not hashed again for their first pass
