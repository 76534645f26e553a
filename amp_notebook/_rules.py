"""The column-wise checks that enforce Amplitude's event rules (the rules as data, with
their messages and severities: ``_rule_table``, re-exported here).

Every rule cites its section of ``shared/reference/amplitude-api.md`` ("Event keys",
"General rules"). The checks take one column (a ``pd.Series`` with a RangeIndex, or
a one-row Series for a constant) and answer with boolean numpy arrays; they are
vectorised (``.isna()``, ``.str.len()``, ``.str.lower().isin()``, ``pd.to_numeric``).
Only object columns that really hold lists/dicts (or mixed scalars) are walked cell
by cell, because nested values cannot be judged any other way.

Values are judged as the encoder sends them: a missing cell (NaN/None/NaT/pd.NA) is an
absent key, an integer id ``123`` goes out as the string ``"123"``, a numeric string in a
numeric key is read as the number.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.api.extensions import ExtensionDtype
from pandas.api.types import infer_dtype

from ._keys import (
    ALL_ZERO_DEVICE_ID,
    FORMERLY_RESERVED_EVENT_TYPES,
    INTEGER_MAX,
    INTEGER_MIN,
    INVALID_IDS,
    MAX_NESTING_DEPTH,
    MAX_STRING_LENGTH,
    PLAN_FIELDS,
    RESERVED_EVENT_TYPES,
)
from ._rule_table import RULES, Reason, Rule, Severity
from ._times import time_to_ms
from ._values import key_texts

__all__ = [
    "RULES",
    "Reason",
    "Rule",
    "Severity",
]


# Reference, "Event keys" -> time: "any other form (ISO string, seconds, float) is a 400".
# Times before this (2000-01-01T00:00:00Z) are almost always seconds read as milliseconds.
MIN_PLAUSIBLE_MS = 946_684_800_000
FUTURE_SLACK_MS = 86_400_000  # a day ahead of now: more is a unit or clock mix-up

_INVALID_ID_LIST = sorted(INVALID_IDS)
_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray)
# infer_dtype answers that mean "no lists/dicts here": such object columns stay vectorised.
_SCALAR_KINDS = frozenset(
    {"string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "boolean",
     "datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period", "bytes"}
)
_NUMERIC_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})


# -- reading a column as the encoder sends it ---------------------------------------------


def plain(values: pd.Series) -> pd.Series:
    """The column with a RangeIndex and categoricals decoded into their categories' values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = pd.Series(values.cat.categories)
        if cats.dtype.kind in "iu":
            cats = cats.astype("Int64")  # keep NA without turning ids into floats
        decoded = cats.reindex(values.cat.codes.to_numpy())  # code -1 (missing) -> NA
        return cast(pd.Series, decoded.reset_index(drop=True))
    if isinstance(values.index, pd.RangeIndex) and values.index.start == 0 and values.index.step == 1:
        return values
    return values.reset_index(drop=True)


def is_text_dtype(dtype: object) -> bool:
    """StringDtype (pandas 3 "str", "string[python]", "string[pyarrow]") or an Arrow string."""
    if isinstance(dtype, pd.StringDtype):
        return True
    return isinstance(dtype, pd.ArrowDtype) and dtype.kind == "U"


def object_kind(values: pd.Series) -> str:
    """infer_dtype of an object column (C speed), '' for other dtypes."""
    if not is_object(values.dtype):
        return ""
    return str(infer_dtype(values, skipna=True))


def holds_containers(values: pd.Series) -> bool:
    """True for an object column that may hold lists/dicts (or mixed scalars): walk it."""
    return is_object(values.dtype) and object_kind(values) not in _SCALAR_KINDS


def mask(result: pd.Series) -> np.ndarray:
    """A boolean Series (numpy, nullable or Arrow backed) as a numpy mask, NA as False."""
    return np.asarray(result.to_numpy(dtype=bool, na_value=False), dtype=bool)


def missing(values: pd.Series) -> np.ndarray:
    """Missing cells (NaN, None, NaT, pd.NA): the encoder leaves the key out."""
    return np.asarray(values.isna(), dtype=bool)


