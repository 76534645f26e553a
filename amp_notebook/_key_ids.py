"""insert_ids from a ``key(...)``: a hash of the key columns' values, and nothing else.

Reference, "Event keys" -> insert_id: a string; Amplitude ignores later events with
the same insert_id for the same device_id (or user_id) within 7 days. "General
rules": a string value is at most 1024 characters.

How a row's insert_id is made (documented for users; ``tests/test_insert_key.py``
pins a value, so a change here is a visible break, never a silent one):

- Each key value becomes the text amp_notebook sends for a text key such as
  ``event_type`` (``_values``, kind "id"): strings as they are; integers as their
  digits; whole floats without ``.0`` (an id column with gaps is float64: ``1001.0``
  -> ``"1001"``); booleans ``"true"``/``"false"``; dates ISO 8601, sub-seconds only when
  present. So ``1001`` in an int64, Int64, float64 or object column and ``"1001"`` in a
  str, object or string[pyarrow] column are one value, in pandas 2.2 and 3 alike.
- The texts, in the key's order, as a compact JSON array (orjson), UTF-8:
  ``key("order_id", "event_type")`` on ``(1001, "Purchase")`` hashes the bytes
  ``["1001","Purchase"]``.
- BLAKE2b with a 16-byte digest (``hashlib``: the same in every process and on every
  machine, unlike Python's salted ``hash()``), written as 32 lowercase hex characters:
  far within the 1024-character limit, and the same form as the ids generated from
  whole events.

A value that is missing (None, NaN, NaT, pd.NA) or blank (``""``, whitespace) gives
no id: validation reports the cell (``insert_id_key_missing``, an error: the row is
not sent, whatever ``on_invalid`` says, because a row without its insert_id would
lose the dedup the key is for), and encoding such a row raises :class:`MappingError`
naming the row and the column.

Pure: frames in, ids and masks out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ._exceptions import MappingError
from ._mapping import Const, Field, ResolvedMapping, first_column
from ._values import NO_TIMES, _const_value, _integer_dtype, _values

__all__ = ["KeyIds", "KeyScan", "scan_keys"]

SLICE_ROWS = 500_000


def _texts(series: pd.Series) -> list[Any]:
    """One column -> the key text of each cell (None where missing or blank): exactly
    ``_values(series, "id")``, the encoder's id texts (vectorised for numbers there)."""
    return _values(series, "id", NO_TIMES)[0]


def _missing(series: pd.Series) -> np.ndarray:
    """Where a column has no key text (missing or blank), without making texts for numbers."""
    dtype = series.dtype
    if _integer_dtype(dtype) is not None:
        return series.isna().to_numpy(dtype=bool)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        finite: np.ndarray = np.isfinite(series.to_numpy())
        return ~finite
    return np.array([t is None for t in _texts(series)], dtype=bool)


def _const_text(source: Const) -> str | None:
    text: str | None = _const_value(Field("insert_id", None, source), NO_TIMES)
    return text if text is None or text.strip() else None


_KeyColumn = tuple[Hashable, "pd.Series | None", "str | None"]


def _key_columns(df: pd.DataFrame, rm: ResolvedMapping) -> list[_KeyColumn]:
    """(name, column or None, the constant's text) for each name of the key."""
    assert rm.insert_id_key is not None
    out: list[_KeyColumn] = []
    for name, source in zip(rm.insert_id_key.columns, rm.key_sources, strict=True):
        if isinstance(source, Const):
            out.append((name, None, _const_text(source)))
        else:
            out.append((name, first_column(df, source), None))
    return out


def _slice_texts(columns: list[_KeyColumn], rows: slice | np.ndarray,
                 n: int) -> list[list[Any]]:
    return [[const] * n if series is None else _texts(series.iloc[rows]) for _, series, const in columns]


