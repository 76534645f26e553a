"""Backfill pre-flight: what a large or historical upload will run into, said before sending.

Pure and column-wise. Two checks, both warnings (the rows are still sent; the
validator turns the findings into rows of its failures table):

* ``daily_quota``: Amplitude takes at most 500,000 events per device_id, and per
  user_id, in a rolling 24 hours (public HTTP API docs; the 400 "silenced" answer
  names them in ``exceeded_daily_quota_devices`` / ``_users``: reference,
  "Responses"). An upload sends in hours, so every row of a device after its
  500,000th (in time order, the order the uploader sends a device's events) would be
  refused: they are named, with the id and the hours of those events. A frame of
  at most 500,000 rows cannot hit it, and costs nothing here.
* ``old_user_properties``: an event that sets ``user_properties`` updates the
  user's profile *as it is now*, whatever the event's time (reference, "Event keys"
  -> ``$skip_user_properties_sync``). A backfilled event older than the threshold
  would overwrite newer, live values; ``$skip_user_properties_sync: const(True)``
  keeps them on the event only.

Both run over the frame in slices of ``SLICE_ROWS`` (issue 11: a 10,000,000-row frame
must not cost gigabytes to check). The quota check keeps nothing per row across
slices: a first pass counts each slice's ids by 64-bit hash and keeps those with more
than ``quota / slices`` events in some slice (an id over the quota in the whole frame
must have that many in at least one slice); a second pass, only when there are such
candidates, counts them exactly by value and finds their rows. Times are read only for
the rows of ids over the quota.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._encoding import EncodeOptions
from ._mapping import Const, Field, ResolvedMapping, first_column
from ._plan import key_hashes
from ._prepared import PreparedColumns, prepared_for
from ._rule_table import RULES, Reason
from ._times import time_to_ms
from ._values import _source_series, field_values

DAILY_EVENTS_PER_ID = 500_000
DAY_MS = 86_400_000
SLICE_ROWS = 100_000  # rows read at once: their ids as Python strings are the cost
_HASH_ROWS = 20_000  # cells of a text id column hashed at once (see _id_hashes)


@dataclass(frozen=True)
class Finding:
    """Rows where ``mask`` is True have this problem; ``messages`` and ``values`` are one per
    hit (in row order) or one for all; ``field`` is the column to point at (None: the row)."""

    field: Field | None
    key: str
    reason: Reason
    mask: np.ndarray
    messages: Sequence[str] | str
    values: np.ndarray | None = None


def _times_ms(prepared: PreparedColumns, rows: slice | np.ndarray = slice(None)) -> np.ndarray | None:
    """The time in ms of the rows at ``rows`` (NaN where missing or unreadable); None when no
    time is mapped. Read per cell: a slice of the rows gives that slice's times (the
    upload's converted column, ``_prepared``, when there is one)."""
    field = prepared.rm.get("time")
    if field is None:
        return None
    if not isinstance(field.source, Const):
        return prepared.time_ms(rows)[0]  # quietly: the validator already warns about units, once
    count = len(range(prepared.n)[rows]) if isinstance(rows, slice) else len(rows)  # no per-row array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms, _ = time_to_ms(pd.Series([field.source.value] * count), tz=prepared.tz, time_unit=prepared.time_unit)
    return ms.to_numpy(dtype=np.float64)


def _slices(n: int) -> Iterator[slice]:
    return (slice(start, min(start + SLICE_ROWS, n)) for start in range(0, n, SLICE_ROWS))


def _times_at(prepared: PreparedColumns, rows: np.ndarray) -> np.ndarray:
    """The times of the rows at these positions (zeros when no time is mapped), a slice at a time."""
    out = np.zeros(len(rows))
    for part in _slices(len(rows)):
        times = _times_ms(prepared, rows[part])
        if times is not None:
            out[part] = times
    return out


