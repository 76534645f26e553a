"""Blank ids are missing ids; object-valued keys are matched by content (issue 12, items 3, 4).

Reference, "Event keys": every event needs a user_id or a device_id ("required when
there is no device_id"), so an empty user_id beside a good device_id is an event with
a device_id: the empty id is left out, not sent (the server would refuse "" as an
invalid id) and not a reason to skip the row.

Reference, "Event keys" -> plan: "object, tracking plan: only branch, source, version";
event_properties / user_properties / groups are objects too. A plain column that happens
to be called ``plan`` (a subscription plan: "pro", "free") is not Amplitude's tracking
plan: automatic mapping takes a column for an object key only when it holds dicts (or
is dotted, ``plan.branch``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook._mapping import resolve_mapping
from amp_notebook.sandbox import HTTP_PATH, Sandbox

KEY = "ids-key-0123456789"
NOW_MS = 1_750_000_000_000
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH


def _upload(df: pd.DataFrame, **kw: Any) -> tuple[amp.UploadResult, Sandbox]:
    sb = Sandbox()
    result = amp.upload(df, api_key=KEY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                        retry=RetryPolicy.fast(), progress=False, now_ms=NOW_MS, **kw)
    return result, sb


# -- item 3: blank ids ------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", " ", "   \t", "\n"])
@pytest.mark.parametrize("dtype", [object, "string", "str"])
def test_blank_user_id_beside_a_good_device_id_is_sent_without_it(blank: str, dtype: Any) -> None:
    try:
        user_ids = pd.array([blank, "user-00002"], dtype=dtype)
    except TypeError:  # pandas 2.2 has no "str" alias
        user_ids = pd.array([blank, "user-00002"], dtype="string")
    df = pd.DataFrame({"user_id": user_ids, "device_id": ["device-00001", "device-00002"],
                       "event_type": ["Play", "Play"], "time": [NOW_MS - 2, NOW_MS - 1]})
    assert amp.validate(df, now_ms=NOW_MS).failures.empty
    first = next(iter(amp.to_events(df)))
    assert "user_id" not in first
    assert first["device_id"] == "device-00001"
    result, sb = _upload(df)
    assert result.rows["status"].tolist() == ["ingested", "ingested"]
    assert [e.get("user_id") for e in sb.ingested] == [None, "user-00002"]


def test_blank_device_id_beside_a_good_user_id_is_sent_without_it() -> None:
    df = pd.DataFrame({"user_id": ["user-00001"], "device_id": [""], "event_type": ["Play"]})
    assert amp.validate(df, now_ms=NOW_MS).failures.empty
    assert "device_id" not in next(iter(amp.to_events(df)))
    result, _ = _upload(df)
    assert result.rows["status"].tolist() == ["ingested"]


def test_both_ids_blank_is_id_missing() -> None:
    df = pd.DataFrame({"user_id": ["", "user-00002"], "device_id": [" ", None], "event_type": ["Play", "Play"]})
    f = amp.validate(df, now_ms=NOW_MS).failures
    assert (f.index.tolist(), f["reason"].tolist()) == ([0], ["id_missing"])
    result, _ = _upload(df)
    assert result.rows["status"].tolist() == ["skipped", "ingested"]
    assert result.rows["reason"].iloc[0] == "invalid: id_missing"


def test_blank_ids_are_not_invalid_ids_but_other_invalid_ids_still_are() -> None:
    df = pd.DataFrame({"user_id": ["", "null", "N/A"], "device_id": ["device-00001"] * 3, "event_type": ["Play"] * 3})
    f = amp.validate(df, now_ms=NOW_MS).failures
    assert (f.index.tolist(), f["reason"].tolist()) == ([1, 2], ["id_invalid", "id_invalid"])


def test_blank_ids_in_a_categorical_column() -> None:
    df = pd.DataFrame({"user_id": pd.Categorical(["", "user-00002"]), "device_id": ["device-00001"] * 2,
                       "event_type": ["Play"] * 2})
    assert amp.validate(df, now_ms=NOW_MS).failures.empty
    assert "user_id" not in next(iter(amp.to_events(df)))


# -- item 4: object-valued keys are matched by content --------------------------------------


def _frame(**extra: Any) -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["Subscribe"] * 2, **extra})


def test_a_plain_plan_column_is_not_the_tracking_plan() -> None:
    df = _frame(plan=["pro", "free"])
    assert "plan" not in df.amplitude.mapping()
    report = df.amplitude.validate(now_ms=NOW_MS)
    assert report.failures.empty
    assert report.unmapped == ["plan"]
    assert "mapping={'event_properties': ['plan']}" in repr(report)
    assert all("plan" not in e for e in df.amplitude.to_events())
    # Sent where the hint says.
    events = list(df.amplitude.to_events({"event_properties": ["plan"]}))
    assert [e["event_properties"]["plan"] for e in events] == ["pro", "free"]


def test_a_plan_column_of_dicts_is_the_tracking_plan() -> None:
    df = _frame(plan=[{"branch": "main", "version": "3"}, None])
    assert df.amplitude.mapping()["plan"] == "plan"
    assert next(iter(df.amplitude.to_events()))["plan"] == {"branch": "main", "version": "3"}


def test_dotted_plan_columns_still_map() -> None:
    df = _frame(**{"plan.branch": ["main", "dev"]})
    assert df.amplitude.mapping() == {"user_id": "user_id", "event_type": "event_type", "plan": {"branch": "plan.branch"}}


@pytest.mark.parametrize("name", ["event_properties", "user_properties", "groups", "Plan", "eventProperties"])
def test_every_object_key_is_matched_by_content(name: str) -> None:
    text = _frame(**{name: ['{"a": 1}', '{"a": 2}']})
    assert name not in resolve_mapping(text).columns()
    assert text.amplitude.validate(now_ms=NOW_MS).unmapped == [name]
    objects = _frame(**{name: [{"a": "1"}, {"a": "2"}]})
    assert name in resolve_mapping(objects).columns()


def test_json_text_in_an_object_named_column_gets_the_parse_hint() -> None:
    df = _frame(event_properties=['{"a": 1}', '{"a": 2}'])
    text = df.amplitude.validate(now_ms=NOW_MS).unmapped_text()
    assert "json.loads" in text
    assert "mapping=" not in text  # not sent as a property named event_properties


def test_an_explicit_mapping_still_takes_any_column() -> None:
    # Explicit is explicit: the user said so, the validator then says what is wrong.
    df = _frame(plan=["pro", "free"])
    f = df.amplitude.validate({"plan": "plan"}, now_ms=NOW_MS).failures
    assert set(f["reason"]) == {"not_an_object"}


def test_labels_alone_keep_matching_by_name() -> None:
    # Without the frame there is nothing to look at: the name decides, as before.
    assert resolve_mapping(pd.Index(["user_id", "plan"])).get("plan") is not None


def test_mostly_missing_object_column_still_holds_objects() -> None:
    cells = [None] * 50 + [{"branch": "main"}]
    df = pd.DataFrame({"user_id": ["user-00001"] * 51, "event_type": ["x"] * 51, "plan": cells})
    assert resolve_mapping(df).get("plan") is not None
    df["plan"] = pd.Series([np.nan] * 51, dtype=object)
    assert resolve_mapping(df).get("plan") is None
