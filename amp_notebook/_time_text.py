"""Times written as text in other formats: advice that works, and a rewrite to ISO 8601.

The reader (``_times``) takes ISO 8601 text, with or without an offset, per cell. Exports
also hold ``03/04/2026 10:00`` or ``March 4, 2026``. The obvious fix,
``pd.to_datetime(column)``, fails on a column that mixes ``Z``, offsets and naive times,
and ``format="mixed", dayfirst=True`` silently turns the ISO ``2026-03-04`` into 3 April.
:func:`iso_times` rewrites only the cells the reader cannot read, with the format or
day order the user names, and :func:`advice` says how for the value found (issue 17).

Pure: pandas only, no IO.
"""

from __future__ import annotations

import calendar
import re
import warnings
from collections.abc import Hashable
from typing import cast

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ._rule_table import RULES, Reason
from ._times import time_to_ms

__all__ = ["advice", "iso_times"]

# d/m/y or m/d/y with / . or -, a 2- or 4-digit year, then maybe a time.
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)$")
_TIME_PARTS = ((re.compile(r"^[ T]\d{1,2}:\d{2}:\d{2}\s*$"), " %H:%M:%S"),
               (re.compile(r"^[ T]\d{1,2}:\d{2}\s*$"), " %H:%M"),
               (re.compile(r"^\s*$"), ""))
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


def iso_times(
    values: pd.Series, *, format: str | None = None, dayfirst: bool = False
) -> pd.Series:
    """The time column with its non-ISO text cells rewritten as ISO 8601 text.

    Only cells that amp_notebook cannot read as they are change: ISO text, datetimes
    and numbers are kept, so ``dayfirst`` can never flip an ISO ``2026-03-04``. Those
    cells are read with ``format`` (a ``strftime`` pattern such as ``"%d/%m/%Y %H:%M"``;
    default: each cell's own format) and ``dayfirst``, and written as
    ``2026-04-03T10:00:00`` (with the offset when the text had one; without, the
    upload's ``tz=`` applies). Cells that still cannot be read are left as they are,
    so validation names them. The index and name are kept::

        df["ts"] = amp_notebook.iso_times(df["ts"], dayfirst=True)
    """
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    _, bad = time_to_ms(values)
    cells = values.to_numpy(dtype=object)
    target = np.asarray(bad, dtype=bool) & np.fromiter((isinstance(v, str) for v in cells), bool, len(cells))
    out = pd.Series(cells.copy(), index=values.index, name=values.name, dtype=object)
    if target.any():
        texts = pd.Series(cells[target], dtype=object).str.strip()
        parsed = _parse(texts, format, dayfirst)
        ok = np.array([v is not None for v in parsed], dtype=bool)
        where = np.flatnonzero(target)[ok]
        out.iloc[where] = [v for v in parsed if v is not None]
    if ptypes.is_string_dtype(values.dtype) and not ptypes.is_object_dtype(values.dtype):
        return cast(pd.Series, out.astype(values.dtype))
    return cast(pd.Series, out)


def _parse(texts: pd.Series, fmt: str | None, dayfirst: bool) -> list[str | None]:
    """ISO text per cell, None where the cell cannot be read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" and the like
        try:
            parsed = pd.to_datetime(texts, format=fmt or "mixed", dayfirst=dayfirst, errors="coerce")
            stamps: list[object] = list(parsed)
        except (ValueError, TypeError, OverflowError):  # e.g. naive and offset times mixed
            stamps = [_one(t, fmt, dayfirst) for t in texts]
    return [pd.Timestamp(s).isoformat() if isinstance(s, pd.Timestamp) and not pd.isna(s) else None
            for s in stamps]


def _one(text: str, fmt: str | None, dayfirst: bool) -> object:
    try:
        return pd.to_datetime(text, format=fmt or "mixed", dayfirst=dayfirst)
    except (ValueError, TypeError, OverflowError):
        return None


def _readable(text: str, **options: object) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return not pd.isna(pd.to_datetime(text, **options))  # type: ignore[call-overload]
        except (ValueError, TypeError, OverflowError):
            return False


def _day(day: int, month: int) -> str:
    return f"{day} {calendar.month_name[month]}"


def advice(value: object, column: Hashable | None) -> str:
    """What to do about one unreadable time value, in words and as code that works (the
    words are the time_invalid rule's, in ``_rule_table``; this picks the case)."""
    rule = RULES[Reason.TIME_INVALID]
    ref = "the column" if column is None else f"df[{column!r}]"
    if not isinstance(value, str):
        return rule.message("not text")
    if _NUMBER.match(value):
        return rule.message("number", value=value, ref=ref)
    m = _NUMERIC_DATE.match(value)
    if m:
        a, sep, b, year, rest = int(m[1]), m[2], int(m[3]), m[4], m[5]
        clock = next((f for pattern, f in _TIME_PARTS if pattern.match(rest)), None)
        month_first = None if clock is None else f"%m{sep}%d{sep}{'%Y' if len(year) == 4 else '%y'}{clock}"
        if 1 <= a <= 12 and 1 <= b <= 12 and a != b:
            readings = {"value": value, "ref": ref, "day_first": _day(a, b), "month_first": _day(b, a)}
            if month_first:
                return rule.message("either", **readings, format=month_first)
            return rule.message("either, no format", **readings)
        if 13 <= a <= 31 and 1 <= b <= 12:
            return rule.message("day first", value=value, ref=ref)
        if 1 <= a <= 12 and 1 <= b <= 31:
            return rule.message("month first", value=value, ref=ref, format=month_first or "FORMAT")
    if _readable(value, format="mixed"):
        return rule.message("readable", value=value, ref=ref)
    return rule.message("unreadable", value=value)
