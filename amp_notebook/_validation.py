"""Run Amplitude's rules (``_rules``) over a frame: one failures row per problem.

Column-wise throughout: each mapped field is checked as one column (a constant as a
one-row column, its verdict broadcast to every row), then the rules that need several
keys (an id somewhere, revenue, group counts) combine per-row boolean arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from . import _rules as R
from ._duplicates import duplicate_rows
from ._exceptions import ConfigurationError
from ._key_ids import KeyScan, scan_keys
from ._keys import (
    ALIASES,
    EVENT_KEYS,
    MAX_GROUP_TYPES,
    MAX_GROUP_VALUES,
    MAX_NESTING_DEPTH,
    PLAN_FIELDS,
    normalise_name,
)
from ._mapping import Const, Field, ResolvedMapping, first_column
from ._preflight import QuotaCount, findings
from ._prepared import PreparedColumns
from ._report import FAILURE_COLUMNS, ValidationReport
from ._rule_table import RULES, Reason
from ._time_text import advice as time_advice
from ._times import check_tz, time_to_ms

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["ValidateOptions", "validate_frame"]

MISSING_TIME = tuple(RULES[Reason.TIME_MISSING].messages)  # the option's values: the rule's cases


@dataclass(frozen=True)
class ValidateOptions:
    """How to judge the frame.

    ``min_id_length``: the request's ``options.min_id_length`` (reference, "Request body").
    ``tz`` / ``time_unit``: how the encoder reads times. ``now_ms``: the clock, injected
    (None skips the "time in the future" and the old-event warnings).
    ``old_event_hours``: events older than this that set user properties get the
    ``old_user_properties`` pre-flight warning (None: never); ``daily_quota``: events
    per device/user in 24 hours for the ``daily_quota`` one (None: not checked).
    ``missing_time``: what an empty cell of a mapped time column is: "error" (the
    default: sent without ``time``, the event would be dated at the upload time) or
    "upload_time" (that is wanted: a warning).
    """

    min_id_length: int = 5
    tz: str = "UTC"
    time_unit: str | None = None
    now_ms: int | None = None
    old_event_hours: float | None = 24.0
    daily_quota: int | None = 500_000
    missing_time: str = "error"

    def __post_init__(self) -> None:
        # A bad option is a configuration error, raised before any row is looked at.
        if isinstance(self.min_id_length, bool) or not isinstance(self.min_id_length, int) or self.min_id_length < 1:
            raise ConfigurationError(f"min_id_length must be a positive integer, not {self.min_id_length!r}")
        if self.time_unit not in (None, "ms", "s", "us", "ns"):
            raise ConfigurationError(
                f"time_unit must be 's', 'ms', 'us', 'ns' or None, not {self.time_unit!r}"
            )
        check_tz(self.tz)
        if self.missing_time not in MISSING_TIME:
            raise ConfigurationError(
                f"missing_time must be 'error' or 'upload_time', not {self.missing_time!r}"
            )


@dataclass
class _Source:
    """One field's values: the column (RangeIndex) or a one-row Series for a constant."""

    field: Field
    values: pd.Series
    column: Hashable | None  # the frame's column label; None for a constant

    @property
    def const(self) -> bool:
        return self.column is None


def _source(df: pd.DataFrame, field: Field) -> _Source:
    if isinstance(field.source, Const):
        cell = np.empty(1, dtype=object)
        cell[0] = field.source.value  # lists/dicts stay one cell
        return _Source(field, pd.Series(cell).infer_objects(), None)
    return _Source(field, R.plain(first_column(df, field.source)), field.source)


