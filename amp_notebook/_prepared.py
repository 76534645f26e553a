"""Each mapped column converted once per upload, shared by the rules and the encoder.

Pure: a frame, its mapping and how to read times in; compact numpy arrays out. One
:class:`PreparedColumns` per (frame, mapping, tz, time_unit): the upload makes it and
hands it to validation (the time rule, the id rules, the pre-flight), the send order,
the partition plan and the encoder, which would otherwise each convert the same
columns again. Whatever asks first converts; what is kept is compact, never a Python
object per cell of a whole column (issue 11: the memory bounds of benchmarks/memory.py),
and the encoder still streams its chunks.

What is kept, and what is not:

- ``time`` from text (ISO strings: parsing is the costly conversion, about a
  microsecond a cell): float64 ms, NaN where missing or unreadable, and the
  unreadable mask, 9 bytes a row, parsed once instead of by the time rule, the
  pre-flight, the send order and the encoder each. A datetime or number column is
  converted where it is read, a slice at a time: that is a multiply, and keeping 9
  bytes a row of it would cost more memory (16 MB at 2,000,000 rows, where the
  upload has about 15 MB to spare under its bound) than it saves time (milliseconds).
- ``user_id`` / ``device_id``: the positions of blank texts ("" or whitespace: a
  missing id, left out of the event), usually none, found once, vectorised for text
  columns; the validator's id rules, the partition plan and the encoder read them
  instead of checking every cell of every id for blanks (that loop cost more than
  turning the ids into Python strings). The ids themselves are not kept: a Python
  string per row is what the memory bounds forbid, and the encoder makes them a
  chunk at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from ._mapping import Const, Field, ResolvedMapping
from ._rules import fast_text, is_text_dtype, object_kind
from ._times import time_to_ms
from ._values import NO_TIMES, _number_texts, _source_series, _values, _with_missing

__all__ = ["PreparedColumns", "prepared_for"]

SLICE_ROWS = 500_000  # rows converted at once where a whole column is read


def _blank_cells(part: pd.Series) -> np.ndarray:
    """Where a column's key text is blank ("" or only whitespace): the encoder leaves the id out.

    Vectorised for text columns and object columns of str (Arrow's strip trims the characters ``str.isspace`` calls
    whitespace, no others: a test holds it); other columns through their texts as sent.
    """
    if object_kind(part) == "string":
        # Object columns of str (pandas 2.2's text default): ``.str`` on them is a Python
        # call per cell; in Arrow (when pyarrow is there) the strip is a C loop.
        part = fast_text(part)
    if is_text_dtype(part.dtype):
        stripped = part.str.strip().str.len() == 0
        return np.asarray(stripped.to_numpy(dtype=bool, na_value=False), dtype=bool)
    if _number_texts(part.iloc[:0]) is not None:  # digits and number texts are never blank
        return np.zeros(len(part), dtype=bool)
    texts = _values(part, "string", NO_TIMES)[0]
    return np.fromiter((type(v) is str and (not v or v.isspace()) for v in texts), dtype=bool, count=len(texts))


def _rows_in(positions: np.ndarray, rows: slice | np.ndarray, n: int) -> np.ndarray:
    """Of sorted frame ``positions``, those among ``rows``, as offsets into ``rows``."""
    if not len(positions):
        return positions
    if isinstance(rows, slice):
        start, stop, _ = rows.indices(n)
        lo, hi = np.searchsorted(positions, [start, stop])
        return positions[lo:hi] - start
    return np.flatnonzero(np.isin(rows, positions))


class PreparedColumns:
    """The mapped columns of one frame, converted once (see the module docstring)."""

    def __init__(self, df: pd.DataFrame, rm: ResolvedMapping, *, tz: str = "UTC", time_unit: str | None = None) -> None:
        self.df, self.rm, self.tz, self.time_unit = df, rm, tz, time_unit
        self.n = len(df)
        self._time: tuple[np.ndarray, np.ndarray] | None = None
        self._keep_time: bool | None = None
        self._blanks: dict[Hashable, np.ndarray] = {}

    def serves(self, df: pd.DataFrame, rm: ResolvedMapping, tz: str, time_unit: str | None) -> bool:
        """Whether these are the columns of this frame, mapping and way of reading times."""
        return self.df is df and self.rm is rm and self.tz == tz and self.time_unit == time_unit

    # -- time --------------------------------------------------------------------------
    def _time_field(self) -> Field | None:
        field = self.rm.get("time")
        return None if field is None or isinstance(field.source, Const) else field

    def time_ms(self, rows: slice | np.ndarray = slice(None), *, warn: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The mapped time column at ``rows`` in ms (float64, NaN where missing or unreadable)
        and where a value was present but unreadable (``_times.time_to_ms``).

        ``warn``: let the warning about seconds-looking numbers through (the encoder's
        reading); the others read quietly. Needs a time column mapped.
        """
        field = self._time_field()
        assert field is not None, "no time column is mapped"
        series = _source_series(self.df, field)
        if self._keeps_time(series):
            if self._time is None:
                self._time = self._parse_all(series)
            ms, bad = self._time
            return ms[rows], bad[rows]
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore")  # the time rule reports units per row
            converted, bad = time_to_ms(series.iloc[rows], tz=self.tz, time_unit=self.time_unit)
        return converted.to_numpy(dtype=np.float64), np.asarray(bad, dtype=bool)

    def _keeps_time(self, series: pd.Series) -> bool:
        """Text times are parsed once and kept; a text column never warns about units."""
        if self._keep_time is None:
            self._keep_time = is_text_dtype(series.dtype) or object_kind(series) == "string"
        return self._keep_time

    def _parse_all(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        ms = np.empty(self.n, dtype=np.float64)
        bad = np.empty(self.n, dtype=bool)
        for start in range(0, self.n, SLICE_ROWS):
            part, part_bad = time_to_ms(series.iloc[start : start + SLICE_ROWS], tz=self.tz, time_unit=self.time_unit)
            ms[start : start + len(part)] = part.to_numpy(dtype=np.float64)
            bad[start : start + len(part)] = part_bad
        return ms, bad

    # -- ids ---------------------------------------------------------------------------
    def blank_positions(self, field: Field) -> np.ndarray:
        """Sorted frame positions whose id text is blank (a column field; usually none)."""
        label = field.source
        found = self._blanks.get(label)
        if found is None:
            series = _source_series(self.df, field)
            found = np.concatenate([
                start + np.flatnonzero(_blank_cells(series.iloc[start : start + SLICE_ROWS]))
                for start in range(0, max(self.n, 1), SLICE_ROWS)
            ]).astype(np.int64)
            self._blanks[label] = found
        return found

    def blank_mask(self, field: Field, rows: slice) -> np.ndarray:
        """Blank id texts at a run of ``rows``, as a mask over them."""
        start, stop, _ = rows.indices(self.n)
        out = np.zeros(stop - start, dtype=bool)
        out[_rows_in(self.blank_positions(field), rows, self.n)] = True
        return out

    def id_texts(self, field: Field, rows: slice | np.ndarray) -> tuple[list[Any], bool]:
        """The ids at ``rows`` as the encoder sends them (None where missing or blank), and
        whether any is None: the texts a chunk at a time, the blanks from the one search."""
        texts, maybe_missing = _values(_source_series(self.df, field).iloc[rows], "string", NO_TIMES)
        blank = _rows_in(self.blank_positions(field), rows, self.n)
        if len(blank):
            mask = np.zeros(len(texts), dtype=bool)
            mask[blank] = True
            return _with_missing(texts, mask), True
        return texts, maybe_missing



def prepared_for(
    df: pd.DataFrame, rm: ResolvedMapping, tz: str, time_unit: str | None, given: PreparedColumns | None
) -> PreparedColumns:
    """``given`` (the upload's converted columns) when it serves this frame, mapping and way of
    reading times; else new ones, for a caller without the upload's (a test, a direct call)."""
    if given is not None and given.serves(df, rm, tz, time_unit):
        return given
    return PreparedColumns(df, rm, tz=tz, time_unit=time_unit)
