"""Rows -> JSON-ready Amplitude events, encoded once.

Three layers, each usable alone (the first two live in ``_times`` and ``_values``
and are re-exported here):

- :func:`time_to_ms`: any time column -> float64 milliseconds since the epoch
  (reference, "Event keys" -> time: an integer in ms; ISO strings, seconds and
  floats are a 400, so we convert them here).
- :func:`field_values`: one :class:`~._mapping.Field` -> one JSON-ready Python value
  per row, ``None`` where the value is missing (reference, "General rules": "a
  missing cell is an absent key, not NaN"). Vectorised per column (``tolist``),
  with a per-cell walk only for object columns.
- :func:`encode`: chunks of compact JSON payloads (orjson), each with an
  ``insert_id``, plus the partition key each event is throttled by.

Choices (documented for users):

- Missing (None, NaN, NaT, pd.NA), infinite numbers, and empty nested objects
  become absent keys; inside lists they become ``null`` (keeping positions).
  ``inf`` is treated as missing: JSON has no Infinity and a string "inf" would
  silently turn a numeric property into a text one.
- Dates in properties become ISO 8601 strings (reference, "General rules"): naive
  datetimes as they are (``2026-11-26T14:03:00``), tz-aware ones converted to UTC
  with a ``Z`` so that string comparison still orders them; sub-seconds only when
  present; ``datetime.date`` as ``2026-11-26``. Decimals become floats; sets become
  sorted lists (set order is not stable across processes, insert_id must be).
- Whole floats in properties go out as ints (``593.0`` -> ``593``; JSON has one
  number type): an int column read back with a gap is float64, and the same rows
  must keep the same insert_ids (a re-upload is then deduplicated). Only below
  2**53, where every whole float is an exact integer. Float-typed keys (``price``,
  ``revenue``, ...) stay floats.
- String keys (ids, event_type, ...) get ``str()``; integral floats there lose the
  ``.0`` (an id column with gaps is float64 in pandas: 12345.0 -> "12345").
  Integer keys take ints and integral floats; anything else is dropped (the
  validator reports it). A datetime column mapped to ``session_id`` becomes ms.
- ``insert_id``: a hash of the key's columns with ``key(...)`` (``_key_ids``), else
  the mapped column where it has a value, else the blake2b-128 hex
  digest of the event's canonical JSON (sorted keys, without insert_id). Exact
  duplicate rows therefore share an insert_id and Amplitude keeps one of them
  (reference, "Event keys" -> insert_id), which is what makes re-running an
  upload safe.
"""


from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import orjson
import pandas as pd

from ._exceptions import ConfigurationError
from ._key_ids import KeyIds
from ._keys import EVENT_KEYS, NESTED_KEYS
from ._mapping import Const, Field, ResolvedMapping
from ._prepared import PreparedColumns, prepared_for
from ._send_as_is import as_is, as_is_time
from ._times import check_tz, time_to_ms
from ._values import (
    _const_value,
    _field_kind,
    _integral,
    _series_values,
    _source_series,
    _values,
    field_values,
)

TimeUnit = Literal["ms", "s", "us", "ns"]


@dataclass
class EncodedChunk:
    """Events for a run of rows, encoded once.

    ``positions``: int64 row positions in the frame; ``payloads``: one compact JSON
    object per event (insert_id included); ``partitions``: the key Amplitude
    throttles by (device_id, else "user:" + user_id).
    """

    positions: np.ndarray
    payloads: list[bytes]
    partitions: list[str]

    def __len__(self) -> int:
        return len(self.payloads)


@dataclass(frozen=True)
class EncodeOptions:
    """How to read values that do not say it themselves.

    ``tz``: the zone of naive datetimes and offset-less ISO strings (time key only;
    property dates are sent as they are). ``time_unit``: the unit of numeric time
    columns; ``None`` reads ms and warns when the numbers look like s/us/ns.
    ``min_id_length`` goes into the request ``options`` and does not change encoding.
    """

    tz: str = "UTC"
    time_unit: TimeUnit | None = None
    min_id_length: int | None = None

    def __post_init__(self) -> None:
        # Fail at the call, not deep inside the first chunk.
        if self.time_unit is not None and self.time_unit not in ("ms", "s", "us", "ns"):
            raise ConfigurationError(f'time_unit must be "ms", "s", "us", "ns" or None, not {self.time_unit!r}')
        check_tz(self.tz)
        if self.min_id_length is not None and self.min_id_length < 1:
            raise ConfigurationError("min_id_length must be a positive integer")


