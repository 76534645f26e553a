"""Times -> integer milliseconds since the epoch (reference, "Event keys" -> time).

Amplitude wants ``time`` as an integer in ms; "any other form (ISO string, seconds,
float) is a 400", so every form a pandas user may hold is converted here, column-wise.
Used by the encoder, and by the validator to find unreadable times.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import math
import re
import warnings
from collections.abc import Hashable
from decimal import Decimal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ._exceptions import ConfigurationError

# Integer divisors / multipliers from a unit to milliseconds (exact integer arithmetic).
_PER_MS: dict[str, tuple[int, int]] = {  # unit -> (multiply, floor-divide)
    "s": (1000, 1),
    "ms": (1, 1),
    "us": (1, 1_000),
    "ns": (1, 1_000_000),
}

# An ISO string that carries its own offset: a time part followed by Z or +hh[:mm].
_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")


def _is_missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return not math.isfinite(v)
    if isinstance(v, Decimal):
        return not v.is_finite()
    return isinstance(v, np.datetime64) and bool(np.isnat(v))



def _isna(values: pd.Series) -> np.ndarray:
    """values.isna() as a bool array; per cell when pandas chokes (Decimal('sNaN') raises)."""
    try:
        return values.isna().to_numpy(dtype=bool)
    except (ArithmeticError, TypeError, ValueError):
        return np.array([_is_missing(v) for v in values.tolist()], dtype=bool)


def _warn_unit(values: np.ndarray, name: Hashable) -> None:
    """Warn when numbers read as ms look like another unit (median of the magnitudes)."""
    mags = np.abs(values[np.isfinite(values)])
    mags = mags[mags > 0]
    if not len(mags):
        return
    med = float(np.median(mags))
    # 1e11 ms is 1973; 1e11 s is the year 5138: below it, seconds are far likelier.
    if med < 1e11:
        unit = "s"
    elif med >= 1e17:
        unit = "ns"
    elif med >= 1e14:  # 1e14 ms is the year 5138 too; microseconds are likelier
        unit = "us"
    else:
        return
    warnings.warn(
        f"time column {name!r}: the numbers look like {_UNIT_WORDS[unit]} since the epoch but are "
        f'read as milliseconds; pass time_unit="{unit}" (or time_unit="ms" to keep them as they are)',
        UserWarning,
        stacklevel=3,
    )


_UNIT_WORDS = {"s": "seconds", "us": "microseconds", "ns": "nanoseconds"}


def _numbers_ms(values: np.ndarray, unit: str | None, name: Hashable) -> np.ndarray:
    """Numbers (int64 or float64, NaN = missing) in ``unit`` -> float64 ms, floored."""
    if unit is None:
        _warn_unit(values.astype("float64", copy=False), name)
        unit = "ms"
    mul, div = _PER_MS[unit]
    if values.dtype.kind in "iu":
        limit = np.iinfo(np.int64).max // mul
        if values.dtype.kind == "i" and not ((values > limit) | (values < -limit)).any():
            return (values * mul // div).astype("float64")
        # uint64, or seconds that overflow int64 as ms (int64 arithmetic would wrap round
        # to a plausible time): in floats, where they stay out of range for the validator.
        values = values.astype("float64")
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.floor(values * mul / div)
    out[~np.isfinite(out)] = np.nan
    return out


def _utc_naive(values: pd.Series, tz: str) -> np.ndarray:
    """A datetime-like Series -> naive UTC numpy datetime64 (naive values are in ``tz``)."""
    zone = values.dt.tz
    if zone is None:
        if tz.upper() == "UTC":
            arr = values.to_numpy()
            return arr if arr.dtype.kind == "M" else np.asarray(arr, dtype="datetime64[ns]")
        # DST: an ambiguous wall time is read as the first (summer) occurrence and a
        # nonexistent one moves forward, rather than failing the whole column.
        values = values.dt.tz_localize(
            tz, ambiguous=np.ones(len(values), dtype=bool), nonexistent="shift_forward"
        )
    arr = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return arr if arr.dtype.kind == "M" else np.asarray(arr, dtype="datetime64[ns]")


def _datetime64_ms(arr: np.ndarray) -> np.ndarray:
    """numpy datetime64 (any unit) -> float64 ms, NaN for NaT."""
    unit, _ = np.datetime_data(arr.dtype)
    i8 = arr.view("int64")
    if unit in _PER_MS:
        mul, div = _PER_MS[unit]
        ms = (i8 * mul // div).astype("float64")
    else:  # m, h, D, ... : go through ns
        ms = (arr.astype("datetime64[ms]").view("int64")).astype("float64")
    ms[np.isnat(arr)] = np.nan
    return ms


def _strings_ms(strings: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 strings -> (ms, unparseable). Offset-less strings are in ``tz``."""
    strings = strings.astype(object).str.strip()
    n = len(strings)
    ms = np.full(n, np.nan)
    empty = (strings == "").to_numpy(dtype=bool)
    aware = strings.str.contains(_AWARE, na=False).to_numpy(dtype=bool)
    for mask, utc in ((aware, True), (~aware & ~empty, False)):
        if not mask.any():
            continue
        part = strings[mask]
        try:
            parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=utc)
        except (ValueError, TypeError, OverflowError):  # e.g. a mix pandas refuses
            parsed = pd.Series(
                [pd.to_datetime(v, format="ISO8601", errors="coerce", utc=utc) for v in part],
                index=part.index,
                dtype="datetime64[ns, UTC]" if utc else "datetime64[ns]",
            )
        ms[mask] = _datetime64_ms(_utc_naive(pd.Series(parsed), tz))
    bad = ~empty & np.isnan(ms)
    return ms, bad


