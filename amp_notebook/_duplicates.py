"""Rows that will reach Amplitude with the same insert_id as an earlier row: it keeps one.

Reference, "Event keys" -> insert_id: Amplitude ignores later events with the same
``insert_id`` for the same device_id (or user_id) within 7 days. Our generated
insert_id is a hash of the whole event, so two rows with every mapped value equal
are one event to Amplitude: right for an export that repeats rows, a silent loss
for rows that really are two events. The validator warns about each such row
(``duplicate_event``), naming the earlier one.

Pure and column-wise: each row is hashed (pandas' 64-bit ``hash_pandas_object``
over the columns that make the insert_id) in slices, so the temporaries stay
small; only the hashes (8 bytes a row) cover the whole frame, sorted a bucket of
them at a time.
A hash collision (about 1 in 10**5 for 10 million rows) can only add a false
warning, never drop a row. With ``key(...)`` as the insert_id, the key's values and
the ids decide (``_key_ids.scan_keys``), as they decide the insert_id.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd

from ._key_ids import KeyScan, scan_keys
from ._mapping import Const, ResolvedMapping, first_column

__all__ = ["duplicate_rows"]

# Rows hashed at once. Hashing a text column first makes a Python string of each distinct
# value: about 270 bytes a row at 500,000 rows of distinct ids (issue 11), 60 at 100,000,
# and no slower. A value's hash does not depend on the slice it is hashed in.
SLICE_ROWS = 100_000


def _combine(hashes: list[np.ndarray], n: int) -> np.ndarray:
    """Column hashes -> row hashes, as ``hash_pandas_object`` combines a frame's columns
    (pandas' ``combine_hash_arrays``, CPython's tuple hash): the same values as hashing the
    frame at once, with each column hashed in its own way."""
    out = np.full(n, 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    for i, h in enumerate(hashes):
        out ^= h
        out *= mult
        mult += np.uint64(82520 + 2 * (len(hashes) - i))
    out += np.uint64(97531)
    return out


def _mostly_distinct(column: pd.Series) -> bool:
    """Text whose first 1,000 cells are mostly distinct (ids, insert_ids).

    ``hash_pandas_object`` first builds a table of the distinct values of a text column
    (``categorize``): cheap when values repeat (event names), but ~330 bytes a row for
    ids that never repeat (issue 11: 38 MB per 100,000 ids). The hashes are the same
    either way; only the cost differs.
    """
    if column.dtype == object:
        # Only all-text columns: pandas' table takes 1 and True for one value, so
        # mixed cells could hash otherwise without it.
        if pd.api.types.infer_dtype(column, skipna=True) != "string":
            return False
    elif not isinstance(column.dtype, pd.StringDtype):
        return False
    head = column.iloc[:1000]
    try:
        return bool(head.nunique(dropna=False) > len(head) // 2)
    except TypeError:  # unhashable cells
        return False


def _column_hash(part: pd.Series, distinct: bool) -> np.ndarray:
    if not distinct:
        return pd.util.hash_pandas_object(part, index=False).to_numpy()
    hashes = pd.util.hash_pandas_object(part, index=False, categorize=False).to_numpy(copy=True)
    # As with categorize: a missing cell (NaN, None) hashes to 2**64-1 (pandas'
    # _hash_categorical), whichever kind of missing it is.
    hashes[part.isna().to_numpy()] = np.iinfo(np.uint64).max
    return hashes


# Told each column's hashes of each slice: (column label, rows, hashes). The pre-flight's
# quota count takes the text ids' hashes from here instead of hashing them again.
SeenHashes = Callable[[Hashable, slice, np.ndarray], None]


def _hash(parts: list[pd.Series], distinct: list[bool], labels: list[Hashable] | None = None,
          rows: slice | None = None, seen: SeenHashes | None = None) -> np.ndarray:
    n = len(parts[0])
    try:
        hashes = [_column_hash(p, d) for p, d in zip(parts, distinct, strict=True)]
        if seen is not None and labels is not None and rows is not None:
            for label, h in zip(labels, hashes, strict=True):
                seen(label, rows, h)
        return _combine(hashes, n)
    except TypeError:
        # Unhashable cells (lists, dicts): hash the text of every object column instead.
        # Dicts with the same items in another order then look different: a missed warning,
        # nothing worse.
        text = [p.astype(str) if p.dtype == object else p for p in parts]
        return _combine([pd.util.hash_pandas_object(p, index=False).to_numpy() for p in text], n)


def _row_hashes(df: pd.DataFrame, labels: list[Hashable], seen: SeenHashes | None = None) -> np.ndarray:
    """One 64-bit hash per row over these columns, computed a slice at a time."""
    once = list(dict.fromkeys(labels))  # a column mapped twice counts once
    columns = [first_column(df, label) for label in once]
    distinct = [_mostly_distinct(c) for c in columns]
    hashes = np.empty(len(df), dtype=np.uint64)
    for start in range(0, len(df), SLICE_ROWS):
        rows = slice(start, min(start + SLICE_ROWS, len(df)))
        hashes[rows] = _hash([c.iloc[rows] for c in columns], distinct, once, rows, seen)
    return hashes


# Hashes sorted at once: a frame with more rows is sorted a bucket at a time.
BUCKET_ROWS = 1_000_000
_BUCKET_BITS = 4  # 16 buckets by the hash's top bits


def _repeated_in(ordered: np.ndarray) -> np.ndarray:
    """The values that occur more than once in a sorted array, sorted."""
    return np.unique(ordered[1:][ordered[1:] == ordered[:-1]])


def _repeated(hashes: np.ndarray) -> np.ndarray:
    """The hash values that occur more than once, sorted.

    Equal hashes share their top bits, so each bucket of top bits can be sorted alone:
    a sorted copy of all of them (8 bytes a row more: 80 MB at 10,000,000 rows,
    issue 11) becomes one of a sixteenth of them, and a bucket number (1 byte a row).
    """
    if len(hashes) <= BUCKET_ROWS:
        return _repeated_in(np.sort(hashes))
    bucket = np.empty(len(hashes), dtype=np.uint8)
    shift = np.uint64(64 - _BUCKET_BITS)
    for start in range(0, len(hashes), SLICE_ROWS):
        bucket[start : start + SLICE_ROWS] = hashes[start : start + SLICE_ROWS] >> shift
    found = []
    for b in range(1 << _BUCKET_BITS):  # in order of top bits: the results stay sorted
        part = hashes[bucket == b]
        part.sort()
        found.append(_repeated_in(part))
    return np.concatenate(found)


def _is_in(hashes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(hashes, values)`` for sorted ``values``, a slice at a time (np.isin sorts
    both arrays together: 16 bytes a row more)."""
    out = np.zeros(len(hashes), dtype=bool)
    if not len(values):
        return out
    for start in range(0, len(hashes), SLICE_ROWS):
        part = hashes[start : start + SLICE_ROWS]
        at = np.minimum(np.searchsorted(values, part), len(values) - 1)
        out[start : start + SLICE_ROWS] = values[at] == part
    return out