# --------------------------------------------------------------------------------------
# order


def _positions(n: int, positions: np.ndarray | Sequence[int] | None) -> np.ndarray:
    if positions is None:
        return np.arange(n, dtype=np.int64)
    return np.asarray(positions, dtype=np.int64)


def position_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type for row positions of an ``n``-row frame.

    int32 below 2**31 rows: half the memory of int64 for per-row position arrays
    (issue 7: 10 million rows are 40 MB instead of 80 MB).
    """
    return np.int32 if n < 2**31 else np.int64


_TIME_SLICE = 1_000_000


def send_order(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions,
    positions: np.ndarray | None = None,
    prepared: PreparedColumns | None = None,
) -> np.ndarray | None:
    """The rows to send (``positions``, None = all rows), stably ordered by event time.

    Returned unchanged (None stays None: nothing per row is allocated) when the
    rows are already in time order, the usual export; otherwise the reordered
    positions, rows without a time at the end in frame order. Times are converted
    in slices, so the check holds one slice at a time; only frames out of order
    pay for a whole float column and its argsort (16 bytes a row, then freed).
    ``prepared``: the upload's converted columns (``_prepared``), shared with validation.
    """
    field = rm.get("time")
    n = len(df) if positions is None else len(positions)
    if field is None or isinstance(field.source, Const) or n == 0:
        return positions
    columns = prepared_for(df, rm, options.tz, options.time_unit, prepared)

    def times(start: int) -> np.ndarray:
        rows = slice(start, start + _TIME_SLICE) if positions is None else positions[start : start + _TIME_SLICE]
        return columns.time_ms(rows)[0]  # quietly: encode() warns about the unit once, not per slice

    last = -np.inf
    ms: np.ndarray | None = None
    for start in range(0, n, _TIME_SLICE):
        part = times(start)
        if ms is None:
            if not np.isnan(part).any() and part[0] >= last and bool(np.all(part[1:] >= part[:-1])):
                last = part[-1]
                continue
            # Out of order: now the whole column is needed (earlier slices converted again).
            ms = np.empty(n, dtype=np.float64)
            for before in range(0, start, _TIME_SLICE):
                done = times(before)
                ms[before : before + len(done)] = done
        ms[start : start + len(part)] = part
    if ms is None:
        return positions
    # numpy sorts NaN last, and a stable sort keeps frame order among equals.
    order = np.argsort(ms, kind="stable")
    del ms
    if positions is None:
        return order.astype(position_dtype(n))
    return np.asarray(positions)[order]


def sort_positions(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions,
    positions: np.ndarray | Sequence[int] | None = None,
) -> np.ndarray:
    """Positions stably ordered by event time; rows without a time keep frame order at the end."""
    pos = _positions(len(df), positions)
    order = send_order(df, rm, options, pos)
    return pos if order is None else order.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------
# events


def insert_id(canonical_event: bytes) -> str:
    """The deduplication id of an event: blake2b-128 of its canonical JSON, 32 hex chars.

    Stable across runs, processes and machines (hashlib, not ``hash()``).
    """
    return hashlib.blake2b(canonical_event, digest_size=16).hexdigest()


_Builder = Callable[..., dict[str, Any]]
_BUILDERS: dict[tuple[object, ...], _Builder] = {}


def _builder(layout: tuple[tuple[str, str | None, bool], ...]) -> _Builder:
    """A function (v0, v1, ...) -> event dict for one chunk layout.

    ``layout`` is (key, name, may_be_missing) per argument; nested fields of a key
    are consecutive, a whole-object field (name None) first. Generated once per
    layout because a dict literal is several times faster than a loop over fields,
    and this is the per-row hot path. Keys enter the source only through repr(),
    which always yields a plain string literal.
    """
    fn = _BUILDERS.get(layout)
    if fn is not None:
        return fn
    args = [f"v{i}" for i in range(len(layout))]
    lines = [f"def build({', '.join(args)}):"]
    flat = [(i, k) for i, (k, n, _) in enumerate(layout) if k not in NESTED_KEYS]
    sure = ", ".join(f"{k!r}: v{i}" for i, k in flat if not layout[i][2])
    lines.append(f"    ev = {{{sure}}}")
    for i, k in flat:
        if layout[i][2]:
            lines.append(f"    if v{i} is not None: ev[{k!r}] = v{i}")
    for key in NESTED_KEYS:
        idx = [i for i, (k, _, _) in enumerate(layout) if k == key]
        if not idx:
            continue
        whole = [i for i in idx if layout[i][1] is None]
        named = [i for i in idx if layout[i][1] is not None]
        sure = ", ".join(f"{layout[i][1]!r}: v{i}" for i in named if not layout[i][2])
        pad = "    "
        if whole:
            w = whole[0]
            # A whole-object cell that is not a dict is only ever one sent as it is
            # (on_invalid="send"): it stands alone, Amplitude judges it.
            lines.append(f"    if v{w} is not None and type(v{w}) is not dict: ev[{key!r}] = v{w}")
            lines.append("    else:")
            pad = "        "
            lines.append(f"{pad}o = {{**v{w}, {sure}}} if v{w} is not None else {{{sure}}}")
        else:
            lines.append(f"{pad}o = {{{sure}}}")
        for i in named:
            if layout[i][2]:
                lines.append(f"{pad}if v{i} is not None: o[{layout[i][1]!r}] = v{i}")
        lines.append(f"{pad}if o: ev[{key!r}] = o")
    lines.append("    return ev")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<amp_notebook event builder>", "exec"), namespace)
    built: _Builder = namespace["build"]
    _BUILDERS[layout] = built
    return built


_SORT = orjson.OPT_SORT_KEYS


def _chunks(
    n: int, positions: np.ndarray | Sequence[int] | None, chunk_rows: int
) -> Iterator[tuple[np.ndarray, slice | np.ndarray]]:
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if positions is None:
        for start in range(0, n, chunk_rows):
            stop = min(start + chunk_rows, n)
            yield np.arange(start, stop, dtype=np.int64), slice(start, stop)
    else:
        # Any integer dtype (send_order gives int32); each chunk's slice as int64.
        pos = np.asarray(positions)
        if pos.dtype.kind not in "iu":
            pos = pos.astype(np.int64)
        for start in range(0, len(pos), chunk_rows):
            part = pos[start : start + chunk_rows].astype(np.int64)
            yield part, part


class _Plan:
    """Per-frame preparation shared by every chunk: sources and constants resolved once.

    ``send_as_is``: field -> row positions whose cell goes out as it is (on_invalid="send").
    """

    def __init__(
        self,
        df: pd.DataFrame,
        rm: ResolvedMapping,
        options: EncodeOptions,
        send_as_is: Mapping[Field, np.ndarray] | None = None,
        prepared: PreparedColumns | None = None,
    ) -> None:
        self.options = options
        self.as_is = dict(send_as_is or {})
        self.prepared = prepared_for(df, rm, options.tz, options.time_unit, prepared)
        # Nested fields grouped by key (whole-object first), so the builder sees them together.
        order = {k: i for i, k in enumerate(EVENT_KEYS)}
        fields = sorted(
            (f for f in rm.fields if f.key != "insert_id"),
            key=lambda f: (order[f.key], f.name is not None),
        )
        self.fields: list[tuple[Field, pd.Series | None, Any]] = []
        for f in fields:
            if isinstance(f.source, Const):
                value = _const_value(f, options)
                if value is not None:
                    self.fields.append((f, None, value))
            else:
                self.fields.append((f, _source_series(df, f), None))
        iid = rm.get("insert_id")
        self.insert_id: tuple[pd.Series | None, Any] | None = None
        if iid is not None:
            if isinstance(iid.source, Const):
                self.insert_id = (None, _const_value(iid, options))
            else:
                self.insert_id = (_source_series(df, iid), None)
        self.key_ids = KeyIds(df, rm) if rm.insert_id_key is not None else None
        keys = [f.key for f, _, _ in self.fields]
        self.device = keys.index("device_id") if "device_id" in keys else None
        self.user = keys.index("user_id") if "user_id" in keys else None

    def columns(
        self, rows: slice | np.ndarray, pos: np.ndarray
    ) -> tuple[list[Iterable[Any]], list[bool], dict[int, list[Any]]]:
        """(values per field, may-be-missing per field, the typed ids where cells go as is).

        The last: field index -> its encoded values before cells were put back as they are,
        for the id fields only: the partition key stays the string the typed encoding gives
        (an id sent as it is may be a list or a number; the pacing plan was made from these).
        """
        cols: list[Iterable[Any]] = []
        nullable: list[bool] = []
        typed_ids: dict[int, list[Any]] = {}
        for i, (f, series, value) in enumerate(self.fields):
            if series is None:
                cols.append(value)
                nullable.append(False)
                continue
            part = series.iloc[rows]
            vals, maybe_missing = self._read(f, part, rows)
            if f in self.as_is:
                if i in (self.device, self.user):
                    typed_ids[i] = list(vals)
                maybe_missing |= self._put_as_is(f, part, pos, vals)
            cols.append(vals)
            nullable.append(maybe_missing)
        return cols, nullable, typed_ids

    def _read(self, f: Field, part: pd.Series, rows: slice | np.ndarray) -> tuple[list[Any], bool]:
        """One field's values at ``rows`` (``part``), as sent; times and ids from the converted columns."""
        kind = _field_kind(f)
        if kind == "time":
            return _integral(self.prepared.time_ms(rows, warn=True)[0])
        if kind == "id":
            return self.prepared.id_texts(f, rows)
        return _values(part, kind, self.options)

    def _put_as_is(self, f: Field, part: pd.Series, pos: np.ndarray, vals: list[Any]) -> bool:
        """Replace the chunk's cells listed in ``as_is[f]`` by the cells as they are."""
        hits = np.flatnonzero(np.isin(pos, self.as_is[f]))
        if not hits.size:
            return False
        cells = part.iloc[hits]
        if f.key == "time":
            ms, _ = time_to_ms(cells, tz=self.options.tz, time_unit=self.options.time_unit)
            new = [as_is_time(c, m) for c, m in zip(cells.tolist(), ms.tolist(), strict=True)]
        else:
            new = [as_is(c) for c in cells.tolist()]
        for i, v in zip(hits.tolist(), new, strict=True):
            vals[i] = v
        return True

    def chunk(self, pos: np.ndarray, rows: slice | np.ndarray) -> EncodedChunk:
        n = len(pos)
        cols, nullable, typed_ids = self.columns(rows, pos)
        layout = tuple((f.key, f.name, nullable[i]) for i, (f, _, _) in enumerate(self.fields))
        build = _builder(layout)
        iterables = [
            itertools.repeat(c, n) if series is None else c
            for c, (_, series, _) in zip(cols, self.fields, strict=True)
        ]
        events = map(build, *iterables) if iterables else ({} for _ in range(n))
        # An event with one value that is never missing cannot serialise to "{}".
        may_be_empty = all(nullable)
        iids = self.key_ids.ids(rows, pos) if self.key_ids is not None else self._insert_ids(rows, n)
        payloads = _payloads(events, iids, may_be_empty)
        keyed = [typed_ids.get(i, c) for i, c in enumerate(cols)] if typed_ids else cols
        return EncodedChunk(positions=pos, payloads=payloads, partitions=self._partitions(keyed, n))

    def _insert_ids(self, rows: slice | np.ndarray, n: int) -> list[Any] | None:
        if self.insert_id is None:
            return None
        series, value = self.insert_id
        if series is None:
            return None if value is None else [value] * n
        return _series_values(series.iloc[rows], "string", self.options)

    def _partitions(self, cols: list[Iterable[Any]], n: int) -> list[str]:
        def column(i: int | None) -> list[Any] | None:
            if i is None:
                return None
            c = cols[i]
            return [c] * n if self.fields[i][1] is None else cast("list[Any]", c)

        return partition_keys(column(self.device), column(self.user), n)

    def partitions(self, rows: slice | np.ndarray, n: int) -> list[str]:
        """The partition keys of ``rows`` (``n`` of them), without encoding the events."""

        def column(i: int | None) -> list[Any] | None:
            if i is None:
                return None
            f, series, value = self.fields[i]
            if series is None:
                return [value] * n
            return self.prepared.id_texts(f, rows)[0]

        devices = column(self.device)
        if devices is not None and None not in devices:  # the user column cannot matter
            return cast("list[str]", devices)
        return partition_keys(devices, column(self.user), n)


