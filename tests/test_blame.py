"""A server rejection's message names the columns behind the keys it blames (pure)."""

from __future__ import annotations

import pandas as pd

from amp_notebook import const
from amp_notebook._blame import columns_of, naming_columns
from amp_notebook._mapping import resolve_mapping
from amp_notebook._responses import Rejection


def _mapping():  # type: ignore[no-untyped-def]
    df = pd.DataFrame({"uid": ["u"], "event_type": ["Play"], "ts": [1], "song": ["x"], "note": ["y"]})
    return resolve_mapping(df, {"user_id": "uid", "time": "ts", "platform": const("Web"),
                                "event_properties": ["song", "note"], "event_type": "event_type"})


def test_each_blamed_key_names_its_columns_and_constants_name_none() -> None:
    rm = _mapping()
    assert columns_of(rm, "time") == ["ts"]
    assert columns_of(rm, "event_properties") == ["song", "note"]
    assert columns_of(rm, "platform") == []  # a constant: no column to fix
    name = naming_columns(rm)
    both = Rejection(0, "time", "server_invalid_field", "Amplitude rejected the event: x", fields=("time", "event_properties"))
    assert name(both) == "Amplitude rejected the event: x (time from column 'ts'; event_properties from columns 'song', 'note')"
    assert name(Rejection(1, "platform", "r", "m", fields=("platform",))) == "m"
    # A column named as its key: the message already names it.
    assert name(Rejection(1, "event_type", "r", "m", fields=("event_type", "time"))) == "m (time from column 'ts')"
    assert name(Rejection(2, None, "quota", "over the daily quota")) == "over the daily quota"
    assert name(both) is name(both)  # said once, shared by every row with the same problem
