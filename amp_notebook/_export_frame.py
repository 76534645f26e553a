"""Exported events -> a DataFrame in upload shape (``read_export``).

Pure. The frame's columns are the upload's event keys, so it can be checked,
fixed and sent again (to a test project, or from a US project to an EU one)
with ``df.amplitude.upload()`` and no mapping:

* ``$insert_id`` -> ``insert_id`` (a resend is then deduplicated by Amplitude);
* ``event_time`` -> ``time``, integer milliseconds since the epoch (UTC);
* properties -> dotted columns ``event_properties.<name>``,
  ``user_properties.<name>``, ``groups.<type>`` (one level: nested objects stay
  whole in their cell, as the mapping sends them);
* the export schema's own names back to upload keys (``version_name`` ->
  ``app_version``, ``device_carrier`` -> ``carrier``, ``ip_address`` -> ``ip``);
  revenue event properties ``$price``, ``$quantity``, ``$revenue``,
  ``$productId``, ``$revenueType`` back to the top-level keys;
* server-side fields (``amplitude_id``, ``uuid``, the server times, ``library``,
  ``data`` ...) are left out, and so are columns with no value at all, and
  ``session_id`` when every event has -1 ("no session", Amplitude's default).

Types: a column of integers is ``int64`` (``Int64`` with gaps), of booleans
``bool`` (``boolean`` with gaps), of numbers ``float64``; anything else as
pandas infers it. JSON has one number type and the uploader sends whole floats
as integers, so a float property whose values were all whole comes back as
integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._keys import EVENT_KEYS

# Export name -> upload key, for top-level fields (the export schema's names).
_TOP_LEVEL: dict[str, str] = {
    key: key
    for key in (
        "user_id", "device_id", "event_type", "session_id", "event_id", "platform", "os_name",
        "os_version", "device_brand", "device_manufacturer", "device_model", "country", "region",
        "city", "dma", "language", "location_lat", "location_lng", "idfa", "idfv", "adid",
        "android_id", "partner_id",
    )
}
_TOP_LEVEL.update({"version_name": "app_version", "device_carrier": "carrier", "ip_address": "ip",
                   "$insert_id": "insert_id"})
_REVENUE = {"$price": "price", "$quantity": "quantity", "$revenue": "revenue",
            "$productId": "productId", "$revenueType": "revenueType"}
_NESTED = ("event_properties", "user_properties", "groups")
_ORDER = {key: i for i, key in enumerate(("user_id", "device_id", "event_type", "time", *EVENT_KEYS))}


class ExportFrameBuilder:
    """Collects exported events batch by batch; :meth:`frame` builds the DataFrame once.

    Columns are kept sparse (row numbers and values), so an event only costs the
    fields it has, and a column first seen late needs no back-filling.
    """

    def __init__(self) -> None:
        self._rows: dict[str, list[int]] = {}
        self._values: dict[str, list[Any]] = {}
        self._times: list[Any] = []
        self.n = 0

    def _put(self, name: str, row: int, value: Any) -> None:
        rows = self._rows.get(name)
        if rows is None:
            rows = self._rows[name] = []
            self._values[name] = []
        rows.append(row)
        self._values[name].append(value)

    def add(self, events: Iterable[Mapping[str, Any]]) -> None:
        put, times = self._put, self._times
        for event in events:
            row = self.n
            self.n += 1
            times.append(event.get("event_time"))
            for name, key in _TOP_LEVEL.items():
                value = event.get(name)
                if value is not None:
                    put(key, row, value)
            for nested in _NESTED:
                props = event.get(nested)
                if not isinstance(props, dict):
                    continue
                for name, value in props.items():
                    if value is None:
                        continue
                    if nested == "event_properties" and name in _REVENUE:
                        put(_REVENUE[name], row, value)
                    else:
                        put(f"{nested}.{name}", row, value)

    def frame(self) -> pd.DataFrame:
        columns: dict[str, pd.Series] = {}
        if self.n:
            columns["time"] = _ms(self._times)
        for name in sorted(self._rows, key=_column_rank):
            values = np.empty(self.n, dtype=object)
            values[np.asarray(self._rows[name], dtype=np.int64)] = _object_array(self._values[name])
            series = _typed(values, complete=len(self._rows[name]) == self.n)
            if name == "session_id" and bool((series == -1).all()):
                continue  # -1 is "no session": the event had none
            columns[name] = series
        out = pd.DataFrame(columns, index=pd.RangeIndex(self.n))
        frame: pd.DataFrame = out[sorted(out.columns, key=_column_rank)]
        return frame


def _column_rank(name: str) -> tuple[int, int, str]:
    key, dot, _ = name.partition(".")
    if not dot:
        return (0, _ORDER.get(key, len(_ORDER)), name)
    return (1 + _NESTED.index(key) if key in _NESTED else 9, 0, "")  # properties: first seen first (stable)


def _object_array(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values  # lists and dicts stay whole cells
    return out


def _ms(times: list[Any]) -> pd.Series:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC) -> int64 milliseconds (Int64 with gaps)."""
    stamps = pd.to_datetime(pd.Series(times, dtype=object), format="ISO8601", utc=True)
    ms = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    out: pd.Series = ms.astype("int64") if not ms.isna().any() else ms.astype("Int64")
    return out


def _typed(values: np.ndarray, *, complete: bool) -> pd.Series:
    present = [v for v in values if v is not None] if not complete else list(values)
    kinds = {type(v) for v in present}
    out: pd.Series
    if kinds == {bool}:
        out = pd.Series(values, dtype=bool if complete else "boolean")
    elif kinds == {int}:
        out = pd.Series(values, dtype="int64" if complete else "Int64")
    elif kinds and kinds <= {int, float}:
        out = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    else:
        out = pd.Series(values.tolist())
    return out


def events_frame(batches: Iterable[Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """All ``batches`` of exported events as one upload-shaped frame."""
    builder = ExportFrameBuilder()
    for batch in batches:
        builder.add(batch)
    return builder.frame()


__all__ = ["ExportFrameBuilder", "events_frame"]