def partition_keys(devices: Sequence[str | None] | None, users: Sequence[str | None] | None, n: int) -> list[str]:
    """The key each event is throttled by: its device_id, else "user:" + user_id, else "".

    Shared vocabulary / reference "Limits" (Amplitude throttles per device, else per
    user). ``devices`` / ``users`` are the encoded ids (as :func:`field_values` gives
    them, None where missing); None for a key that is not mapped. The scheduler paces
    by this key, the upload's pacing plan counts events by it, and scale-out
    (``amp_notebook.dask``) partitions by it.
    """
    if devices is None:
        if users is None:
            return [""] * n
        return ["" if u is None else "user:" + u for u in users]
    if users is None or None not in devices:
        return ["" if d is None else d for d in devices]
    return [d if d is not None else "" if u is None else "user:" + u for d, u in zip(devices, users, strict=True)]


def frame_partition_keys(df: pd.DataFrame, rm: ResolvedMapping, options: EncodeOptions | None = None) -> list[str]:
    """:func:`partition_keys` for every row of ``df``, exactly as :func:`encode` computes them."""
    return list(itertools.chain.from_iterable(iter_partition_keys(df, rm, options)))


def iter_partition_keys(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions | None = None,
    *,
    positions: np.ndarray | Sequence[int] | None = None,
    chunk_rows: int = 100_000,
    prepared: PreparedColumns | None = None,
) -> Iterator[list[str]]:
    """The partition key of every row :func:`encode` would send, ``chunk_rows`` at a time, same order.

    Each key is a Python string (~60 bytes; a user's is built as "user:" + the id, a
    second string): 100,000 at a time keep that near 10 MB (issue 11), no slower.
    """
    plan = _Plan(df, rm, options or EncodeOptions(), prepared=prepared)
    for pos, rows in _chunks(len(df), positions, chunk_rows):
        yield plan.partitions(rows, len(pos))