class _Collector:
    """Accumulates failures as arrays (one block per check) and builds the table once."""

    def __init__(self, df: pd.DataFrame, rm: ResolvedMapping) -> None:
        self.n = len(df)
        self.blocks: list[tuple[np.ndarray, Hashable | None, str, object, str, object, object]] = []
        # Within a row, failures follow the mapping's field order (unmapped keys first).
        self.field_order = {field: i for i, field in enumerate(rm.fields)}
        self.orders: list[int] = []

    def add(
        self,
        src: _Source | None,
        mask: np.ndarray,
        reason: Reason,
        message: str | Sequence[str],
        *,
        case: str = "",
        values: Sequence[object] | np.ndarray | None = None,
        key: str | None = None,
    ) -> None:
        """Record a problem where ``mask`` is True, with the severity the rules table gives
        ``reason`` (and its ``case``: the one the message is written from).

        ``mask`` covers the rows (length n) or, for a constant, its one cell (length 1:
        broadcast to every row). ``message``/``values`` are one per hit (aligned with
        ``np.flatnonzero(mask)``) or scalars.
        """
        where = np.flatnonzero(mask)
        if not where.size:
            return
        positions = where
        if src is not None and src.const and len(mask) == 1 and self.n != 1:
            positions = np.arange(self.n)
        if values is None:
            if src is None:
                values = np.full(where.size, None, dtype=object)
            elif src.const:
                values = _fill(src.values.iloc[0], where.size)
            else:
                values = src.values.take(where).to_numpy(dtype=object)
        sev = RULES[reason].severity_of(case).value
        self.orders.append(-1 if src is None else self.field_order.get(src.field, -1))
        self.blocks.append(
            (
                positions.astype(np.int64),
                None if src is None else src.column,
                key if key is not None else ("" if src is None else src.field.path),
                sev,
                reason.value,
                message,
                values,
            )
        )

    def frame(self, index: pd.Index) -> pd.DataFrame:
        if not self.blocks:
            return empty_failures()
        positions = np.concatenate([b[0] for b in self.blocks])

        def cat(i: int) -> np.ndarray:
            parts = []
            for block in self.blocks:
                k = block[0].size
                item = block[i]
                if isinstance(item, (np.ndarray, list)):
                    if len(item) == k:
                        arr = np.empty(k, dtype=object)
                        arr[:] = item
                        parts.append(arr)
                    else:  # a constant's one answer, broadcast to every row
                        parts.append(_fill(item[0], k))
                else:
                    parts.append(_fill(item, k))
            return np.concatenate(parts)

        field_rank = np.concatenate(
            [np.full(b[0].size, rank, dtype=np.int64) for b, rank in zip(self.blocks, self.orders, strict=True)]
        )
        order = np.lexsort((field_rank, positions))  # stable: ties keep the rule order
        positions = positions[order]
        rows = index.take(positions)
        if isinstance(rows, pd.MultiIndex):
            rows = rows.to_flat_index()
        index_out = pd.Index(positions, name="position")
        data = {
            "row": rows.to_series(index=pd.RangeIndex(len(rows))),
            "column": pd.Series(cat(1)[order], dtype=object),
            "key": cat(2)[order],
            "severity": cat(3)[order],
            "reason": cat(4)[order],
            "message": cat(5)[order],
            "value": pd.Series(_shorten_values(cat(6)[order]), dtype=object),
        }
        out = pd.DataFrame(data)  # RangeIndex first: object columns stay object
        out.index = index_out
        for name in ("key", "severity", "reason", "message"):
            out[name] = out[name].astype(str)
        return cast(pd.DataFrame, out)


def _fill(value: object, k: int) -> np.ndarray:
    arr = np.empty(k, dtype=object)
    arr.fill(value)  # tuples/lists stay whole objects (np.full would unpack them)
    return arr


def empty_failures() -> pd.DataFrame:
    cols: dict[str, pd.Series] = {c: pd.Series([], dtype=object) for c in FAILURE_COLUMNS}
    for name in ("key", "severity", "reason", "message"):
        cols[name] = cols[name].astype(str)
    return cast(pd.DataFrame, pd.DataFrame(cols, index=pd.Index([], dtype=np.int64, name="position")))


