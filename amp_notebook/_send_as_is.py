"""``on_invalid="send"``: the cells the local rules refuse go out as they are.

The encoder normally leaves out a value it cannot send as its key's type (a text
``time``, ``quantity=2.5``, ``price="4.99"``: reference, "Event keys"), and the
validator reports it. Sending such a row "anyway" must not mean sending it altered:
Amplitude is asked to judge the row, so it gets the value the row holds, and its 400
("events_with_invalid_fields") comes back to the row as *rejected*.

"As it is" is the cell as JSON, by the generic rules of property values (``_values``):
strings and numbers unchanged, dates as ISO text, containers as JSON. Two kinds of
value have no JSON form, so they are sent as the nearest thing that still fails the
same way: a non-finite float as its text (``"inf"``), an integer beyond 64 bits as its
exact digits. A ``time`` that was read (numbers in ``time_unit``, dates) goes out as
the milliseconds it means; one that could not be read, as it is.

Pure: failures and cells in, values out.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ._mapping import Const, Field, ResolvedMapping
from ._values import _MISSING, _clean, _field_kind

__all__ = ["as_is", "as_is_time", "cells_to_send_as_is"]

_TEXT_KINDS = frozenset({"string", "id", "group"})


def cells_to_send_as_is(failures: pd.DataFrame, rm: ResolvedMapping) -> dict[Field, np.ndarray]:
    """Field -> sorted row positions whose cell has an error (the cells sent as they are).

    Failures that name no column field (a constant, "no event_type mapped", a rule
    across keys like id_missing) send nothing extra: the row goes as it is anyway.
    """
    errors = failures[failures["severity"] == "error"]
    # Text keys (ids, event_type, platform, group values, plan fields) already go out as
    # the cell's text, whatever the error (too long, reserved, invalid id): as it is.
    by_path = {
        f.path: f for f in rm.fields if not isinstance(f.source, Const) and _field_kind(f) not in _TEXT_KINDS
    }
    out: dict[Field, np.ndarray] = {}
    for path, group in errors.groupby("key", sort=False):
        field = by_path.get(str(path))
        if field is not None:
            out[field] = np.unique(group.index.to_numpy(dtype=np.int64))
    return out


def as_is(cell: object) -> Any:
    """One cell as JSON, unchanged (None: missing, the key is left out)."""
    if isinstance(cell, (float, np.floating)):
        if math.isfinite(cell):
            return float(cell)  # 123.0 stays 123.0 (property values would send 123)
        return None if math.isnan(cell) else str(float(cell))  # "inf": JSON has no Infinity
    if isinstance(cell, Decimal) and cell.is_infinite():
        return str(cell)
    value = _clean(cell)
    if value is _MISSING:  # an empty dict (properties drop them): as it is, {}
        return {} if isinstance(cell, dict) else None
    return value


def as_is_time(cell: object, ms: float) -> Any:
    """A time cell: the milliseconds it was read as (exact digits), else the cell as it is."""
    if not math.isfinite(ms):
        return as_is(cell)
    whole = int(ms)
    return whole if -(2**63) <= whole < 2**64 else orjson.Fragment(str(whole).encode())