def sent_strings(values: pd.Series) -> pd.Series:
    """The column as the strings a string key sends (object Series, None where left out).

    The encoder's own conversion (``_values.key_texts``), so the rules judge what is sent.
    """
    values = plain(values)
    if is_text_dtype(values.dtype) or object_kind(values) in ("string", "empty"):
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = key_texts(values)
    return cast(pd.Series, pd.Series(out, dtype=object))


def string_cells(values: pd.Series) -> pd.Series | None:
    """The str cells of a column (other cells NaN): what a property sends as a JSON string.

    None when the column cannot hold strings (numbers, booleans, datetimes: short when sent).
    """
    values = plain(values)
    if is_text_dtype(values.dtype) or object_kind(values) == "string":
        return fast_text(values)
    if not is_object(values.dtype) or object_kind(values) == "empty":
        return None
    cells = values.to_numpy()
    is_str = np.fromiter((isinstance(v, str) for v in cells), bool, len(values))
    strings = values.where(is_str)
    # Reference, "General rules": every string value <= 1024 characters; the encoder sends
    # bytes as their UTF-8 text (_values), so they are judged as that text.
    raw = np.flatnonzero(np.fromiter((isinstance(v, (bytes, bytearray)) for v in cells), bool, len(values)))
    if raw.size:
        strings = strings.astype(object)
        strings.iloc[raw] = [_text_of(cells[i]) for i in raw]
    return cast(pd.Series, strings)


@functools.lru_cache(maxsize=1)
def _arrow_text_dtype() -> ExtensionDtype | None:
    """A pyarrow-backed string dtype with NaN for missing (pandas 2.2 and 3), if pyarrow is there."""
    if importlib.util.find_spec("pyarrow") is None:
        return None
    nan_semantics: dict[str, Any] = {"na_value": np.nan}
    try:
        return cast(ExtensionDtype, pd.StringDtype("pyarrow", **nan_semantics))
    except TypeError:  # pandas 2.2 spells it "pyarrow_numpy"
        return cast(ExtensionDtype, pd.StringDtype(cast(Any, "pyarrow_numpy")))


def fast_text(values: pd.Series) -> pd.Series:
    """Strings as an Arrow-backed column when pyarrow is there.

    Object columns of str make every ``.str`` call a Python loop (about 0.1 s per million
    rows each); converting once and running the checks in Arrow is several times faster.
    """
    dtype = _arrow_text_dtype()
    if dtype is None:
        # No pyarrow: pd.NA-based string dtypes become object columns (NaN semantics).
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is pd.NA:
            return cast(pd.Series, values.astype(object).where(values.notna(), np.nan))
        return values
    if values.dtype == dtype:
        return values
    if is_object(values.dtype) or is_text_dtype(values.dtype):
        return values.astype(dtype)
    return values


def lengths(strings: pd.Series) -> np.ndarray:
    """Character count per cell (NaN where missing)."""
    return np.asarray(strings.str.len().to_numpy(dtype=float, na_value=np.nan))


# -- the checks (each returns boolean arrays over the rows of its column) -----------------