def _short_repr(value: object, limit: int = 80) -> object:
    """Long strings and containers become a truncated repr: the table stays readable."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[: limit // 2]!r}… ({len(value):,} characters)"
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        text = repr(value)
        return value if len(text) <= limit else text[: limit - 1] + "…"
    return value


def _shorten_values(values: np.ndarray) -> np.ndarray:
    out: np.ndarray = values.copy()
    for i, v in enumerate(values):
        if isinstance(v, (str, list, tuple, dict, set, np.ndarray)):
            out[i] = _short_repr(v)
    return out


def _per_value(details: np.ndarray, fmt: Callable[[Any], str]) -> list[str]:
    """One message per hit, formatted once per distinct detail (cheap on big failures)."""
    cache: dict[object, str] = {}
    out = []
    for d in details.tolist():
        if d not in cache:
            cache[d] = fmt(d)
        out.append(cache[d])
    return out


def _say(reason: Reason, case: str = "", /, **fields: object) -> str:
    """A message of the rules table (``_rule_table.RULES``), fields filled in."""
    return RULES[reason].message(case, **fields)


def _said(
    reason: Reason, case: str, name: str, convert: Callable[[Any], object] | None = None, /, **fields: object
) -> Callable[[Any], str]:
    """A formatter for _per_value: the per-hit detail (``convert``-ed) fills the field ``name``."""
    return RULES[reason].filler(case, name, convert, **fields)


# -- the rules, per field ----------------------------------------------------------------


class _Validator:
    # What a row is called in messages (Identify's validator says "identification"), and
    # the id_too_short cases (the id alone, another id kept): Identify sends no options,
    # so its min_id_length cannot change.
    noun = "event"
    short_id_cases = ("", "kept")

    def __init__(
        self, df: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions,
        prepared: PreparedColumns | None = None, rows: slice | None = None,
    ) -> None:
        self.df, self.rm, self.options = df, rm, options
        self.n = len(df)
        # The upload's converted columns (_prepared), of which this frame is ``rows``.
        self.prepared, self.rows = prepared, rows if rows is not None else slice(0, len(df))
        self.out = _Collector(df, rm)
        self.ids: dict[str, tuple[_Source, R.IdState]] = {}
        self.nums: dict[str, tuple[_Source, R.Numbers]] = {}
        self.present: dict[str, tuple[_Source, np.ndarray]] = {}

    def sent(self, src: _Source) -> pd.Series:
        """The values exactly as the encoder sends them (object Series, None = left out).

        Only used where a vectorised reading cannot be exact: object columns with mixed
        values or containers, and unusual dtypes. It walks the cells.
        """
        from ._encoding import EncodeOptions, field_values

        opts = EncodeOptions(tz=self.options.tz, time_unit=self.options.time_unit)  # type: ignore[arg-type]
        frame = self.df.iloc[:1] if src.const else self.df
        out = np.empty(len(src.values), dtype=object)
        out[:] = field_values(frame, src.field, opts)
        return cast(pd.Series, pd.Series(out, dtype=object))

    def strings(self, src: _Source) -> pd.Series:
        """A string key's values as sent (NaN/None where left out); vectorised when possible."""
        v = src.values
        if R.is_text_dtype(v.dtype) or R.object_kind(v) in ("string", "empty"):
            return R.fast_text(v)
        if v.dtype.kind in "iuf" and not R.is_bool_dtype(v.dtype):
            return R.sent_strings(v)
        return self.sent(src)

    def full(self, src: _Source, mask: np.ndarray) -> np.ndarray:
        """A per-cell array over every row (a constant's single answer broadcast)."""
        return np.broadcast_to(mask, (self.n,)) if src.const else mask

    def run(self) -> pd.DataFrame:
        for field in self.rm.fields:
            src = _source(self.df, field)
            if field.key in ("event_properties", "user_properties"):
                self.properties(src)
            elif field.key == "groups":
                continue  # per event, over all group fields: below
            elif field.key == "plan":
                self.plan(src)
            elif field.key == "time":
                self.time(src)
            else:
                self.top_level(src)
        self.event_type_mapped()
        self.id_rules()
        self.revenue_rules()
        self.groups([_source(self.df, f) for f in self.rm.fields if f.key == "groups"])
        return self.out.frame(self.df.index)

    # -- strings ---------------------------------------------------------------------
    def string_length(self, src: _Source, strings: pd.Series | None, n: np.ndarray | None = None) -> None:
        """Reference, "General rules": every string value is at most 1024 characters."""
        if strings is None:
            return
        long, n = R.too_long(strings, n)
        path = src.field.path
        self.out.add(
            src, long, Reason.STRING_TOO_LONG,
            _per_value(n[long], _said(Reason.STRING_TOO_LONG, "", "n", int, path=path)),
        )

    def top_level(self, src: _Source) -> None:
        key = src.field.key
        kind = EVENT_KEYS.get(key, "string")
        if key in ("user_id", "device_id"):
            strings = self.strings(src)
            n = R.lengths(strings)
            blank = None if self.prepared is None or src.const else self.prepared.blank_mask(src.field, self.rows)
            state = R.id_state(
                strings, device=key == "device_id", min_id_length=self.options.min_id_length, n=n, blank=blank
            )
            self.ids[key] = (src, state)
            self.string_length(src, strings, n)
        elif key == "event_type":
            self.event_type(src)
        elif kind in ("integer", "float"):
            self.numeric(src, integer=kind == "integer")
        elif kind == "boolean":
            bad = R.booleans_bad(src.values)
            self.out.add(src, bad, Reason.NOT_A_BOOLEAN, _say(Reason.NOT_A_BOOLEAN, key=key))
        elif kind in ("object", "groups", "plan"):  # pragma: no cover - routed elsewhere
            return
        else:
            strings = self.strings(src)
            self.present[key] = (src, self.full(src, ~R.missing(strings)))
            self.string_length(src, strings)

    def event_type(self, src: _Source) -> None:
        """Reference, "Event keys" -> event_type: required; reserved names are refused."""
        strings = self.strings(src)
        absent, reserved, formerly = R.event_type_problems(strings)
        self.out.add(src, absent, Reason.EVENT_TYPE_MISSING, _say(Reason.EVENT_TYPE_MISSING))
        names = strings.to_numpy(dtype=object)
        for reason, hits in ((Reason.EVENT_TYPE_RESERVED, reserved), (Reason.EVENT_TYPE_FORMERLY_RESERVED, formerly)):
            self.out.add(src, hits, reason, _per_value(names[hits], _said(reason, "", "value")))
        self.string_length(src, strings)

    def event_type_mapped(self) -> None:
        if self.rm.get("event_type") is None:
            self.out.add(
                None, np.ones(self.n, dtype=bool), Reason.EVENT_TYPE_MISSING,
                _say(Reason.EVENT_TYPE_MISSING, "unmapped"), case="unmapped", key="event_type",
            )

    # -- numbers ---------------------------------------------------------------------
    def numeric(self, src: _Source, *, integer: bool) -> None:
        """Reference, "Event keys": numeric keys take numbers (JSON has no NaN/Infinity)."""
        key = src.field.key
        num = R.numbers(src.values, datetimes_as_ms=integer)
        self.nums[key] = (src, num)
        kind = "integer" if integer else ""
        self.out.add(src, num.bad, Reason.NOT_A_NUMBER, _say(Reason.NOT_A_NUMBER, kind, key=key), case=kind)
        big = np.zeros(len(src.values), dtype=bool)
        if integer:
            big = R.out_of_int64(src.values)
            self.integer_out_of_range(src, big)
            self.out.add(
                src, num.not_integer() & ~big, Reason.NOT_AN_INTEGER, _say(Reason.NOT_AN_INTEGER, key=key)
            )
        if key == "session_id":
            self.out.add(src, R.session_id_bad(num) & ~big, Reason.SESSION_ID_INVALID, _say(Reason.SESSION_ID_INVALID))
        elif key == "location_lat":
            self.out.add(src, R.lat_bad(num), Reason.LAT_OUT_OF_RANGE, _say(Reason.LAT_OUT_OF_RANGE))
        elif key == "location_lng":
            self.out.add(src, R.lng_bad(num), Reason.LNG_OUT_OF_RANGE, _say(Reason.LNG_OUT_OF_RANGE))

    def integer_out_of_range(self, src: _Source, big: np.ndarray) -> None:
        """Reference, "Event keys": integers are longs (session_id "integer (long)")."""
        self.out.add(src, big, Reason.INTEGER_OUT_OF_RANGE, _say(Reason.INTEGER_OUT_OF_RANGE, path=src.field.path))

    # -- time ------------------------------------------------------------------------
    def time(self, src: _Source) -> None:
        """Reference, "Event keys" -> time: an integer, ms since the Unix epoch."""
        if self.prepared is not None and not src.const:
            ms, bad = self.prepared.time_ms(self.rows)  # read quietly, as below
        else:
            with warnings.catch_warnings():
                # The encoder warns about a seconds-looking column; here the report says it per row.
                warnings.simplefilter("ignore", UserWarning)
                ms_series, bad = time_to_ms(src.values, tz=self.options.tz, time_unit=self.options.time_unit)
            ms = np.asarray(ms_series.to_numpy(dtype=float, na_value=np.nan), dtype=float)
            bad = np.asarray(bad, dtype=bool)
        # Advice for the value found (a day-first date, a number in text, ...): _time_text.
        # Only the bad cells become objects: a datetime column's would be a Timestamp per row.
        texts = np.array([v if isinstance(v, str) else None for v in self.values_at(src, bad)], dtype=object)
        self.out.add(src, bad, Reason.TIME_INVALID, _per_value(texts, lambda v: time_advice(v, src.column)))
        with np.errstate(invalid="ignore"):
            big = np.isfinite(ms) & ((ms >= 2.0**63) | (ms < -(2.0**63)))
        if self.options.time_unit in (None, "ms"):  # exact for the cells themselves
            big |= R.out_of_int64(src.values)
        self.integer_out_of_range(src, big)
        bad = bad | big  # one verdict per cell: the time checks below skip it
        # Reference, "Event keys" -> time: ms *since* the epoch; the server refuses a
        # negative one (as the sandbox does): an error, not a "before 2000" warning.
        with np.errstate(invalid="ignore"):
            negative = ~bad & (ms < 0)
        self.out.add(
            src, negative, Reason.TIME_INVALID,
            _per_value(ms[negative], _said(Reason.TIME_INVALID, "negative", "when", _iso)),
        )
        bad = bad | negative
        self.time_missing(src, np.isnan(ms) & ~bad)
        early, late = R.time_flags(ms, self.options.now_ms)
        numeric = src.values.dtype.kind in "iuf" and not R.is_bool_dtype(src.values.dtype)
        seconds = numeric and self.options.time_unit in (None, "ms")
        for case, hits in (("seconds" if seconds else "early", early & ~bad), ("late", late & ~bad)):
            self.out.add(
                src, hits, Reason.TIME_SUSPICIOUS,
                _per_value(ms[hits], _said(Reason.TIME_SUSPICIOUS, case, "when", _iso)),
            )

    def time_missing(self, src: _Source, missing: np.ndarray) -> None:
        """Reference, "Event keys" -> time: "when absent the server uses the upload time".

        With ``time`` mapped, an empty cell (NaN, NaT, None, "") is a row that would be
        dated at the upload time: a backfill would put part of its history at "now".
        """
        # The option names the case (and so the severity) in the rules table.
        case = self.options.missing_time
        self.out.add(src, missing, Reason.TIME_MISSING, _say(Reason.TIME_MISSING, case), case=case)

    # -- nested values -----------------------------------------------------------------
    def nested_walk(self, src: _Source, *, base_depth: int) -> list[R.Walk | None]:
        """Per cell, for object columns holding lists/dicts: depth and too-long strings.

        Walks the cells as they are, not the encoder's cleaned copy (several times
        faster on a million lists): cleaning only turns dates/decimals/bytes into short
        values, sets/tuples/arrays into lists, and drops empty dicts, none of which makes
        a value deeper or a string longer.
        """
        limit = MAX_NESTING_DEPTH - base_depth
        cells = src.values.to_numpy(dtype=object)
        absent = R.missing(src.values)
        return [None if a else R.walk(v, max_depth=limit) for v, a in zip(cells.tolist(), absent.tolist(), strict=True)]

    def report_walks(
        self, src: _Source, walks: list[R.Walk | None], *, base_depth: int, numbers: bool = True
    ) -> None:
        """Depth, long strings and (``numbers``: where integers go out as JSON numbers,
        not as text like group and plan values) integers beyond 64 bits."""
        path = src.field.path
        if numbers:
            self.integer_out_of_range(src, np.array([w is not None and w.big_int for w in walks], dtype=bool))
        too_deep = np.array([w is not None and w.depth + base_depth > MAX_NESTING_DEPTH for w in walks])
        depths = np.array([0 if w is None else w.depth + base_depth for w in walks])
        self.out.add(
            src, too_deep, Reason.NESTING_TOO_DEEP,
            _per_value(
                depths[too_deep],
                lambda d: _say(
                    Reason.NESTING_TOO_DEEP, "deeper" if d > MAX_NESTING_DEPTH + 1 else "",
                    key=src.field.key, depth=min(int(d), MAX_NESTING_DEPTH + 1), path=path,
                ),
            ),
        )
        long = np.array([w is not None and bool(w.long_strings) for w in walks])
        if long.any():
            msgs, vals = [], []
            for w in (w for w in walks if w is not None and w.long_strings):
                inner, s = w.long_strings[0]
                more = len(w.long_strings) - 1
                fields: dict[str, object] = {"path": path + inner, "n": len(s)}
                msgs.append(_say(Reason.STRING_TOO_LONG, "more", **fields, more=more) if more
                            else _say(Reason.STRING_TOO_LONG, **fields))
                vals.append(s)
            self.out.add(src, long, Reason.STRING_TOO_LONG, msgs, values=vals)

    def properties(self, src: _Source) -> None:
        """Reference, "Event keys" -> event_properties / user_properties: any JSON value,
        nesting depth at most 40 (the properties object itself is level 1); "General
        rules": strings at most 1024 characters, list items and dict values included."""
        if src.field.name is None:  # a column of whole dicts: each cell is the object
            self.not_objects(src)
            self.report_walks(src, self.nested_walk(src, base_depth=0), base_depth=0)
        elif R.holds_containers(src.values):
            self.report_walks(src, self.nested_walk(src, base_depth=1), base_depth=1)
        else:
            self.string_length(src, R.string_cells(src.values))
            self.integer_out_of_range(src, R.out_of_int64(src.values, floats=False))

    def not_objects(self, src: _Source) -> None:
        """A column mapped as a whole object (event_properties=..., groups=..., plan=...)
        must hold dicts: the encoder leaves anything else out of the event."""
        cells = src.values.to_numpy(dtype=object)
        present = ~R.missing(src.values)
        bad = present & np.fromiter((not isinstance(v, dict) for v in cells), bool, len(cells))
        key = src.field.key
        self.out.add(src, bad, Reason.NOT_AN_OBJECT, _say(Reason.NOT_AN_OBJECT, key=key))

    def plan(self, src: _Source) -> None:
        """Reference, "Event keys" -> plan: only branch, source, version (strings)."""
        name = src.field.name
        if name is None:
            self.plan_objects(src)
            return
        present = ~R.missing(src.values)
        if not R.plan_name_ok(name):
            self.out.add(src, present, Reason.PLAN_INVALID, _say(Reason.PLAN_INVALID, name=name))
            return
        # Values are sent as strings (str() of whatever the cell holds): only the length matters.
        self.string_length(src, self.strings(src))

    def plan_objects(self, src: _Source) -> None:
        """A column of whole plan dicts: only branch, source and version."""
        self.not_objects(src)
        cells = src.values.to_numpy(dtype=object)
        extra = [
            sorted(str(k) for k in v if k not in PLAN_FIELDS) if isinstance(v, dict) else []
            for v in cells
        ]
        self.out.add(
            src,
            np.array([bool(e) for e in extra], dtype=bool),
            Reason.PLAN_INVALID,
            [_say(Reason.PLAN_INVALID, "fields", fields=", ".join(e)) for e in extra if e],
            case="fields",
        )
        self.report_walks(src, self.nested_walk(src, base_depth=0), base_depth=0, numbers=False)

    def groups(self, sources: list[_Source]) -> None:
        """Reference, "Event keys" -> groups: group type -> value or list of values; at most
        5 group types and 10 values in all per event, "the rest is silently not tracked":
        a WARNING on the cell that goes over. A whole-groups column counts first (the
        encoder starts from it and adds the named groups)."""
        if not sources:
            return
        sources = sorted(sources, key=lambda s: s.field.name is not None)
        g = len(sources)
        types = np.zeros((self.n, g), dtype=np.int64)
        counts = np.zeros((self.n, g), dtype=np.int64)
        for j, src in enumerate(sources):
            if src.field.name is None:
                self.not_objects(src)
            if src.field.name is None or R.holds_containers(src.values):
                sent = self.sent(src).tolist()
                walks = [None if v is None else R.walk(v) for v in sent]
                self.report_walks(src, walks, base_depth=1, numbers=False)
                if src.field.name is None:  # {type: value or [values]}
                    t = [len(v) if isinstance(v, dict) else 0 for v in sent]
                    c = [
                        sum(len(x) if isinstance(x, list) else 1 for x in v.values())
                        if isinstance(v, dict) else 0
                        for v in sent
                    ]
                else:  # value or [values]; an empty list is left out
                    c = [0 if v is None else len(v) if isinstance(v, list) else 1 for v in sent]
                    t = [1 if k else 0 for k in c]
                here_t, here_c = np.array(t, dtype=np.int64), np.array(c, dtype=np.int64)
            else:
                self.string_length(src, R.string_cells(src.values))
                here_t = (~R.missing(src.values)).astype(np.int64)
                here_c = here_t
            types[:, j] = self.full(src, here_t)
            counts[:, j] = self.full(src, here_c)
        types_seen = np.cumsum(types, axis=1)
        values_seen = np.cumsum(counts, axis=1)
        for j, src in enumerate(sources):
            name = src.field.path
            over_types = (types[:, j] > 0) & (types_seen[:, j] > MAX_GROUP_TYPES)
            over_values = (counts[:, j] > 0) & ~over_types & (values_seen[:, j] > MAX_GROUP_VALUES)
            for case, over, seen in (("types", over_types, types_seen), ("values", over_values, values_seen)):
                self.out.add(
                    src, over, Reason.GROUPS_TOO_MANY,
                    _per_value(seen[over, j], _said(Reason.GROUPS_TOO_MANY, case, "n", int, path=name)),
                    case=case,
                    values=self.values_at(src, over),
                )

    def values_at(self, src: _Source, mask: np.ndarray) -> np.ndarray:
        """The cell values at the hits of a per-row mask (a constant: its value)."""
        where = np.flatnonzero(mask)
        if src.const:
            return _fill(src.values.iloc[0], where.size)
        return np.asarray(src.values.take(where).to_numpy(dtype=object), dtype=object)

    # -- rules across keys -----------------------------------------------------------------
    def id_rules(self) -> None:
        """Reference, "Event keys": user_id or device_id; short ids are removed by the server;
        "General rules": invalid ids are a 400; device_id all zeros is dropped with an error."""
        n, m = self.n, self.options.min_id_length
        states: dict[str, R.IdState] = {}
        for key in ("user_id", "device_id"):
            if key in self.ids:
                src, st = self.ids[key]
                states[key] = R.IdState(*(self.full(src, a) for a in (st.present, st.invalid, st.all_zero, st.short, st.length)))
            else:
                states[key] = R.IdState.absent(n)
        us, ds = states["user_id"], states["device_id"]

        neither = ~us.present & ~ds.present
        first = self.ids.get("user_id") or self.ids.get("device_id")
        case = "" if first else "unmapped"
        self.out.add(
            first[0] if first else None, neither, Reason.ID_MISSING,
            _say(Reason.ID_MISSING, case, noun=self.noun, hint=_ids_in_index_hint(self.df, self.ids)),
            case=case, key=first[0].field.path if first else "user_id",
        )
        for key, other_key in (("user_id", "device_id"), ("device_id", "user_id")):
            if key not in self.ids:
                continue
            src, st = self.ids[key][0], states[key]
            other = states[other_key]
            self.out.add(src, st.invalid, Reason.ID_INVALID, _say(Reason.ID_INVALID, key=key))
            self.out.add(src, st.all_zero, Reason.DEVICE_ID_ALL_ZERO, _say(Reason.DEVICE_ID_ALL_ZERO, noun=self.noun))
            # Removing a short id is fatal only when the event has no usable id left.
            for case, hits in zip(self.short_id_cases, (st.short & ~other.usable, st.short & other.usable), strict=True):
                fields = {"key": key, "min": m, "noun": self.noun}
                if case.endswith("kept"):
                    fields["other"] = other_key
                self.out.add(
                    src, hits, Reason.ID_TOO_SHORT,
                    _per_value(st.length[hits], _said(Reason.ID_TOO_SHORT, case, "n", int, **fields)),
                    case=case,
                    values=self.values_at(src, hits),
                )

    def revenue_rules(self) -> None:
        """Reference, "Event keys": productId / revenueType need price and quantity, or revenue;
        with all three sent, revenue = price x quantity."""
        def has(key: str) -> np.ndarray:
            if key in self.nums:
                src, num = self.nums[key]
                return self.full(src, num.good)
            if key in self.present:
                src, p = self.present[key]
                return p
            return np.zeros(self.n, dtype=bool)

        ok = has("revenue") | (has("price") & has("quantity"))
        for key in ("productId", "revenueType"):
            if key not in self.present:
                continue
            src = self.present[key][0]
            bad = has(key) & ~ok
            if key == "revenueType" and "productId" in self.present:
                bad &= ~has("productId")  # one failure per row is enough
            self.out.add(src, bad, Reason.REVENUE_INCOMPLETE, _say(Reason.REVENUE_INCOMPLETE, key=key))
        if all(k in self.nums for k in ("price", "quantity", "revenue")):
            p, q, r = (self.nums[k][1].values for k in ("price", "quantity", "revenue"))
            p, q, r = (np.broadcast_to(a, (self.n,)) for a in (p, q, r))
            src = self.nums["revenue"][0]
            with np.errstate(invalid="ignore"):
                off = has("price") & has("quantity") & has("revenue") & ~np.isclose(r, p * q, rtol=1e-9, atol=1e-9)
            expected = (p * q)[off]
            self.out.add(
                src, off, Reason.REVENUE_MISMATCH,
                _per_value(expected, _said(Reason.REVENUE_MISMATCH, "", "expected")),
                values=self.values_at(src, off),
            )