class KeyIds:
    """The insert_ids of a frame's rows under its mapping's key, a run of rows at a time."""

    def __init__(self, df: pd.DataFrame, rm: ResolvedMapping) -> None:
        self.columns = _key_columns(df, rm)
        self.index = df.index

    def ids(self, rows: slice | np.ndarray, positions: np.ndarray) -> list[str]:
        texts = _slice_texts(self.columns, rows, len(positions))
        for (name, _, _), values in zip(self.columns, texts, strict=True):
            if None in values:
                row = self.index[int(positions[values.index(None)])]
                raise MappingError(
                    f"row {row!r} has no value in {name!r}, a column of the insert_id key: "
                    "fill it, or leave the row out (upload() skips it and says why)",
                    key="insert_id",
                    column=name,
                )
        dumps, blake2b = orjson.dumps, hashlib.blake2b
        return [blake2b(dumps(values), digest_size=16).hexdigest() for values in zip(*texts, strict=True)]


def _comparable(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values equal exactly where the key texts are equal, cheap to hash; where no key text).

    Within one column, numbers map to texts one to one (``-0.0 + 0.0`` is ``0.0``, both "0"),
    so number columns are hashed as numbers; everything else as its texts, made once for
    both answers (making them is the cost).
    """
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        numbers: np.ndarray = series.to_numpy()
        return (numbers + 0.0 if dtype.kind == "f" else numbers), _missing(series)
    texts = _texts(series)
    return np.array(texts, dtype=object), np.array([t is None for t in texts], dtype=bool)


@dataclass(frozen=True)
class KeyScan:
    """The key columns read once for validation: their texts made once per slice for both.

    ``missing``: (name, column label or None for a constant, rows without a value) per
    name of the key (the ``insert_id_key_missing`` check); ``hashes`` / ``positions``:
    64-bit hashes of the rows with every key value, with their ids, and those rows (the
    duplicate check). The encoder makes the texts again a chunk at a time, to hash them
    into the insert_ids: keeping each row's insert_id (16 bytes) from here would cost more
    memory than making a text column's texts again costs time (a ``tolist``).
    """

    missing: list[tuple[Hashable, Hashable | None, np.ndarray]]
    hashes: np.ndarray
    positions: np.ndarray


def scan_keys(df: pd.DataFrame, rm: ResolvedMapping) -> KeyScan:
    """Each key column read once (a slice at a time): the rows without a value, and the row
    hashes of the rest. Two rows with equal hashes will share an insert_id for the same
    device/user (the duplicate check's question); the hash covers the key values and the
    ids, as sent."""
    columns = _key_columns(df, rm)
    ids = [first_column(df, f.source) for f in rm.fields
           if f.key in ("device_id", "user_id") and not isinstance(f.source, Const)]
    present = [series for _, series, _ in columns if series is not None]
    missing = [np.zeros(len(df), dtype=bool) for _ in present]
    hashes = np.zeros(len(df), dtype=np.uint64)
    for start in range(0, len(df), SLICE_ROWS):
        rows = slice(start, min(start + SLICE_ROWS, len(df)))
        values = []
        for i, series in enumerate(present + ids):
            comparable, absent = _comparable(series.iloc[rows])
            values.append(comparable)
            if i < len(present):  # a key column: the row needs its value
                missing[i][rows] = absent
        part = pd.DataFrame(dict(enumerate(values)))
        if len(part.columns):  # a key of constants only: every row hashes alike
            hashes[rows] = pd.util.hash_pandas_object(part, index=False).to_numpy()
    # A constant without a value leaves every row without its insert_id.
    complete = np.full(len(df), all(column is not None or text is not None for _, column, text in columns))
    for mask in missing:
        complete &= ~mask
    per_name: list[tuple[Hashable, Hashable | None, np.ndarray]] = []
    masks = iter(missing)
    for (name, column, const), source in zip(columns, rm.key_sources, strict=True):
        if column is None:
            per_name.append((name, None, np.full(len(df), const is None)))
        else:
            per_name.append((name, source, next(masks)))
    positions = np.flatnonzero(complete)
    return KeyScan(per_name, hashes[positions], positions)