def _repeats(hashes: np.ndarray, positions: np.ndarray | None) -> tuple[list[int], list[int]]:
    """Rows whose hash an earlier row has: (later, first) positions (``positions[i]`` of hash i)."""
    repeated = _repeated(hashes)
    later: list[int] = []
    first: list[int] = []
    if not repeated.size:
        return later, first
    candidates = np.flatnonzero(_is_in(hashes, repeated))
    first_of: dict[int, int] = {}
    for i, h in zip(candidates.tolist(), hashes[candidates].tolist(), strict=True):
        position = i if positions is None else int(positions[i])
        earliest = first_of.setdefault(h, position)
        if earliest != position:
            later.append(position)
            first.append(earliest)
    return later, first


def duplicate_rows(
    df: pd.DataFrame, rm: ResolvedMapping, keys: KeyScan | None = None, seen: SeenHashes | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(later, first)``: positions of rows that repeat an earlier row's insert_id, and that row's.

    Without an insert_id column: rows whose mapped columns are all equal. With one:
    rows with the same insert_id and the same device_id and user_id; rows without
    an insert_id get one from their content, so among them, equal rows. A constant
    insert_id makes every row after the first a duplicate. Sorted by ``later``.
    ``keys``: the key(...) columns as validation read them once (``_key_ids.scan_keys``);
    ``seen``: told the hashes of each column slice (the pre-flight counts ids by them).
    """
    n = len(df)
    every_later = (np.arange(1, n, dtype=np.int64), np.zeros(max(0, n - 1), dtype=np.int64))
    none = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    iid = rm.get("insert_id")
    content = [f.source for f in rm.fields if not isinstance(f.source, Const)]
    if rm.insert_id_key is not None:  # rows missing a key value are not sent: left out
        keys = keys if keys is not None else scan_keys(df, rm)
        later, first = _repeats(keys.hashes, keys.positions)
    elif iid is not None and isinstance(iid.source, Const):
        return none if iid.source.value is None else every_later
    elif not content:  # every key a constant: every row is the same event
        return every_later
    elif iid is None:
        later, first = _repeats(_row_hashes(df, content, seen), None)
    else:
        has_id = first_column(df, iid.source).notna().to_numpy()
        by_id = [iid.source] + [
            f.source for f in rm.fields if f.key in ("device_id", "user_id") and not isinstance(f.source, Const)
        ]
        with_id, without_id = np.flatnonzero(has_id), np.flatnonzero(~has_id)
        del has_id
        later, first = _repeats(_row_hashes(df, by_id, seen)[with_id], with_id)
        if without_id.size:
            more = _repeats(_row_hashes(df, content)[without_id], without_id)
            later, first = later + more[0], first + more[1]
    order = np.argsort(np.asarray(later, dtype=np.int64), kind="stable")
    return np.asarray(later, dtype=np.int64)[order], np.asarray(first, dtype=np.int64)[order]