def _objects_ms(values: pd.Series, tz: str, unit: str | None) -> tuple[np.ndarray, np.ndarray]:
    """An object column: strings, datetimes, dates, numbers, mixed."""
    n = len(values)
    ms = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    present = ~_isna(values)
    objs = values.to_numpy(dtype=object)
    groups: dict[str, list[int]] = {"str": [], "naive": [], "aware": [], "num": []}
    for i in np.flatnonzero(present).tolist():
        v = objs[i]
        if isinstance(v, str):
            groups["str"].append(i)
        elif isinstance(v, _dt.datetime):  # incl. pd.Timestamp
            groups["aware" if v.tzinfo is not None else "naive"].append(i)
        elif isinstance(v, (_dt.date, np.datetime64)):
            groups["naive"].append(i)
        elif isinstance(v, (int, float, np.integer, np.floating, Decimal)) and not isinstance(
            v, (bool, np.bool_)
        ):
            groups["num"].append(i)
        else:
            bad[i] = True
    if groups["str"]:
        idx = np.array(groups["str"])
        ms[idx], bad[idx] = _strings_ms(pd.Series(objs[idx], dtype=object), tz)
    for kind in ("naive", "aware"):
        if groups[kind]:
            idx = np.array(groups[kind])
            try:
                parsed = pd.Series(pd.to_datetime(list(objs[idx]), utc=kind == "aware", errors="coerce"))
                ms[idx] = _datetime64_ms(_utc_naive(parsed, tz))
            except (ValueError, TypeError, OverflowError):
                ms[idx] = np.nan
            bad[idx] = np.isnan(ms[idx])
    if groups["num"]:
        idx = np.array(groups["num"])
        nums = np.array([float(v) for v in objs[idx]], dtype="float64")
        ms[idx] = _numbers_ms(nums, unit, values.name)
        bad[idx] = np.isnan(ms[idx])
    return ms, bad


def time_to_ms(
    values: pd.Series, *, tz: str = "UTC", time_unit: str | None = None
) -> tuple[pd.Series, np.ndarray]:
    """Times -> (float64 Series of ms since the epoch, NaN where missing or bad;
    bool array, True where a value was present but could not be read).

    Reads datetime64 columns (naive ones are in ``tz``; tz-aware ones converted),
    pyarrow timestamps, ISO 8601 strings (with or without offset), Python
    datetimes/dates, and numbers in ``time_unit`` (default ms; with ``time_unit=None``
    a ``UserWarning`` names the column when the numbers look like seconds, us or ns).
    Sub-millisecond parts are floored. Reference, "Event keys" -> time.
    """
    if time_unit is not None and time_unit not in _PER_MS:
        raise ValueError(f"time_unit must be one of {sorted(_PER_MS)} or None, not {time_unit!r}")
    n = len(values)
    dtype = values.dtype
    ms = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    if n == 0:
        pass
    elif isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(values.cat.categories, name=values.name)
        cat_ms, cat_bad = time_to_ms(cats, tz=tz, time_unit=time_unit)
        codes = values.cat.codes.to_numpy()
        ok = codes >= 0
        ms[ok] = cat_ms.to_numpy()[codes[ok]]
        bad[ok] = cat_bad[codes[ok]]
    elif ptypes.is_datetime64_any_dtype(dtype):
        ms = _datetime64_ms(_utc_naive(values, tz))
    elif ptypes.is_bool_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        bad = ~_isna(values)
    elif ptypes.is_integer_dtype(dtype) and not _isna(values).any():
        # uint64 stays unsigned (as int64, 2**64-1 would read as -1).
        ints = values.to_numpy(dtype="uint64" if dtype.kind == "u" else "int64")
        ms = _numbers_ms(ints, time_unit, values.name)
    elif ptypes.is_numeric_dtype(dtype):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
        ms = _numbers_ms(floats, time_unit, values.name)
        bad = np.isinf(floats)
    elif ptypes.is_string_dtype(dtype) and not ptypes.is_object_dtype(dtype):
        present = ~_isna(values)
        if present.any():
            ms[present], bad[present] = _strings_ms(values[present], tz)
    else:
        ms, bad = _objects_ms(values, tz, time_unit)
    return pd.Series(ms, index=values.index, name=values.name, dtype="float64"), bad


@functools.lru_cache(maxsize=64)
def check_tz(tz: object) -> None:
    """Raise ConfigurationError, with a close IANA name when there is one, for an unknown zone.

    Checked when options are made, so a typo fails at the call with one clear line
    instead of a zoneinfo/pytz error from deep inside the first chunk.
    """
    try:
        if not isinstance(tz, str):
            raise TypeError
        pd.Timestamp("2000-01-01").tz_localize(tz)
        return
    except Exception:
        pass
    hint = ""
    if isinstance(tz, str):
        try:
            import zoneinfo

            close = difflib.get_close_matches(tz, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.75)
        except Exception:  # no time zone database to search: the plain message
            close = []
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    raise ConfigurationError(
        f"tz={tz!r} is not a time zone{hint}; use an IANA name such as 'UTC', 'Europe/Berlin' "
        "or 'America/New_York' (the zone of times written without one)"
    )


__all__ = ["check_tz", "time_to_ms"]