_ID_NAMES = {normalise_name(n): key for key in ("user_id", "device_id") for n in (key, *ALIASES.get(key, ()))}


def _ids_in_index_hint(df: pd.DataFrame, mapped: Mapping[str, object]) -> str:
    """A hint when an unmapped id sits in the index (``df.set_index("user_id")``): mapping
    reads columns only, so such ids are invisible to it."""
    names = [n for n in df.index.names if isinstance(n, str) and _ID_NAMES.get(normalise_name(n)) not in (None, *mapped)]
    if not names:
        return ""
    return _say(Reason.ID_MISSING, "index", name=names[0])


def _iso(ms: object) -> str:
    try:
        return str(pd.Timestamp(float(ms), unit="ms", tz="UTC").isoformat())  # type: ignore[arg-type]
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return f"{float(ms):.0f} ms since the epoch"  # type: ignore[arg-type]


CHUNK_ROWS = 500_000


def validate_frame(
    df: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions | None = None,
    prepared: PreparedColumns | None = None,
) -> ValidationReport:
    """Check every row of ``df`` against Amplitude's rules; never mutates ``df``.

    ``prepared``: the upload's converted columns (``_prepared``), shared with its send
    order and encoder; made here when not given (or not of this frame and options).
    """
    options = options if options is not None else ValidateOptions()
    if len(df) == 0:
        return ValidationReport(df, empty_failures(), columns=rm.columns())
    if prepared is None or not prepared.serves(df, rm, options.tz, options.time_unit):
        prepared = PreparedColumns(df, rm, tz=options.tz, time_unit=options.time_unit)
    if len(df) <= CHUNK_ROWS:
        failures = _Validator(df, rm, options, prepared).run()
    else:
        # Every rule is about one row, so slices give the same answer; their
        # intermediate arrays (masks, string copies) then stay bounded however
        # large the frame is (an upload must stream).
        parts = []
        for start in range(0, len(df), CHUNK_ROWS):
            rows = slice(start, min(start + CHUNK_ROWS, len(df)))
            part = _Validator(df.iloc[rows], rm, options, prepared, rows).run()
            part.index = part.index + start  # positions in the whole frame
            if len(part):  # an empty table's object columns would change the others' dtypes
                parts.append(part)
        failures = pd.concat(parts) if parts else empty_failures()
    index_failures = _duplicate_index_failures(df, rm)
    if index_failures is not None:
        failures = pd.concat([failures, index_failures]).sort_index(kind="stable")
    keys = None
    if rm.insert_id_key is not None:  # the key columns read once, for both checks
        keys = scan_keys(df, rm)
        failures = pd.concat([failures, _key_failures(df, rm, keys)]).sort_index(kind="stable")
    # The pre-flight counts text ids by the hashes the duplicate check makes of them.
    counted = QuotaCount(df, rm, options.daily_quota)
    later, first = duplicate_rows(df, rm, keys, counted.see)  # across the whole frame, not per slice
    del keys
    if len(later):
        failures = pd.concat([failures, _duplicate_failures(df, rm, later, first)]).sort_index(kind="stable")
    preflight = _preflight_failures(df, rm, options, prepared, counted)  # across the whole frame too
    if len(preflight):
        failures = pd.concat([failures, preflight]).sort_index(kind="stable")
    return ValidationReport(df, failures, columns=rm.columns())