_IID = b',"insert_id":"'


def _payloads(
    events: Iterable[dict[str, Any]], insert_ids: list[Any] | None, may_be_empty: bool
) -> list[bytes]:
    """Serialise each event once: canonical bytes, hashed, insert_id spliced in before the '}'.

    The hot loop of the package (about half of the encode time): keep it flat.
    """
    dumps, blake2b, join = orjson.dumps, hashlib.blake2b, b"".join
    out: list[bytes] = []
    append = out.append
    if insert_ids is None and not may_be_empty:
        for ev in events:
            c = dumps(ev, option=_SORT)
            append(join((c[:-1], _IID, blake2b(c, digest_size=16).hexdigest().encode(), b'"}')))
        return out
    for ev, iid in zip(events, insert_ids or itertools.repeat(None), strict=False):
        if iid is not None:
            ev["insert_id"] = iid
            append(dumps(ev, option=_SORT))
            continue
        c = dumps(ev, option=_SORT)
        h = blake2b(c, digest_size=16).hexdigest().encode()
        append(join((c[:-1], _IID if len(c) > 2 else _IID[1:], h, b'"}')))
    return out


def encode(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions | None = None,
    *,
    positions: np.ndarray | Sequence[int] | None = None,
    chunk_rows: int = 20_000,
    send_as_is: Mapping[Field, np.ndarray] | None = None,
    prepared: PreparedColumns | None = None,
) -> Iterator[EncodedChunk]:
    """Encode rows lazily, ``chunk_rows`` at a time, in the order of ``positions``.

    Each event is serialised once (orjson); bad values are dropped, never sent as NaN,
    except the cells ``send_as_is`` lists (field -> row positions: on_invalid="send"),
    which go out as they are (``_send_as_is``). ``prepared``: the upload's converted
    columns (``_prepared``), shared with validation and the send order.
    """
    options = options or EncodeOptions()
    plan = _Plan(df, rm, options, send_as_is, prepared)
    for pos, rows in _chunks(len(df), positions, chunk_rows):
        yield plan.chunk(pos, rows)


def iter_events(
    df: pd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions | None = None,
    *,
    positions: np.ndarray | Sequence[int] | None = None,
    chunk_rows: int = 20_000,
) -> Iterator[dict[str, Any]]:
    """The events as JSON-ready dicts, exactly as :func:`encode` sends them (insert_id included)."""
    loads = orjson.loads
    for chunk in encode(df, rm, options, positions=positions, chunk_rows=chunk_rows):
        for payload in chunk.payloads:
            yield loads(payload)


__all__ = [
    "EncodeOptions",
    "EncodedChunk",
    "encode",
    "field_values",
    "frame_partition_keys",
    "insert_id",
    "iter_events",
    "iter_partition_keys",
    "partition_keys",
    "position_dtype",
    "send_order",
    "sort_positions",
    "time_to_ms",
]
