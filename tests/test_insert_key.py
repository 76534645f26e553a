"""insert_id from chosen key columns: ``mapping={"insert_id": amp.key("order_id", "event_type")}``
(issue 12, item 9; amp_notebook/_insert_key.py, _key_ids.py).

Reference, "Event keys" -> insert_id: Amplitude ignores later events with the same
insert_id for the same device_id (or user_id) within 7 days. With the generated id (a
hash of the whole event), correcting one property and sending again stores the event
twice; with a key, the id depends on the key's values only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import HTTP_PATH, Sandbox

KEY = "key-test-0123456789abcdef"
NOW_MS = 1_750_000_000_000
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH
ORDER_KEY = amp.key("order_id", "event_type")
MAPPING: dict[str, Any] = {"insert_id": ORDER_KEY}
# blake2b, 16-byte digest, over b'["1001","Purchase"]' (see _key_ids): pinned, so a change of
# hash, of the bytes hashed, or of how a value becomes text breaks this test.
PINNED = "002336b468301278348399becda2ad10"


def orders(**overrides: Any) -> pd.DataFrame:
    data: dict[str, Any] = {
        "user_id": ["user-00001", "user-00001", "user-00002"],
        "event_type": ["Purchase", "Purchase", "Purchase"],
        "time": [NOW_MS - 3_000, NOW_MS - 2_000, NOW_MS - 1_000],
        "order_id": [1001, 1002, 1003],
        "event_properties.price": [9.99, 19.99, 5.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def ids(df: pd.DataFrame, mapping: dict[str, Any] | None = MAPPING) -> list[str]:
    return [e["insert_id"] for e in amp.to_events(df, mapping)]


# -- the value: pinned, documented, the same wherever it is computed ------------------------------


def test_pinned_value_for_a_known_input() -> None:
    assert ids(orders())[0] == PINNED
    assert hashlib.blake2b(b'["1001","Purchase"]', digest_size=16).hexdigest() == PINNED
    # 32 hex characters: a string well within "General rules" (at most 1024 characters).
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids(orders()))


def test_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "import amp_notebook as amp, pandas as pd\n"
        "df = pd.DataFrame({'user_id': ['user-00001'], 'event_type': ['Purchase'], 'order_id': ['1001']})\n"
        "print(next(iter(amp.to_events(df, {'insert_id': amp.key('order_id', 'event_type')})))['insert_id'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == PINNED


def _order_columns() -> list[Any]:
    columns: list[Any] = [
        np.array([1001, 1002, 1003], dtype="int64"),
        pd.array([1001, 1002, 1003], dtype="Int64"),
        pd.Series([1001, 1002, 1003], dtype=object),
        np.array([1001.0, 1002.0, 1003.0]),  # an int column read back with a gap elsewhere
        np.array([1001, 1002, 1003], dtype="uint64"),
        pd.Series(["1001", "1002", "1003"], dtype=object),
        pd.array(["1001", "1002", "1003"], dtype="string[python]"),
        pd.Categorical(["1001", "1002", "1003"]),
        pd.array(["1001", "1002", "1003"], dtype="string[pyarrow]"),  # pyarrow is a dependency
    ]
    return columns


@pytest.mark.parametrize("column", _order_columns(), ids=lambda c: str(getattr(c, "dtype", "object")))
def test_same_ids_whatever_the_dtype_of_the_key_column(column: Any) -> None:
    assert ids(orders(order_id=column)) == ids(orders())


def test_event_type_as_string_dtypes_and_dates_keep_their_ids() -> None:
    base = orders(sold_at=pd.to_datetime(["2026-01-01 10:00", "2026-01-01 10:01", "2026-01-01 10:02"]))
    by_date = {"insert_id": amp.key("order_id", "sold_at")}
    expected = ids(base, by_date)
    # Microsecond dates (pandas 3 reads strings so) and nanosecond ones give one text.
    assert ids(base.assign(sold_at=base["sold_at"].astype("datetime64[us]")), by_date) == expected
    assert ids(base.assign(event_type=pd.array(base["event_type"], dtype="string"))) == ids(base)


# -- what it is for: a corrected row keeps its insert_id -------------------------------------------


def test_a_corrected_property_keeps_the_id() -> None:
    before = orders()
    after = orders(**{"event_properties.price": [10.99, 19.99, 5.0]})
    assert ids(after) == ids(before)
    # A load timestamp mapped as a property does not change it either.
    loaded = after.assign(**{"event_properties.loaded_at": ["2026-12-05T21:00:00"] * 3})
    assert ids(loaded) == ids(before)
    # Without the key the whole event is hashed: the correction makes a new event.
    assert ids(after, None)[0] != ids(before, None)[0]


def test_only_the_key_values_decide() -> None:
    assert ids(orders(order_id=[1001, 1001, 1001]))[0] == ids(orders(order_id=[1001, 1001, 1001]))[1]
    assert len(set(ids(orders()))) == 3
    # The order of the names is part of the key.
    swapped = ids(orders(), {"insert_id": amp.key("event_type", "order_id")})
    assert swapped[0] != PINNED


def test_a_name_that_is_an_event_key_takes_its_values() -> None:
    df = orders().drop(columns="event_type")
    got = ids(df, {"insert_id": ORDER_KEY, "event_type": amp.const("Purchase")})
    assert got == ids(orders())


# -- missing key values: an error naming the row and the column ------------------------------------


@pytest.mark.parametrize("gap", [None, np.nan, pd.NA, "", "   "])
def test_missing_key_value_is_an_error_naming_row_and_column(gap: Any) -> None:
    df = orders(order_id=pd.Series([1001, gap, 1003], dtype=object))
    df.index = ["a", "b", "c"]
    f = amp.validate(df, MAPPING, now_ms=NOW_MS).failures
    hit = f[f["reason"] == "insert_id_key_missing"]
    assert (hit["row"].tolist(), hit["column"].tolist(), hit["severity"].tolist()) == (["b"], ["order_id"], ["error"])
    assert "order_id" in hit["message"].iloc[0]
    with pytest.raises(amp.MappingError, match=r"row 'b' has no value in 'order_id'") as err:
        list(amp.to_events(df, MAPPING))
    assert (err.value.key, err.value.column) == ("insert_id", "order_id")


@pytest.mark.parametrize("on_invalid", ["skip", "send"])
def test_upload_skips_a_row_missing_a_key_value_and_sends_the_rest(on_invalid: str) -> None:
    df = orders(order_id=[1001, None, 1003])
    sb = Sandbox()
    result = amp.upload(df, api_key=KEY, mapping=MAPPING, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                        retry=RetryPolicy.fast(), progress=False, now_ms=NOW_MS, on_invalid=on_invalid)
    assert result.rows["status"].tolist() == ["ingested", "skipped", "ingested"]
    assert "insert_id_key_missing" in result.rows["reason"].iloc[1]
    assert sorted(e["insert_id"] for e in sb.emulator.ingested) == sorted([ids(df.iloc[[0]])[0], ids(df.iloc[[2]])[0]])


# -- the duplicate check uses the same key ----------------------------------------------------------


def test_duplicate_event_follows_the_key() -> None:
    # Rows 0 and 1: one order, two prices (a correction in the same frame): one insert_id.
    df = orders(order_id=[1001, 1001, 1001], **{"event_properties.price": [9.99, 10.99, 9.99]})
    f = amp.validate(df, MAPPING, now_ms=NOW_MS).failures
    dup = f[f["reason"] == "duplicate_event"]
    # Row 2 is another user's: Amplitude deduplicates per device/user, so it stays.
    assert dup.index.tolist() == [1]
    assert "key('order_id', 'event_type')" in dup["message"].iloc[0] and "row 0" in dup["message"].iloc[0]
    # Without the key, rows 0 and 1 differ (another price): no warning.
    assert "duplicate_event" not in set(amp.validate(df, now_ms=NOW_MS).failures["reason"])


def test_duplicate_check_reads_values_as_text_like_the_ids() -> None:
    df = orders(order_id=pd.Series([1001, "1001", 1003], dtype=object))
    assert ids(df)[0] == ids(df)[1]
    f = amp.validate(df, MAPPING, now_ms=NOW_MS).failures
    assert f.index[f["reason"] == "duplicate_event"].tolist() == [1]


# -- the mapping ---------------------------------------------------------------------------------


def test_key_in_the_mapping_and_its_round_trip() -> None:
    df = orders(insert_id=["x-1", "x-2", "x-3"])  # an insert_id column the key overrides
    rm = amp._mapping.resolve_mapping(df, MAPPING)
    assert rm.get("insert_id") is None and rm.insert_id_key == ORDER_KEY
    assert rm.to_dict()["insert_id"] == ORDER_KEY
    assert repr(ORDER_KEY) == "key('order_id', 'event_type')"
    again = amp._mapping.resolve_mapping(df, rm.to_dict())
    assert again == rm
    assert ids(df) == ids(orders())
    # order_id feeds the insert_id: not listed as a column that is not sent.
    assert "order_id" not in amp.validate(orders(), MAPPING, now_ms=NOW_MS).unmapped


def test_unknown_key_column_is_a_mapping_error_with_a_suggestion() -> None:
    with pytest.raises(amp.MappingError, match=r"no column 'order'.*did you mean 'order_id'") as err:
        amp.validate(orders(), {"insert_id": amp.key("order", "event_type")})
    assert (err.value.key, err.value.column) == ("insert_id", "order")


def test_key_is_only_for_insert_id() -> None:
    with pytest.raises(amp.MappingError, match="insert_id"):
        amp.validate(orders(), {"event_type": ORDER_KEY})


@pytest.mark.parametrize(("args", "match"), [((), "at least one"), ((["a", "b"],), "separate arguments"),
                                             (("a", "a"), "twice")])
def test_key_refuses_what_cannot_be_a_key(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(amp.ConfigurationError, match=match):
        amp.key(*args)


# -- across a real socket: corrected and sent again, stored once -------------------------------------


def test_corrected_resend_to_the_sandbox_server_stores_each_event_once() -> None:
    first = orders(**{"event_properties.price": [9.99, -1.0, 5.0]})
    corrected = orders()
    with Sandbox() as sb:
        kw: dict[str, Any] = {"api_key": KEY, "mapping": MAPPING, "endpoint": sb.http_url, "progress": False,
                              "now_ms": NOW_MS}
        assert amp.upload(first, **kw).ingested_count == 3
        again = amp.upload(corrected, **kw)
        assert again.ingested_count == 3  # accepted (200) and deduplicated by Amplitude
        stored = sb.ingested
    assert len(stored) == 3
    assert sorted(e["insert_id"] for e in stored) == sorted(ids(corrected))
    # Amplitude keeps the first copy: the correction did not double, nor replace, the event.
    assert sorted(e["event_properties"]["price"] for e in stored) == [-1.0, 5.0, 9.99]


def test_without_a_key_the_corrected_resend_doubles_the_event() -> None:
    # The problem the key solves, shown with the same server.
    with Sandbox() as sb:
        kw: dict[str, Any] = {"api_key": KEY, "endpoint": sb.http_url, "progress": False, "now_ms": NOW_MS}
        amp.upload(orders(**{"event_properties.price": [9.99, -1.0, 5.0]}), **kw)
        amp.upload(orders(), **kw)
        assert len(sb.ingested) == 4


def test_verify_finds_the_events_of_a_corrected_resend_by_their_key_ids() -> None:
    # result.verify() re-encodes the sent rows with the upload's mapping: the key's ids.
    from amp_notebook.sandbox import SandboxConfig

    with Sandbox(SandboxConfig(export_delay_s=0)) as sb:
        kw: dict[str, Any] = {"api_key": KEY, "mapping": MAPPING, "endpoint": sb.http_url, "progress": False,
                              "now_ms": NOW_MS}
        first = amp.upload(orders(**{"event_properties.price": [9.99, -1.0, 5.0]}), **kw)
        again = amp.upload(orders(), **kw)
        for result in (first, again):
            report = result.verify("secret-key-5b4a3928", api_key=KEY, export_endpoint=sb.export_url,
                                   retry=RetryPolicy.fast(), _now=4e9)
            assert report.ok and report.landed_count == 3 and report.extra_count == 0, report


_TEXT_COLUMNS = [
    pd.Series([1001, -5, 0, 2**63 - 1], dtype="int64"),
    pd.Series([1001, 2**63 + 5, 0, 2**64 - 1], dtype="uint64"),
    pd.Series([1001, None, -(2**63), 7], dtype="Int64"),
    pd.Series([1001, None, 2**64 - 1, 7], dtype="UInt64"),
    pd.Series([1001, None, 3, 7], dtype="int64[pyarrow]"),
    pd.Series([1001.0, 2.5, np.nan, np.inf, -0.0, 1e300, -1e20, 2.0**63], dtype="float64"),
    pd.Series([1001.0, 0.1, np.nan, 3.0], dtype="float32"),
    pd.Series([1001, "1001", None, "  ", 2.5, True, [1, 2], {}], dtype=object),
]


@pytest.mark.parametrize("column", _TEXT_COLUMNS, ids=lambda c: str(c.dtype))
def test_fast_key_texts_are_the_generic_conversion(column: pd.Series) -> None:
    # The vectorised paths (ints, floats) give exactly what the encoder's text conversion gives,
    # and "missing" means the same as a None text.
    from amp_notebook._key_ids import _missing, _texts
    from amp_notebook._values import NO_TIMES, _values

    assert _texts(column) == _values(column, "id", NO_TIMES)[0]
    assert _missing(column).tolist() == [t is None for t in _texts(column)]


def test_duplicate_check_on_number_key_columns_matches_the_ids() -> None:
    # Numbers are compared as numbers in the duplicate check (cheaper than text) but must
    # agree with the ids: 0.0 and -0.0 are both "0"; 1001.0 is "1001".
    df = orders(user_id=["user-00001"] * 3, order_id=np.array([0.0, -0.0, 1001.0]))
    assert ids(df)[0] == ids(df)[1] != ids(df)[2]
    f = amp.validate(df, MAPPING, now_ms=NOW_MS).failures
    assert f.index[f["reason"] == "duplicate_event"].tolist() == [1]


def test_a_key_name_given_as_an_empty_constant_leaves_every_row_without_an_id() -> None:
    df = orders().drop(columns="event_type")
    f = amp.validate(df, {"insert_id": ORDER_KEY, "event_type": amp.const(" ")}, now_ms=NOW_MS).failures
    assert f.index[f["reason"] == "insert_id_key_missing"].tolist() == [0, 1, 2]
    assert "duplicate_event" not in set(f["reason"])