def _preflight_failures(
    df: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions, prepared: PreparedColumns,
    counted: QuotaCount | None = None,
) -> pd.DataFrame:
    """The backfill pre-flight's findings (``_preflight``) as warning rows."""
    older = options.old_event_hours * 3_600_000 if options.old_event_hours is not None else None
    found = findings(df, rm, tz=options.tz, time_unit=options.time_unit, now_ms=options.now_ms,
                     older_than_ms=older, quota=options.daily_quota, prepared=prepared, counted=counted)
    out = _Collector(df, rm)
    for f in found:
        src = _source(df, f.field) if f.field is not None else None
        out.add(src, f.mask, f.reason, f.messages, values=f.values, key=f.key)
    return out.frame(df.index)


def _key_failures(df: pd.DataFrame, rm: ResolvedMapping, keys: KeyScan) -> pd.DataFrame:
    """An error per key cell without a value: the row cannot get its insert_id (_key_ids)."""
    out = _Collector(df, rm)
    for name, label, mask in keys.missing:
        src = None if label is None else _Source(Field("insert_id", None, label), R.plain(first_column(df, label)), label)
        out.add(src, mask, Reason.INSERT_ID_KEY_MISSING,
                _say(Reason.INSERT_ID_KEY_MISSING, name=name, key=rm.insert_id_key), key="insert_id")
    return out.frame(df.index)


