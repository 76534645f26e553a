"""``on_invalid="send"`` sends invalid rows with their values as they are (issue 12, item 6).

The option promises that Amplitude judges the rows the local rules refuse; it must not
quietly drop or convert the bad values first (a garbage ``time``, ``quantity=2.5``,
``price="4.99"``), or the rows reach Amplitude altered. The server's 400 then names the
field, and the row ends *rejected* with Amplitude's reason (reference, "Responses": the
listed events are rejected, the rest resent).
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy, upload_async
from amp_notebook.sandbox import HTTP_PATH, Sandbox, SandboxTransport

KEY = "send-key-0123456789"
NOW_MS = 1_750_000_000_000
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH


class _Recording(httpx.AsyncBaseTransport):
    """The sandbox's in-process transport, keeping every event it was sent."""

    def __init__(self, inner: SandboxTransport) -> None:
        self.inner = inner
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.bodies.append(body)
        return await self.inner.handle_async_request(request)

    def events(self) -> list[dict[str, Any]]:
        return [ev for body in self.bodies for ev in orjson.loads(body)["events"]]


def _send(df: pd.DataFrame, **kw: Any) -> tuple[amp.UploadResult, _Recording, Sandbox]:
    sb = Sandbox()
    transport = _Recording(sb.transport(sleep=False))
    result = amp.upload(df, api_key=KEY, endpoint=ENDPOINT, transport=transport,
                        retry=RetryPolicy.fast(), progress=False, now_ms=NOW_MS, **kw)
    return result, transport, sb


def _by_user(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {ev["user_id"]: ev for ev in events}


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["user-good", "user-time", "user-qty", "user-price"],
            "event_type": ["Purchase"] * 4,
            "time": pd.Series([NOW_MS - 4, "yesterday", NOW_MS - 2, NOW_MS - 1], dtype=object),
            "quantity": pd.Series([1, 1, 2.5, 1], dtype=object),
            "price": pd.Series([4.99, 4.99, 4.99, "4.99"], dtype=object),
        }
    )


def test_send_sends_the_invalid_values_unchanged_and_amplitude_rejects_them() -> None:
    result, transport, sb = _send(frame(), on_invalid="send")
    sent = _by_user(transport.events())
    assert sent["user-time"]["time"] == "yesterday"
    assert sent["user-qty"]["quantity"] == 2.5
    assert sent["user-price"]["price"] == "4.99"
    # The valid values of the same rows are sent as usual (converted as always).
    assert sent["user-price"]["time"] == NOW_MS - 1
    rows = result.rows
    assert rows["status"].tolist() == ["ingested", "rejected", "rejected", "rejected"]
    assert set(rows["reason"].iloc[1:]) == {"server_invalid_field"}
    messages = rows["message"].iloc[1:].tolist()
    assert ["time" in messages[0], "quantity" in messages[1], "price" in messages[2]] == [True] * 3
    assert [e["user_id"] for e in sb.ingested] == ["user-good"]


def test_skip_sends_none_of_them_and_says_why() -> None:
    result, transport, _ = _send(frame())
    assert [e["user_id"] for e in transport.events()] == ["user-good"]
    assert result.rows["reason"].iloc[1:].tolist() == [
        "invalid: time_invalid", "invalid: not_an_integer", "invalid: not_a_number",
    ]


@pytest.mark.parametrize(
    ("column", "cell", "on_wire"),
    [
        ("price", float("inf"), b'"price":"inf"'),  # JSON has no Infinity: its text, refused
        ("event_id", 10**20, b'"event_id":100000000000000000000'),  # exact digits
        ("session_id", np.uint64(2**63 + 5), b'"session_id":9223372036854775813'),
        ("$skip_user_properties_sync", "yes", b'"$skip_user_properties_sync":"yes"'),
        ("event_properties", "premium", b'"event_properties":"premium"'),  # not an object
        ("location_lat", 123.0, b'"location_lat":123.0'),
        ("event_type", "[Amplitude] Revenue", b'"event_type":"[Amplitude] Revenue"'),
        ("time", -5, b'"time":-5'),
    ],
)
def test_each_kind_of_invalid_value_goes_out_as_it_is(column: str, cell: Any, on_wire: bytes) -> None:
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["Purchase"]})
    df[column] = pd.Series([cell], dtype=object if not isinstance(cell, np.generic) else cell.dtype)
    mapping = {column: column}  # (a text column named event_properties is not auto-mapped)
    assert not amp.validate(df, mapping, now_ms=NOW_MS).ok
    result, transport, _ = _send(df, mapping=mapping, on_invalid="send")
    assert len(transport.bodies) == 1
    assert on_wire in transport.bodies[0]
    assert result.rows["status"].tolist() == ["rejected"]


def test_seconds_are_sent_as_the_milliseconds_they_mean() -> None:
    # time_unit="s": 10**17 s is 10**20 ms, beyond a long. As it is means in ms, its meaning.
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["x"], "time": [10**17]})
    result, transport, _ = _send(df, on_invalid="send", time_unit="s")
    assert b'"time":100000000000000000000' in transport.bodies[0]
    assert result.rows["status"].tolist() == ["rejected"]


def test_whole_object_column_with_named_fields_sends_the_bad_cell_as_it_is() -> None:
    df = pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["x", "x"],
                       "props": pd.Series([{"a": "1"}, "premium"], dtype=object), "b": ["2", "3"]})
    mapping = {"event_properties": "props", "event_properties.b": "b"}
    result, transport, _ = _send(df, mapping=mapping, on_invalid="send")
    sent = _by_user(transport.events())
    assert sent["user-00001"]["event_properties"] == {"a": "1", "b": "2"}
    assert sent["user-00002"]["event_properties"] == "premium"
    assert result.rows["status"].tolist() == ["ingested", "rejected"]


def test_the_option_is_documented_as_it_behaves() -> None:
    doc = " ".join((upload_async.__doc__ or "").split())
    assert "sent with their values as they are" in doc
    assert "rejected" in doc