def too_long(strings: pd.Series, n: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reference, "General rules": every string value is at most 1024 characters."""
    n = lengths(strings) if n is None else n
    with np.errstate(invalid="ignore"):
        return n > MAX_STRING_LENGTH, n


def event_type_problems(strings: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference, "Event keys" -> event_type: required, and reserved names are refused;
    the names only older docs reserve are accepted (a warning). -> (missing, reserved, formerly)

    An empty or blank event_type counts as missing: there is no event name to record.
    """
    absent = missing(strings)
    blank = ~absent & mask(strings.fillna("x").str.strip().str.len() == 0)
    reserved = mask(strings.isin(list(RESERVED_EVENT_TYPES))) & ~absent
    formerly = mask(strings.isin(list(FORMERLY_RESERVED_EVENT_TYPES))) & ~absent
    return absent | blank, reserved, formerly


@dataclass
class IdState:
    """Per-row facts about one id column (user_id or device_id)."""

    present: np.ndarray
    invalid: np.ndarray  # on the invalid list (all-zero device ids excluded: own reason)
    all_zero: np.ndarray
    short: np.ndarray
    length: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        """Present and kept by the server."""
        return np.asarray(self.present & ~self.invalid & ~self.all_zero & ~self.short, dtype=bool)

    @classmethod
    def absent(cls, n: int) -> IdState:
        f = np.zeros(n, dtype=bool)
        return cls(f, f, f, f, np.full(n, np.nan))


def id_state(
    strings: pd.Series, *, device: bool, min_id_length: int, n: np.ndarray | None = None,
    blank: np.ndarray | None = None,
) -> IdState:
    """Reference, "Event keys" (user_id, device_id) and "General rules" (invalid ids).

    A blank id ("" or only whitespace) is a missing id: the encoder leaves the key out,
    and the event stands on its other id ("either id suffices"), so it is not present
    here (rather than an invalid id, which "" would be if it were sent).
    """
    absent = missing(strings)
    if blank is None:  # else the blank texts found once for the upload (_prepared)
        blank = mask(strings.fillna("x").str.strip().str.len() == 0)
    present = ~absent & ~blank
    n = lengths(strings) if n is None else n
    # Reference, "General rules": invalid ids, "treat them case-insensitively".
    lowered = strings.str.lower()
    invalid = mask(lowered.isin(_INVALID_ID_LIST)) & present
    all_zero = np.zeros(len(strings), dtype=bool)
    if device:
        # Reference, "Event keys" -> device_id: the all-zero id (iOS LAT IDFA) gets its own reason.
        all_zero = mask(lowered == ALL_ZERO_DEVICE_ID) & present
        invalid &= ~all_zero
    # Reference, "Event keys": "length >= min_id_length (default 5), a shorter id is removed".
    with np.errstate(invalid="ignore"):
        short = present & ~invalid & ~all_zero & (n < min_id_length)
    return IdState(present, invalid, all_zero, short, n)


@dataclass
class Numbers:
    """A numeric key's column read as numbers: ``bad`` = present but not a finite number."""

    values: np.ndarray  # float64, NaN where missing or bad
    present: np.ndarray
    bad: np.ndarray

    @property
    def good(self) -> np.ndarray:
        return np.asarray(self.present & ~self.bad, dtype=bool)

    def not_integer(self) -> np.ndarray:
        """Reference, "Event keys": quantity, event_id, session_id (and time) are integers."""
        v = self.values
        with np.errstate(invalid="ignore"):
            return np.asarray(self.good & (np.floor(v) != v), dtype=bool)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating, Decimal)) and not isinstance(
        x, (bool, np.bool_)
    )


def is_bool_dtype(dtype: Any) -> bool:
    """numpy bool, pandas "boolean" or an Arrow bool (not object columns of bools)."""
    return bool(ptypes.is_bool_dtype(dtype)) and not ptypes.is_object_dtype(dtype)


def is_object(dtype: Any) -> bool:
    return bool(ptypes.is_object_dtype(dtype))


def numbers(values: pd.Series, *, datetimes_as_ms: bool = False) -> Numbers:
    """Reference, "Event keys": price, revenue, location_* are floats; quantity, event_id,
    session_id integers; "General rules": JSON has no NaN or Infinity.

    As the encoder sends them: only real numbers count. Text (even "9.99"), booleans and
    infinities are left out of the event, so they are reported. A datetime column is ms
    since the epoch for the integer keys (``datetimes_as_ms``: session_id).
    """
    values = plain(values)
    n = len(values)
    present = ~missing(values)
    dtype = values.dtype
    v = np.full(n, np.nan)
    if is_bool_dtype(dtype):
        pass  # a JSON true is not a number, even though Python counts True as 1
    elif dtype.kind in "iuf":
        v = values.to_numpy(dtype=float, na_value=np.nan)
    elif dtype.kind == "M" and datetimes_as_ms:
        v = time_to_ms(values)[0].to_numpy(dtype=float, na_value=np.nan)
    elif is_object(dtype):
        if object_kind(values) in _NUMERIC_KINDS:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        else:
            cells = values.to_numpy()
            ok = np.fromiter((_is_number(x) for x in cells), bool, n)
            v[ok] = [float(x) for x in cells[ok]]
    with np.errstate(invalid="ignore"):
        bad = present & ~np.isfinite(v)
    v = np.where(bad, np.nan, v)
    return Numbers(v, present, bad)