def _duplicate_failures(df: pd.DataFrame, rm: ResolvedMapping, later: np.ndarray, first: np.ndarray) -> pd.DataFrame:
    """Reference, "Event keys" -> insert_id: one warning per row that repeats an earlier row's event."""
    index = df.index.to_flat_index() if isinstance(df.index, pd.MultiIndex) else df.index
    firsts = index.take(first).tolist()
    iid = rm.get("insert_id")
    constant = iid is not None and isinstance(iid.source, Const)
    src = _source(df, iid) if iid is not None and not constant else None
    has_id = np.zeros(len(later), dtype=bool) if src is None else src.values.take(later).notna().to_numpy()
    out = _Collector(df, rm)
    # A row with its own insert_id points at that column; one whose id is made from
    # its content (or a constant id) is about the whole row.
    for own_id in (True, False):
        pick = has_id == own_id
        if not pick.any():
            continue
        mask = np.zeros(len(df), dtype=bool)
        mask[later[pick]] = True  # later is sorted: messages line up with flatnonzero(mask)
        case = "own" if own_id else "constant" if constant else "key" if rm.insert_id_key is not None else "content"
        fields = {"key": rm.insert_id_key} if case == "key" else {}
        say = _said(Reason.DUPLICATE_EVENT, case, "row", None, **fields)  # a message per row: checked once
        out.add(src if own_id else None, mask, Reason.DUPLICATE_EVENT,
                [say(f) for f, p in zip(firsts, pick, strict=True) if p], case=case, key="insert_id")
    return out.frame(df.index)


def _duplicate_index_failures(df: pd.DataFrame, rm: ResolvedMapping) -> pd.DataFrame | None:
    """A warning per row whose index label repeats an earlier row's (``pd.concat`` of exports).

    Not Amplitude's rule but pandas': ``df.loc[labels]`` picks every row with a label, so a
    resend by labels would pick rows that were never meant (issue 17). Selecting by
    position (``UploadResult.to_resend()``, ``df.iloc``) or a fresh index avoids it.
    """
    index = df.index
    if index.is_unique:
        return None
    flat = index.to_flat_index() if isinstance(index, pd.MultiIndex) else index
    codes, _ = pd.factorize(flat, use_na_sentinel=False)
    _, first_of_code = np.unique(codes, return_index=True)
    first = first_of_code[codes]  # each row's first position with the same label
    later = np.flatnonzero(first != np.arange(len(df)))
    mask = np.zeros(len(df), dtype=bool)
    mask[later] = True
    messages = _per_value(first[later], _said(Reason.DUPLICATE_INDEX, "", "position", int))
    out = _Collector(df, rm)
    out.add(None, mask, Reason.DUPLICATE_INDEX, messages, key="index", values=flat.take(later).to_numpy(dtype=object))
    return out.frame(df.index)
