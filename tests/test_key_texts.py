"""One decision of the text a string key sends: the validator judges exactly what the encoder sends.

``_values.key_texts`` decides; the rules (``_rules.sent_strings``, via the validator's
``strings``), the insert_id key (``_key_ids``) and the encoder all read it. Edge values
where two separate conversions used to differ: whole floats at and beyond 2**63, Decimals,
unsigned 64-bit integers, nullable and Arrow numbers, tz-aware times.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook._encoding import EncodeOptions, field_values
from amp_notebook._mapping import resolve_mapping
from amp_notebook._validation import ValidateOptions, _source, _Validator
from amp_notebook._values import _CELL, _MISSING, key_texts

EDGE_COLUMNS = [
    pd.Series([1001.0, 2.5, np.nan, np.inf, -np.inf, -0.0, 1e300, -1e20, 2.0**63, 2.0**64, 1.5e19, 0.1]),
    pd.Series([1001.0, 0.1, np.nan, 3e9, 2.0**70], dtype="float32"),
    pd.Series([0, -1, 2**63 - 1, -(2**63)], dtype="int64"),
    pd.Series([2**64 - 1, 2**63, 0], dtype="uint64"),
    pd.Series([1, None, -(2**63)], dtype="Int64"),
    pd.Series([2**64 - 1, None], dtype="UInt64"),
    pd.Series([1.0, None, 2.5, 2.0**63], dtype="Float64"),
    pd.Series([7, None, 2**63 - 1], dtype="int64[pyarrow]"),
    pd.Series([7.0, None, 2.0**63, 0.5], dtype="double[pyarrow]"),
    pd.Series([1, 2, 1, None], dtype="category").cat.set_categories([1, 2, 2**63 - 1]),
    pd.Series([2.0**63, 1.0, np.nan], dtype="category"),
    pd.Series([True, False]),
    pd.Series([True, None], dtype="boolean"),
    pd.Series(pd.to_datetime(["2026-01-01 12:00:00.5", None])),
    pd.Series(pd.to_datetime(["2026-01-01 12:00", None])).dt.tz_localize("Europe/Berlin"),
    pd.Series(
        [Decimal("2.0"), Decimal("1.5"), Decimal("1E+30"), Decimal("NaN"), True, np.int64(5), np.float64(2.0**63),
         pd.Timestamp("2026-01-01 12:00", tz="Europe/Berlin"), dt.date(2026, 1, 2), "  ", "x", None, 12.0],
        dtype=object,
    ),
    pd.Series(["user-1", None, "", "  "], dtype="str"),
]


def _ids(column: pd.Series) -> str:
    return str(column.dtype)


def _none(values: pd.Series | list[object]) -> list[object]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in list(values)]


@pytest.mark.parametrize("column", EDGE_COLUMNS, ids=_ids)
@pytest.mark.parametrize("key", ["event_type", "user_id"])
def test_the_validator_judges_the_strings_the_encoder_sends(column: pd.Series, key: str) -> None:
    df = pd.DataFrame({"c": column, "d": "device-12345"})
    mapping = {key: "c", "device_id": "d"} if key == "user_id" else {key: "c", "user_id": "d"}
    rm = resolve_mapping(df, mapping)
    field = rm.get(key)
    assert field is not None
    judged = _none(_Validator(df, rm, ValidateOptions()).strings(_source(df, field)))
    sent = field_values(df, field, EncodeOptions())
    if key == "user_id":  # a blank id is left out; the id rules see it blank and call it missing
        judged = [None if isinstance(v, str) and not v.strip() else v for v in judged]
    assert judged == sent


@pytest.mark.parametrize("column", [c for c in EDGE_COLUMNS if c.dtype.kind in "iuf"], ids=_ids)
def test_key_texts_of_numbers_are_the_cell_by_cell_conversion(column: pd.Series) -> None:
    # The vectorised paths (ints, floats) give exactly what the per-cell _to_str gives.
    cells = [None if pd.api.types.is_scalar(v) and pd.isna(v) else _CELL["string"](v) for v in column.tolist()]
    assert key_texts(column) == [None if v is _MISSING else v for v in cells]


def test_a_whole_float_beyond_2_63_is_one_id_for_the_rules_and_the_wire() -> None:
    # 2**63 as a float is sent as its 19 digits: the validator measures those (not "9.2e+18").
    df = pd.DataFrame({"user_id": [2.0**63], "event_type": ["e"]})
    event = next(amp.to_events(df))
    assert event["user_id"] == "9223372036854775808"
    assert amp.validate(df).ok
