"""Advice for unreadable times that works on the values found (issue 17, item 6).

"Parse the column with pd.to_datetime" fails on a column mixing ``Z``, offsets and
naive times, and ``format="mixed", dayfirst=True`` silently flips ISO dates
(``2026-03-04`` becomes 3 April). The advice names ``amp_notebook.iso_times``, which
rewrites only the cells Amplitude's reader cannot read; following it must work.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import amp_notebook as amp
import amp_notebook as amp_notebook  # the name the advice uses

NOW_MS = 1_800_000_000_000
MESSY = [
    "2026-03-04T10:00:00Z",        # ISO, UTC
    "2026-03-04 11:00:00+01:00",   # ISO, offset: the same instant
    "2026-03-04 10:00",            # ISO, naive: tz applies
    "03/04/2026 10:00",            # day or month first?
    "13/04/2026 10:00",            # day first (13 is no month)
    "",                            # empty: time_missing, not time_invalid
]


def _frame(times: list[str]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(n)], "event_type": ["A"] * n,
                         "ts": times})


def _ms(ts: str) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


def _advice(report: amp.ValidationReport) -> dict[int, str]:
    f = report.failures
    return dict(zip(f.index[f["reason"] == "time_invalid"], f.loc[f["reason"] == "time_invalid", "message"], strict=True))


def test_the_ambiguous_value_asks_which_and_shows_both_ways() -> None:
    advice = _advice(_frame(MESSY).amplitude.validate({"time": "ts"}, now_ms=NOW_MS))
    assert sorted(advice) == [3, 4]
    ambiguous = advice[3]
    assert "3 April or 4 March" in ambiguous
    assert "dayfirst=True" in ambiguous and "'%m/%d/%Y %H:%M'" in ambiguous
    assert "--dayfirst" in ambiguous and "--time-format" in ambiguous
    assert "dayfirst=True" in advice[4] and "April" not in advice[4]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_following_the_advice_reads_every_value(tz: str) -> None:
    df = _frame(MESSY)
    advice = _advice(df.amplitude.validate({"time": "ts"}, now_ms=NOW_MS, tz=tz))[3]
    code = re.search(r"df\['ts'\] = amp_notebook\.iso_times\([^)]*\)", advice)
    assert code is not None, advice
    exec(code.group(0), {"df": df, "amp_notebook": amp_notebook})  # the advice, as written
    report = df.amplitude.validate({"time": "ts"}, now_ms=NOW_MS, tz=tz)
    assert report.failures["reason"].tolist() == ["time_missing"]  # only the empty cell is left
    sent = [e.get("time") for e in df.amplitude.to_events({"time": "ts"}, tz=tz)]
    local = "+01:00" if tz == "Europe/Berlin" else "+00:00"
    summer = "+02:00" if tz == "Europe/Berlin" else "+00:00"
    assert sent == [
        _ms("2026-03-04T10:00:00Z"), _ms("2026-03-04T10:00:00Z"), _ms(f"2026-03-04T10:00:00{local}"),
        _ms(f"2026-04-03T10:00:00{summer}"), _ms(f"2026-04-13T10:00:00{summer}"), None,
    ]


def test_iso_times_keeps_iso_cells_and_unreadable_ones_as_they_are() -> None:
    values = pd.Series(["2026-03-04", "04.03.2026", "last Tuesday", None], index=[5, 6, 7, 8])
    out = amp.iso_times(values, format="%d.%m.%Y")
    assert out.index.tolist() == [5, 6, 7, 8]
    assert out.tolist()[:3] == ["2026-03-04", "2026-03-04T00:00:00", "last Tuesday"]
    assert out.isna().tolist() == [False, False, False, True]
    # without a format, day-first would flip the ISO cell; iso_times never touches it
    assert amp.iso_times(pd.Series(["2026-03-04", "05/03/2026"]), dayfirst=True).tolist() == [
        "2026-03-04", "2026-03-05T00:00:00"]


def test_unreadable_and_plain_non_iso_values() -> None:
    advice = _advice(_frame(["last Tuesday", "March 4, 2026 10:00"]).amplitude.validate(
        {"time": "ts"}, now_ms=NOW_MS))
    assert "cannot be read as a time" in advice[0] and "iso_times" not in advice[0]
    assert "amp_notebook.iso_times(df['ts'])" in advice[1]