def _int_out_of_range(x: object) -> bool:
    """One cell: an integer (or a whole float/Decimal) outside the signed 64-bit range."""
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return not INTEGER_MIN <= int(x) <= INTEGER_MAX
    if isinstance(x, (float, np.floating, Decimal)):
        f = float(x)
        return bool(np.isfinite(f)) and not -(2.0**63) <= f < 2.0**63
    return False


def out_of_int64(values: pd.Series, *, floats: bool = True) -> np.ndarray:
    """Reference, "Event keys": integer keys are longs (session_id "integer (long)").

    True where a present cell is a number outside -2**63 .. 2**63-1: uint64 values above
    2**63-1 (compared exactly), Python ints of any size in object columns, and (unless
    ``floats=False``, for property values, where a float is sent as a float) floats of
    2**63 or more in magnitude. Signed integer dtypes always fit.
    """
    values = plain(values)
    dtype = values.dtype
    n = len(values)
    if is_bool_dtype(dtype):
        return np.zeros(n, dtype=bool)
    if dtype.kind == "u":
        arr = values.to_numpy(dtype="uint64", na_value=0)
        return np.asarray(arr > np.uint64(INTEGER_MAX), dtype=bool)
    if dtype.kind == "i":
        return np.zeros(n, dtype=bool)
    if dtype.kind == "f" and floats:
        v = values.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return np.asarray(np.isfinite(v) & ((v >= 2.0**63) | (v < -(2.0**63))), dtype=bool)
    if is_object(dtype) and object_kind(values) not in ("string", "empty"):
        cells = values.to_numpy()
        if floats:
            return np.fromiter((_int_out_of_range(x) for x in cells), bool, n)
        return np.fromiter((_int_out_of_range(x) and not isinstance(x, (float, np.floating, Decimal)) for x in cells), bool, n)
    return np.zeros(n, dtype=bool)


def booleans_bad(values: pd.Series) -> np.ndarray:
    """Reference, "Event keys" -> $skip_user_properties_sync: a boolean.

    The encoder also sends the numbers 0 and 1 as false/true; anything else is left out.
    """
    values = plain(values)
    present = ~missing(values)
    dtype = values.dtype
    if is_bool_dtype(dtype):
        return np.zeros(len(values), dtype=bool)
    if dtype.kind in "iuf":
        v = values.to_numpy(dtype=float, na_value=np.nan)
        return np.asarray(present & (v != 0) & (v != 1), dtype=bool)
    if not is_object(dtype):
        return present
    ok = np.fromiter(
        (isinstance(x, (bool, np.bool_)) or (_is_number(x) and x in (0, 1)) for x in values.to_numpy()),
        bool,
        len(values),
    )
    return np.asarray(present & ~ok, dtype=bool)


def session_id_bad(num: Numbers) -> np.ndarray:
    """Reference, "Event keys" -> session_id: ms since the epoch, or -1 for "no session"."""
    with np.errstate(invalid="ignore"):
        return np.asarray(num.good & (num.values < 0) & (num.values != -1), dtype=bool)


def lat_bad(num: Numbers) -> np.ndarray:
    """Latitude is in [-90, 90] (degrees; the reference types location_lat as a float)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(num.good & (np.abs(num.values) > 90), dtype=bool)


def lng_bad(num: Numbers) -> np.ndarray:
    """Longitude is in [-180, 180]."""
    with np.errstate(invalid="ignore"):
        return np.asarray(num.good & (np.abs(num.values) > 180), dtype=bool)


def time_flags(ms: np.ndarray, now_ms: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Reference, "Event keys" -> time (ms since the epoch): (too early, too late) flags.

    Both are warnings: 1.7e9 read as ms is January 1970 (seconds sent as ms); 1.7e15 is
    tens of thousands of years ahead (microseconds sent as ms). ``now_ms`` is injected; the
    "too late" half is skipped without it.
    """
    with np.errstate(invalid="ignore"):
        early = ms < MIN_PLAUSIBLE_MS
        late = ms > (now_ms + FUTURE_SLACK_MS) if now_ms is not None else np.zeros(len(ms), bool)
    return early, late


# -- nested values (properties, groups) ----------------------------------------------------


