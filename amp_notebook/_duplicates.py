"""Rows that will reach Amplitude with the same insert_id as an earlier row: it keeps one.

Reference, "Event keys" -> insert_id: Amplitude ignores later events with the same
``insert_id`` for the same device_id (or user_id) within 7 days. Our generated
insert_id is a hash of the whole event, so two rows with every mapped value equal
are one event to Amplitude: right for an export that repeats rows, a silent loss
for rows that really are two events. The validator warns about each such row
(``duplicate_event``), naming the earlier one.

Pure and column-wise: each row is hashed (pandas' 64-bit ``hash_pandas_object``
over the columns that make the insert_id) in slices, so the temporaries stay
small; only the hashes (8 bytes a row) and a sort of them cover the whole frame.
A hash collision (about 1 in 10**5 for 10 million rows) can only add a false
warning, never drop a row. With ``key(...)`` as the insert_id, the key's values and
the ids decide (``_key_ids.key_row_hashes``), as they decide the insert_id.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd

from ._key_ids import key_row_hashes
from ._mapping import Const, ResolvedMapping, first_column

__all__ = ["duplicate_rows"]

# Rows hashed at once. Hashing a text column first makes a Python string of each distinct
# value: about 270 bytes a row at 500,000 rows of distinct ids (issue 11), 60 at 100,000,
# and no slower. A value's hash does not depend on the slice it is hashed in.
SLICE_ROWS = 100_000


def _hash(part: pd.DataFrame) -> np.ndarray:
    try:
        return pd.util.hash_pandas_object(part, index=False).to_numpy()
    except TypeError:
        # Unhashable cells (lists, dicts): hash their text instead. Dicts with the same
        # items in another order then look different: a missed warning, nothing worse.
        text = {c: (s.astype(str) if s.dtype == object else s) for c, s in part.items()}
        return pd.util.hash_pandas_object(pd.DataFrame(text), index=False).to_numpy()


def _row_hashes(df: pd.DataFrame, labels: list[Hashable]) -> np.ndarray:
    """One 64-bit hash per row over these columns, computed a slice at a time."""
    columns = [first_column(df, label) for label in dict.fromkeys(labels)]  # a column mapped twice counts once
    hashes = np.empty(len(df), dtype=np.uint64)
    for start in range(0, len(df), SLICE_ROWS):
        # A frame of the slice only: a frame of whole columns could copy them all.
        part = pd.DataFrame({i: c.iloc[start : start + SLICE_ROWS] for i, c in enumerate(columns)})
        hashes[start : start + SLICE_ROWS] = _hash(part)
    return hashes


def _repeats(hashes: np.ndarray, positions: np.ndarray | None) -> tuple[list[int], list[int]]:
    """Rows whose hash an earlier row has: (later, first) positions (``positions[i]`` of hash i)."""
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    later: list[int] = []
    first: list[int] = []
    if not repeated.size:
        return later, first
    candidates = np.flatnonzero(np.isin(hashes, repeated))
    first_of: dict[int, int] = {}
    for i, h in zip(candidates.tolist(), hashes[candidates].tolist(), strict=True):
        position = i if positions is None else int(positions[i])
        earliest = first_of.setdefault(h, position)
        if earliest != position:
            later.append(position)
            first.append(earliest)
    return later, first


def duplicate_rows(df: pd.DataFrame, rm: ResolvedMapping) -> tuple[np.ndarray, np.ndarray]:
    """``(later, first)``: positions of rows that repeat an earlier row's insert_id, and that row's.

    Without an insert_id column: rows whose mapped columns are all equal. With one:
    rows with the same insert_id and the same device_id and user_id; rows without
    an insert_id get one from their content, so among them, equal rows. A constant
    insert_id makes every row after the first a duplicate. Sorted by ``later``.
    """
    n = len(df)
    every_later = (np.arange(1, n, dtype=np.int64), np.zeros(max(0, n - 1), dtype=np.int64))
    none = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    iid = rm.get("insert_id")
    content = [f.source for f in rm.fields if not isinstance(f.source, Const)]
    if rm.insert_id_key is not None:  # rows missing a key value are not sent: left out
        later, first = _repeats(*key_row_hashes(df, rm))
    elif iid is not None and isinstance(iid.source, Const):
        return none if iid.source.value is None else every_later
    elif not content:  # every key a constant: every row is the same event
        return every_later
    elif iid is None:
        later, first = _repeats(_row_hashes(df, content), None)
    else:
        has_id = first_column(df, iid.source).notna().to_numpy()
        by_id = [iid.source] + [
            f.source for f in rm.fields if f.key in ("device_id", "user_id") and not isinstance(f.source, Const)
        ]
        with_id, without_id = np.flatnonzero(has_id), np.flatnonzero(~has_id)
        del has_id
        later, first = _repeats(_row_hashes(df, by_id)[with_id], with_id)
        if without_id.size:
            more = _repeats(_row_hashes(df, content)[without_id], without_id)
            later, first = later + more[0], first + more[1]
    order = np.argsort(np.asarray(later, dtype=np.int64), kind="stable")
    return np.asarray(later, dtype=np.int64)[order], np.asarray(first, dtype=np.int64)[order]