def _utc(ms: float) -> str:
    if np.isnan(ms):
        return "no time"
    return str(pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M"))


def _sent_ids(df: pd.DataFrame, field: Field, options: EncodeOptions) -> tuple[np.ndarray, np.ndarray]:
    """The ids as sent (an object array, None where missing) and whether each is present."""
    ids = np.empty(len(df), dtype=object)
    ids[:] = field_values(df, field, options)
    return ids, ids != None  # noqa: E711 (elementwise)


def _is_text_column(df: pd.DataFrame, field: Field) -> bool:
    return not isinstance(field.source, Const) and isinstance(_source_series(df, field).dtype, pd.StringDtype)


def _id_hashes(df: pd.DataFrame, field: Field, options: EncodeOptions, text: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of each row's id (any value where it has none) and whether it has one.

    ``text`` (a string-dtype column, decided once for the whole column so that every
    slice hashes alike): a cell is sent as it is, so pandas hashes the cells in C, with
    no Python string per row (issue 11: 0.45 s per million rows). A blank cell, which is
    not sent, is counted here too: that can only add a candidate, which the exact count
    of :func:`_rows_of` leaves out. Other columns: ``hash()`` of the ids as sent.
    """
    if text:
        series = _source_series(df, field)
        # pandas still makes a Python string of each cell while it hashes: 20,000 at a time.
        hashes = np.concatenate([
            pd.util.hash_pandas_object(series.iloc[i : i + _HASH_ROWS], index=False, categorize=False).to_numpy()
            for i in range(0, max(len(series), 1), _HASH_ROWS)
        ]).view(np.int64)
        return hashes, series.notna().to_numpy()
    ids, present = _sent_ids(df, field, options)
    hashes = np.zeros(len(df), dtype=np.int64)
    hashes[present] = key_hashes(ids[present])
    return hashes, present


def _candidates(df: pd.DataFrame, field: Field, options: EncodeOptions, quota: int, text: bool) -> np.ndarray:
    """Hashes of the ids with more than ``quota / slices`` events in some slice: every id over
    ``quota`` in the frame is among them (else it would have at most quota events in all).
    A hash shared by two ids only adds a candidate; the second pass counts by value."""
    n = len(df)
    slices = -(-n // SLICE_ROWS)
    found = []
    for part in _slices(n):
        hashes, present = _id_hashes(df.iloc[part], field, options, text)
        hashes, counts = np.unique(hashes[present], return_counts=True)
        found.append(hashes[counts * slices > quota])
    return np.unique(np.concatenate(found))


class QuotaCount:
    """The quota check's first pass over text ids, from the hashes the duplicate check makes.

    The duplicate check hashes each mapped column a slice at a time (pandas' hash of the
    cells: for a text column the same values :func:`_id_hashes` gives, with or without
    pandas' table of distinct values) and tells :meth:`see`; the ids with more than
    ``quota / slices`` events in some slice are kept (a few hashes), so the pre-flight
    does not hash every id again (about 0.2 s per million ids). A column it was not told
    all of (a mapping whose duplicate check hashes no ids, unhashable cells) is counted
    by :func:`_candidates` as before.
    """

    def __init__(self, df: pd.DataFrame, rm: ResolvedMapping, quota: int | None) -> None:
        self.df, self.quota = df, quota
        self.slices = 0
        self.found: dict[Hashable, list[np.ndarray]] = {}
        self.starts: dict[Hashable, set[int]] = {}
        self.rows: dict[Hashable, int] = {}
        if quota is None or len(df) <= quota:
            return
        for key in ("device_id", "user_id"):
            field = rm.get(key)
            if field is not None and _is_text_column(df, field):
                self.found[field.source], self.starts[field.source], self.rows[field.source] = [], set(), 0

    def see(self, label: Hashable, rows: slice, hashes: np.ndarray) -> None:
        if self.quota is None or label not in self.found or rows.start in self.starts[label]:
            return
        if rows.start == 0:  # the first slice is a whole one: the frame is this many of them
            self.slices = -(-len(self.df) // (rows.stop - rows.start))
        present = first_column(self.df, label).iloc[rows].notna().to_numpy()
        distinct, counts = np.unique(hashes.view(np.int64)[present], return_counts=True)
        self.found[label].append(distinct[counts * self.slices > self.quota])
        self.starts[label].add(rows.start)
        self.rows[label] += rows.stop - rows.start

    def candidates(self, field: Field) -> np.ndarray | None:
        """As :func:`_candidates` gives them, when every row of the column was seen; else None."""
        label = field.source
        if not self.slices or self.rows.get(label) != len(self.df):
            return None
        return np.unique(np.concatenate(self.found[label]))


def _rows_of(
    df: pd.DataFrame, field: Field, options: EncodeOptions, candidates: np.ndarray, text: bool
) -> dict[object, np.ndarray]:
    """The positions of every row of each candidate id (by its value as sent), in frame order."""
    rows: dict[object, list[np.ndarray]] = {}
    for part in _slices(len(df)):
        sliced = df.iloc[part]
        hashes, present = _id_hashes(sliced, field, options, text)
        hit = np.flatnonzero(present & np.isin(hashes, candidates))
        ids, sent = _sent_ids(sliced.iloc[hit], field, options)
        hit, ids = hit[sent], ids[sent]  # a blank id is not sent: not counted
        codes, values = pd.factorize(ids)
        for code, ident in enumerate(values.tolist()):
            rows.setdefault(ident, []).append(part.start + hit[codes == code])
    return {ident: np.concatenate(parts) for ident, parts in rows.items()}


def over_daily_quota(
    df: pd.DataFrame, rm: ResolvedMapping, options: EncodeOptions, quota: int = DAILY_EVENTS_PER_ID,
    prepared: PreparedColumns | None = None, counted: QuotaCount | None = None,
) -> list[Finding]:
    """Rows after the ``quota``-th of a device_id or user_id (in time order). ``counted``:
    the text ids' first pass, made from the duplicate check's hashes."""
    if len(df) <= quota:
        return []
    prepared = prepared_for(df, rm, options.tz, options.time_unit, prepared)
    found: list[Finding] = []
    for key, noun in (("device_id", "device"), ("user_id", "user")):
        field = rm.get(key)
        if field is None:
            continue
        text = _is_text_column(df, field)
        candidates = counted.candidates(field) if counted is not None and counted.quota == quota else None
        if candidates is None:
            candidates = _candidates(df, field, options, quota, text)
        heavy = {} if not candidates.size else {
            ident: rows for ident, rows in _rows_of(df, field, options, candidates, text).items() if len(rows) > quota
        }
        if not heavy:
            continue
        lates, messages = [], []
        for ident, rows in heavy.items():
            times = _times_at(prepared, rows)
            order = np.argsort(times, kind="stable")  # as the uploader sends them
            late, span = rows[order[quota:]], times[order[quota:]]
            lates.append(late)
            known = not np.isnan(span).all()
            messages.append(RULES[Reason.DAILY_QUOTA].message(
                key=key, id=ident, count=len(rows), quota=quota, noun=noun, late=late.size,
                first=_utc(np.nanmin(span) if known else np.nan), last=_utc(np.nanmax(span) if known else np.nan),
            ))
        # One message per hit, in row order (the ids' rows are disjoint).
        hits = np.concatenate(lates)
        which = np.repeat(np.arange(len(lates)), [len(late) for late in lates])[np.argsort(hits, kind="stable")]
        mask = np.zeros(len(df), dtype=bool)
        mask[hits] = True
        found.append(Finding(field, key, Reason.DAILY_QUOTA, mask, [messages[i] for i in which.tolist()]))
    return found


def _sets_user_properties(df: pd.DataFrame, fields: list[Field]) -> np.ndarray:
    has = np.zeros(len(df), dtype=bool)
    for field in fields:
        if isinstance(field.source, Const):
            value = field.source.value
            if value is not None and (field.name is not None or (isinstance(value, dict) and value)):
                has[:] = True
            continue
        series = _source_series(df, field)
        if field.name is not None:
            has |= series.notna().to_numpy()
        else:
            has |= np.fromiter((isinstance(v, dict) and bool(v) for v in series), dtype=bool, count=len(series))
    return has


def _skips_sync(df: pd.DataFrame, rm: ResolvedMapping) -> np.ndarray | bool:
    field = rm.get("$skip_user_properties_sync")
    if field is None:
        return False
    if isinstance(field.source, Const):
        return field.source.value is True
    series = _source_series(df, field)
    return np.fromiter((v is True or v is np.True_ for v in series), dtype=bool, count=len(series))


def old_user_properties(
    df: pd.DataFrame, rm: ResolvedMapping, times: np.ndarray | None, now_ms: int | None, older_than_ms: float,
) -> Finding | None:
    """Rows older than ``older_than_ms`` before ``now_ms`` that set user properties without
    ``$skip_user_properties_sync``."""
    fields = [f for f in rm.fields if f.key == "user_properties"]
    if not fields or times is None or now_ms is None:
        return None
    skip = _skips_sync(df, rm)
    if skip is True:
        return None
    with np.errstate(invalid="ignore"):
        old = times < now_ms - older_than_ms  # NaN (no time: Amplitude's "now") is never old
    mask = old & _sets_user_properties(df, fields) & ~np.asarray(skip, dtype=bool)
    if not mask.any():
        return None
    hours = older_than_ms / 3_600_000
    age = f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"
    message = RULES[Reason.OLD_USER_PROPERTIES].message(age=age)
    # errors="coerce": a time beyond pandas' dates (an error of its own: time_invalid,
    # integer_out_of_range) shows as NaN here rather than failing validate().
    stamps = pd.to_datetime(times[mask], unit="ms", utc=True, errors="coerce")
    values = stamps.strftime("%Y-%m-%d %H:%M UTC").to_numpy(dtype=object)
    column = next((f for f in fields if not isinstance(f.source, Const)), None)
    return Finding(column, "user_properties", Reason.OLD_USER_PROPERTIES, mask, message, values)


def findings(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    *,
    tz: str = "UTC",
    time_unit: str | None = None,
    now_ms: int | None = None,
    older_than_ms: float | None = DAY_MS,
    quota: int | None = DAILY_EVENTS_PER_ID,
    prepared: PreparedColumns | None = None,
    counted: QuotaCount | None = None,
) -> list[Finding]:
    """Both checks (None switches one off). ``prepared``: the upload's converted columns;
    ``counted``: the quota's first pass, from the duplicate check's hashes."""
    if not len(df):
        return []
    options = EncodeOptions(tz=tz, time_unit=time_unit)  # type: ignore[arg-type]
    prepared = prepared_for(df, rm, tz, time_unit, prepared)
    out: list[Finding] = []
    if quota is not None:
        out += over_daily_quota(df, rm, options, quota, prepared, counted)
    if older_than_ms is not None and now_ms is not None:
        old = _old_user_properties_in_slices(df, rm, prepared, now_ms, older_than_ms)
        if old is not None:
            out.append(old)
    return out


def _old_user_properties_in_slices(
    df: pd.DataFrame, rm: ResolvedMapping, prepared: PreparedColumns, now_ms: int, older_than_ms: float
) -> Finding | None:
    """:func:`old_user_properties` a slice at a time (it is about each row alone)."""
    if not any(f.key == "user_properties" for f in rm.fields):
        return None
    mask = np.zeros(len(df), dtype=bool)
    values: list[np.ndarray] = []
    first: Finding | None = None
    for part in _slices(len(df)):
        times = _times_ms(prepared, part)
        found = old_user_properties(df.iloc[part], rm, times, now_ms, older_than_ms)
        if found is not None:
            mask[part] = found.mask
            values.append(np.asarray(found.values, dtype=object))
            first = first or found
    if first is None:
        return None
    return dataclasses.replace(first, mask=mask, values=np.concatenate(values))


def summary_counts(failures: pd.DataFrame) -> tuple[int, int, int]:
    """(ids over the daily quota, their rows refused, old events setting user_properties)."""
    reasons = failures["reason"] if "reason" in failures else pd.Series([], dtype=object)
    quota = failures[(reasons == Reason.DAILY_QUOTA.value).to_numpy()]
    ids = int(quota["message"].str.split(" has ", n=1).str[0].nunique()) if len(quota) else 0
    old = int(np.count_nonzero((reasons == Reason.OLD_USER_PROPERTIES.value).to_numpy()))
    return ids, len(quota), old


def summary_lines(failures: pd.DataFrame | tuple[int, int, int]) -> list[str]:
    """One line per pre-flight finding kind, for results and dry runs (empty when none).

    Takes the failures, or their :func:`summary_counts` (summed over parts of a frame
    whose ids do not span parts, as a Dask upload's partitions)."""
    ids, refused, old = summary_counts(failures) if isinstance(failures, pd.DataFrame) else failures
    lines = []
    if refused:
        lines.append(f"pre-flight: {ids:,} device/user id{'' if ids == 1 else 's'} over 500,000 events in 24 h: "
                     f"{refused:,} rows would be refused (daily_quota in .validation)")
    if old:
        lines.append(f"pre-flight: {old:,} old events set user_properties and would overwrite live values "
                     "(old_user_properties in .validation; $skip_user_properties_sync prevents it)")
    return lines


__all__ = [
    "DAILY_EVENTS_PER_ID",
    "DAY_MS",
    "Finding",
    "QuotaCount",
    "findings",
    "old_user_properties",
    "over_daily_quota",
    "summary_counts",
    "summary_lines",
]