@dataclass(frozen=True)
class Walk:
    """What one nested value holds: its depth, its strings over 1024 characters, and
    whether an integer in it is outside the signed 64-bit range."""

    depth: int  # 0 for a scalar, 1 for a flat list/dict, ...
    long_strings: tuple[tuple[str, str], ...]  # (path inside the value, the string)
    big_int: bool = False


def _children(obj: object) -> Iterable[object] | None:
    """The values inside a container (dict values, list items), None for a scalar."""
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if isinstance(obj, np.ndarray):
        return cast(Iterable[object], obj.tolist())
    return None


def _text_of(raw: bytes | bytearray) -> str:
    """Bytes as the encoder sends them: their UTF-8 text (``_values``)."""
    return bytes(raw).decode("utf-8", errors="replace")


def _long(x: object) -> bool:
    """A string (or bytes, sent as their text) over 1024 characters."""
    if isinstance(x, (bytes, bytearray)):  # never fewer bytes than characters: decode only the long ones
        return len(x) > MAX_STRING_LENGTH and len(_text_of(x)) > MAX_STRING_LENGTH
    return isinstance(x, str) and len(x) > MAX_STRING_LENGTH


def _scan(value: object, max_depth: int) -> tuple[int, bool, bool]:
    """(depth, any string too long, any integer beyond int64): the per-cell fast pass."""
    depth, has_long, big = 0, False, False
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        obj, level = stack.pop()
        depth = max(depth, level)
        if level > max_depth + 1:  # already too deep (and maybe a cycle): stop here
            continue
        for x in _children(obj) or ():
            tx = type(x)
            if tx is str:
                has_long = has_long or len(x) > MAX_STRING_LENGTH  # type: ignore[arg-type]
            elif tx is bytes:
                has_long = has_long or _long(x)
            elif tx is int:
                big = big or not INTEGER_MIN <= x <= INTEGER_MAX  # type: ignore[operator]
            elif tx is float or tx is bool or x is None:
                continue
            elif _children(x) is not None:
                stack.append((x, level + 1))
            elif _long(x):
                has_long = True
            elif isinstance(x, np.integer):
                big = big or not INTEGER_MIN <= int(x) <= INTEGER_MAX
    return depth, has_long, big


def _long_strings(value: object, max_depth: int) -> tuple[tuple[str, str], ...]:
    """The too-long strings inside ``value`` with their paths (slow pass, rare)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        obj, level, path = stack.pop()
        if _long(obj):
            text = obj if isinstance(obj, str) else _text_of(cast(bytes, obj))
            found.append((path, text))
            continue
        if isinstance(obj, np.ndarray):
            obj = obj.tolist()
        if isinstance(obj, dict):
            children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
        else:
            continue
        if level + 1 <= max_depth + 1:
            stack.extend((v, level + 1, p) for p, v in reversed(children))
    return tuple(found)


_SCALAR_WALK = Walk(0, ())
_FLAT_WALK = Walk(1, ())


def walk(value: object, *, max_depth: int = MAX_NESTING_DEPTH) -> Walk:
    """Depth, too-long strings and out-of-range integers of one nested value (no recursion).

    Reference, "Event keys" -> event_properties: "nesting depth at most 40";
    "General rules": every string value (list items and dict values included) <= 1024.
    Lists count as levels like dicts; dict keys are names, not values.
    """
    t = type(value)
    if t is list or t is tuple:  # fast path: a flat list of short strings/numbers
        for x in value:  # type: ignore[attr-defined]
            tx = type(x)
            if tx is str:
                if len(x) > MAX_STRING_LENGTH:
                    break
            elif tx is int:
                if not INTEGER_MIN <= x <= INTEGER_MAX:
                    break
            elif not (tx is float or tx is bool or x is None):
                break
        else:
            return _FLAT_WALK
    if _children(value) is None:
        if _long(value):
            return Walk(0, ((("", value if isinstance(value, str) else _text_of(cast(bytes, value))),)))
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and (
            not INTEGER_MIN <= int(value) <= INTEGER_MAX
        ):
            return Walk(0, (), big_int=True)
        return _SCALAR_WALK
    depth, has_long, big = _scan(value, max_depth)
    return Walk(depth, _long_strings(value, max_depth) if has_long else (), big)


def plan_name_ok(name: str | None) -> bool:
    """Reference, "Event keys" -> plan: only branch, source, version."""
    return name in PLAN_FIELDS
