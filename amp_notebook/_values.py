"""Column values -> JSON-ready Python values, one per row (``None`` = key absent).

The encoder sends exactly these values and the validator checks exactly these, so
both see the same event. Vectorised per column (``tolist``); object columns and
conversions between kinds are walked cell by cell.
See ``_encoding``'s docstring for the choices (NaN, inf, dates, ids, ...).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd
from pandas.api import types as ptypes

from ._exceptions import MappingError
from ._keys import EVENT_KEYS, INTEGER_MAX, INTEGER_MIN
from ._mapping import Const, Field
from ._times import _is_missing, _isna, _utc_naive, time_to_ms


class TimeOptions(Protocol):
    """What reading values needs of ``_encoding.EncodeOptions`` (a protocol: no import of
    ``_encoding``, which imports this module)."""

    @property
    def tz(self) -> str: ...

    @property
    def time_unit(self) -> str | None: ...

@dataclass(frozen=True)
class _NoTimes:
    """Options for reading keys that hold no time (ids, texts): the zone cannot matter."""

    tz: str = "UTC"
    time_unit: str | None = None


NO_TIMES = _NoTimes()

_MISSING: Any = object()  # returned by the cleaners for "drop this key"
_INT64 = (-(2**63), 2**64 - 1)  # orjson writes 64-bit ints (signed and unsigned)


def _iso(v: object) -> str:
    """A datetime/date/time as ISO 8601: naive as is, aware in UTC with Z."""
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, _dt.datetime):
        ts = pd.Timestamp(v)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
            return _trim_iso(ts.isoformat()) + "Z"
        return _trim_iso(ts.isoformat())
    assert isinstance(v, (_dt.date, _dt.time))
    return v.isoformat()


def _trim_iso(text: str) -> str:
    # Timestamp.isoformat gives 9 fractional digits for ns values; keep up to us.
    head, dot, frac = text.partition(".")
    if not dot:
        return head
    frac = frac[:6].rstrip("0")
    return f"{head}.{frac}" if frac else head


def _clean(v: object, depth: int = 0) -> Any:
    """Any cell value -> a JSON-ready value, or _MISSING (recursively for containers)."""
    t = type(v)
    if t is str or t is bool:
        return v
    if t is int:
        # Beyond what orjson writes: the exact digits as a JSON number (a Fragment), so
        # the value is never altered; the validator refuses it (integer_out_of_range).
        return v if _INT64[0] <= v <= _INT64[1] else orjson.Fragment(str(v).encode())  # type: ignore[operator]
    if t is float:
        return _number(v)  # type: ignore[arg-type]
    if _is_missing(v):
        return _MISSING
    if isinstance(v, np.generic):
        if isinstance(v, np.datetime64):
            return _iso(v)
        if isinstance(v, np.timedelta64):
            return pd.Timedelta(v).isoformat()
        return _clean(v.item(), depth)
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return _iso(v)
    if isinstance(v, _dt.timedelta):
        return pd.Timedelta(v).isoformat()
    if isinstance(v, Decimal):
        return _number(float(v)) if v.is_finite() else _MISSING
    if isinstance(v, (bool, int, float, str)):  # subclasses (IntEnum, str enums)
        return _clean_subclass(v, depth)
    if depth > 100:  # a cycle or absurd nesting: the validator reports depth > 40
        return str(v)
    if isinstance(v, dict):
        out = {}
        for k, item in v.items():
            item = _clean(item, depth + 1)
            if item is not _MISSING:
                out[k if type(k) is str else str(_clean(k, depth + 1))] = item
        return out if out else _MISSING
    if isinstance(v, (set, frozenset)):
        items = [_clean(x, depth + 1) for x in v]
        items = [None if x is _MISSING else x for x in items]
        return sorted(items, key=orjson.dumps)  # set order varies by process: sort
    if isinstance(v, (list, tuple, np.ndarray, pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        items = [_clean(x, depth + 1) for x in v]
        return [None if x is _MISSING else x for x in items]
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, pd.Period):
        return str(v)
    if hasattr(v, "items"):  # other mappings
        try:
            return _clean(dict(v.items()), depth)
        except (TypeError, ValueError):
            return str(v)
    return str(v)


# Whole floats below 2**53 are sent as ints (593.0 -> 593): JSON has one number type,
# and the same value must give the same insert_id whether a column is int64, Int64
# or float64 (an int column with a gap is float64 after read_csv). Larger whole
# floats stay floats: not every one of them is an exact integer.
_EXACT = 2.0**53


def _number(v: float) -> Any:
    if not math.isfinite(v):
        return _MISSING
    return int(v) if v.is_integer() and -_EXACT < v < _EXACT else v


def _clean_subclass(v: bool | int | float | str, depth: int) -> Any:
    # Enum members and other subclasses of the JSON scalars: send the plain value.
    for base in (bool, int, float, str):
        if isinstance(v, base):
            return _clean(base(v), depth)
    return str(v)


def _to_str(v: object) -> Any:
    """A value for a string key (ids, event_type, ...)."""
    if type(v) is str:
        return v
    if _is_missing(v):
        return _MISSING
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        # 12345.0 (an id column with gaps) -> "12345"
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if isinstance(v, Decimal):
        return str(int(v)) if v == v.to_integral_value() else str(v)
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time, np.datetime64)):
        return _iso(v)
    if isinstance(v, str):
        return str.__str__(v)
    cleaned = _clean(v)
    if cleaned is _MISSING:
        return _MISSING
    return cleaned if isinstance(cleaned, str) else orjson.dumps(cleaned).decode()


def _to_id(v: object) -> Any:
    """user_id / device_id: a string, and a blank one ("" or whitespace) is a missing id.

    Reference, "Event keys": either id suffices, and "" would be refused as an invalid id,
    so a blank id is left out and the event goes with its other id.
    """
    s = _to_str(v)
    return _MISSING if type(s) is str and (not s or s.isspace()) else s


def _without_blanks(values: list[Any]) -> tuple[list[Any], bool]:
    """Blank strings -> None (ids: see _to_id); True when there was one."""
    blank = [i for i, v in enumerate(values) if type(v) is str and (not v or v.isspace())]
    for i in blank:
        values[i] = None
    return values, bool(blank)


def _to_int(v: object) -> Any:
    # Reference, "Event keys": integer keys are longs; outside int64 the key is left out
    # (the validator reports integer_out_of_range).
    if isinstance(v, (bool, np.bool_)) or _is_missing(v):
        return _MISSING
    if isinstance(v, (int, np.integer)):
        i = int(v)
    elif isinstance(v, (float, np.floating, Decimal)):
        if not float(v).is_integer():
            return _MISSING
        i = int(v)
    else:
        return _MISSING
    return i if INTEGER_MIN <= i <= INTEGER_MAX else _MISSING


def _to_float(v: object) -> Any:
    if isinstance(v, (bool, np.bool_)) or _is_missing(v):
        return _MISSING
    if isinstance(v, (int, float, np.integer, np.floating, Decimal)):
        f = float(v)
        return f if math.isfinite(f) else _MISSING
    return _MISSING


def _to_bool(v: object) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if _is_missing(v):
        return _MISSING
    if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
        return bool(v)
    return _MISSING


def _to_group(v: object) -> Any:
    # Reference, "Event keys" -> groups: group type -> value or list of values (strings).
    if isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
        items = [_to_str(x) for x in v]
        items = [x for x in items if x is not _MISSING]
        if isinstance(v, (set, frozenset)):
            items.sort()
        return items if items else _MISSING
    return _to_str(v)


def _to_object(v: object) -> Any:
    if isinstance(v, dict) or (hasattr(v, "items") and not isinstance(v, (str, pd.Series))):
        return _clean(v)
    return _MISSING


def _to_groups_object(v: object) -> Any:
    if not isinstance(v, dict):
        return _MISSING
    out = {str(k): g for k, x in v.items() if (g := _to_group(x)) is not _MISSING}
    return out if out else _MISSING


def _to_plan_object(v: object) -> Any:
    if not isinstance(v, dict):
        return _MISSING
    out = {str(k): s for k, x in v.items() if (s := _to_str(x)) is not _MISSING}
    return out if out else _MISSING


_CELL: dict[str, Callable[[object], Any]] = {
    "string": _to_str,
    "id": _to_id,
    "integer": _to_int,
    "float": _to_float,
    "boolean": _to_bool,
    "property": _clean,
    "group": _to_group,
    "object": _to_object,
    "groups_object": _to_groups_object,
    "plan_object": _to_plan_object,
}


def _field_kind(field: Field) -> str:
    kind = EVENT_KEYS[field.key]
    if field.key == "time":
        return "time"
    if field.key in ("user_id", "device_id"):
        return "id"
    if field.key in ("event_properties", "user_properties"):
        return "property" if field.name is not None else "object"
    if kind == "groups":
        return "group" if field.name is not None else "groups_object"
    if kind == "plan":
        return "string" if field.name is not None else "plan_object"
    return kind


def _with_missing(values: list[Any], missing: np.ndarray) -> list[Any]:
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            values[i] = None
    return values


def _iso_column(values: pd.Series) -> list[Any]:
    """A datetime column -> ISO strings, vectorised (see _iso for the format)."""
    aware = values.dt.tz is not None
    arr = _utc_naive(values, "UTC")
    if arr.dtype != "datetime64[ns]" and np.datetime_data(arr.dtype)[0] not in ("s", "ms", "us"):
        arr = arr.astype("datetime64[ns]")
    present = ~np.isnat(arr)
    us = arr.astype("datetime64[us]").view("int64")[present]
    unit = "s" if not (us % 1_000_000).any() else "ms" if not (us % 1000).any() else "us"
    strings = np.datetime_as_string(arr, unit=unit, timezone="UTC" if aware else "naive")  # type: ignore[call-overload]
    return _with_missing(strings.tolist(), ~present)


def _series_values(values: pd.Series, kind: str, options: TimeOptions) -> list[Any]:
    """One column -> JSON-ready values per row (None where missing) for a key kind."""
    return _values(values, kind, options)[0]


def _with_mask(values: list[Any], missing: np.ndarray) -> tuple[list[Any], bool]:
    has = bool(missing.any())
    return (_with_missing(values, missing) if has else values), has


def _by_cell(values: list[Any], missing: np.ndarray, kind: str) -> tuple[list[Any], bool]:
    cell = _CELL[kind]
    out = [None if m else cell(v) for v, m in zip(values, missing.tolist(), strict=True)]
    return [None if v is _MISSING else v for v in out], True


# Object columns whose cells are all of one plain type (pandas' C-level infer_dtype)
# skip the per-cell walk: kind -> inferred types that are already JSON-ready.
# (Only strings: object ints/bools may be numpy scalars, which must become Python ones.)
_PLAIN = {"property": ("string", "empty"), "string": ("string", "empty"), "group": ("string", "empty")}


def _whole(arr: np.ndarray, below: float) -> np.ndarray:
    """Where a float64 array holds a whole number of magnitude under ``below`` (NaN/inf: False)."""
    with np.errstate(invalid="ignore"):
        ok: np.ndarray = np.isfinite(arr) & (np.abs(arr) < below)
        ok &= np.floor(np.where(ok, arr, 0)) == arr
    return ok


def _integral(arr: np.ndarray) -> tuple[list[Any], bool]:
    """float64 -> Python ints where integral and within int64, None elsewhere (NaN, inf, 2.5)."""
    ok = _whole(arr, 2.0**63)
    return _with_mask(np.where(ok, arr, 0).astype("int64").tolist(), ~ok)


def _whole_as_int(arr: np.ndarray, finite: np.ndarray) -> tuple[list[Any], bool]:
    """float64 property values: whole ones below 2**53 as ints (see _number), missing for NaN/inf."""
    out = arr.tolist()
    whole = _whole(arr, _EXACT)
    if whole.any():
        ints = np.where(whole, arr, 0).astype(np.int64).tolist()
        out = [i if w else f for i, f, w in zip(ints, out, whole.tolist(), strict=True)]
    return _with_mask(out, ~finite)


def _integer_dtype(dtype: object) -> np.dtype[Any] | None:
    """The numpy integer dtype of an int column (numpy, nullable or Arrow), else None."""
    np_dtype = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "numpy_dtype", None)
    return np_dtype if isinstance(np_dtype, np.dtype) and np_dtype.kind in "iu" else None


def _number_texts(values: pd.Series) -> tuple[list[Any], bool] | None:
    """A string key's texts of an integer or float column, vectorised; None for other dtypes.

    Exactly what :func:`_to_str` gives cell by cell (a test compares them): integers as
    their digits (numpy, nullable, Arrow), whole floats without ".0" (an id column with
    gaps is float64), other floats by ``_to_str`` itself; None where missing (NaN, inf,
    NA). A number's text is never blank, so an id needs no blank check.
    """
    dtype = values.dtype
    ints = _integer_dtype(dtype)
    if ints is not None:
        missing = None if isinstance(dtype, np.dtype) else values.isna().to_numpy(dtype=bool)
        texts: list[Any] = values.to_numpy(dtype=ints, na_value=0).astype(str).tolist()
        if missing is None or not missing.any():
            return texts, False
        return _with_missing(texts, missing), True
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        arr = values.to_numpy()
        whole = _whole(arr, 2.0**63)
        texts = np.where(whole, arr, 0).astype(np.int64).astype(str).tolist()
        others = np.flatnonzero(~whole).tolist()
        for i in others:  # 2.5, 1e300, NaN, inf: as _to_str says
            text = _to_str(arr[i])
            texts[i] = None if text is _MISSING else text
        return texts, bool(others)
    return None


def key_texts(values: pd.Series) -> list[Any]:
    """The text a string key (ids, event_type, a ``key(...)`` column) sends for each cell,
    None where the key is left out: the one decision, read by the validator's rules
    (``_rules.sent_strings``), the insert_id key (``_key_ids``) and the encoder alike."""
    return _values(values, "string", NO_TIMES)[0]


def _values(values: pd.Series, kind: str, options: TimeOptions) -> tuple[list[Any], bool]:
    """(values, maybe_missing): maybe_missing is False only when no value is None."""
    if kind in ("string", "id"):
        numbers = _number_texts(values)
        if numbers is not None:
            return numbers
    if kind == "id":
        out, maybe_missing = _values(values, "string", options)
        ids, blank = _without_blanks(out)
        return ids, maybe_missing or blank
    dtype = values.dtype
    if kind == "time":
        ms, _ = time_to_ms(values, tz=options.tz, time_unit=options.time_unit)
        return _integral(ms.to_numpy())
    if len(values) == 0:
        return [], False
    if isinstance(dtype, pd.CategoricalDtype):
        cats = _series_values(pd.Series(values.cat.categories), kind, options)
        codes = values.cat.codes.to_numpy().tolist()
        return [cats[c] if c >= 0 else None for c in codes], True
    missing = _isna(values)
    if kind in ("object", "groups_object", "plan_object"):
        return _by_cell(values.tolist(), missing, kind)
    if ptypes.is_datetime64_any_dtype(dtype):
        if kind in ("property", "string", "group"):
            return _iso_column(values), True
        if kind == "integer":  # session_id as a datetime: ms since the epoch
            return _values(values, "time", options)
        return [None] * len(values), True
    if ptypes.is_bool_dtype(dtype):
        if kind in ("property", "boolean"):
            return _with_mask(values.tolist(), missing)
        return _by_cell(values.tolist(), missing, kind)
    if ptypes.is_integer_dtype(dtype) and kind in ("property", "integer"):
        if kind == "integer" and dtype.kind == "u":  # uint64 above 2**63-1 is not a long
            over = values.to_numpy(dtype="uint64", na_value=0) > np.uint64(INTEGER_MAX)
            return _with_mask(values.tolist(), missing | over)
        return _with_mask(values.tolist(), missing)
    if ptypes.is_numeric_dtype(dtype) and kind in ("property", "float", "integer"):
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        if kind == "integer":
            return _integral(arr)
        finite = np.isfinite(arr)
        if kind == "float":  # typed keys (price, revenue, ...): floats, as the reference types them
            return _with_mask(arr.tolist(), ~finite)
        return _whole_as_int(arr, finite)
    if ptypes.is_object_dtype(dtype):
        if ptypes.infer_dtype(values, skipna=True) in _PLAIN.get(kind, ()):
            return _with_mask(values.tolist(), missing)
    elif ptypes.is_string_dtype(dtype) and kind in ("property", "string", "group"):
        return _with_mask(values.tolist(), missing)
    # Everything else: object columns (mixed, containers), pyarrow nested/decimal/date
    # types, conversions between kinds: one cell at a time.
    return _by_cell(values.tolist(), missing, kind)


def _source_series(df: pd.DataFrame, field: Field) -> pd.Series:
    label = field.source
    try:
        col = df[label]
    except KeyError:
        raise MappingError(
            f"{field.path!r}: the frame has no column {label!r}", key=field.path, column=label
        ) from None
    if isinstance(col, pd.DataFrame):
        raise MappingError(
            f"{field.path!r}: the frame has several columns named {label!r}",
            key=field.path,
            column=label,
        )
    return col


def _const_value(field: Field, options: TimeOptions) -> Any:
    assert isinstance(field.source, Const)
    one = pd.Series([None], dtype=object)
    one.iloc[0] = field.source.value  # keeps lists/dicts as one cell
    return _series_values(one, _field_kind(field), options)[0]


def field_values(df: pd.DataFrame, field: Field, options: TimeOptions) -> list[object]:
    """JSON-ready Python values per row for ``field``, None where missing, exactly as sent."""
    if isinstance(field.source, Const):
        return [_const_value(field, options)] * len(df)
    return _series_values(_source_series(df, field), _field_kind(field), options)


__all__ = ["NO_TIMES", "field_values", "key_texts"]
