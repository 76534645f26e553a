"""The endpoint seam: HTTP V2 / Batch keep exactly the bytes they had before it."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from amp_notebook._batching import Batch, envelope_size
from amp_notebook._client import ClientSettings, Uploader
from amp_notebook._config import ApiKey, Endpoint, Limits
from amp_notebook._encoding import EncodedChunk
from amp_notebook._responses import interpret
from amp_notebook._result import INGESTED, RowLedger
from amp_notebook._retry import RetryPolicy
from amp_notebook._wire import JSON_EVENTS

payload = st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20), max_size=4).map(orjson.dumps)
options = st.none() | st.just({}) | st.fixed_dictionaries({"min_id_length": st.integers(1, 9)})
keys = st.text(min_size=1, max_size=40).filter(str.strip)


@given(st.lists(payload, min_size=1, max_size=20), keys, options)
@settings(max_examples=200, deadline=None)
def test_json_wire_is_the_batch_body(payloads: list[bytes], key: str, opts: dict[str, int] | None) -> None:
    batch = Batch(list(range(len(payloads))), payloads, ["d"] * len(payloads))
    assert JSON_EVENTS.body(batch, key, opts) == batch.body(key, opts)
    assert JSON_EVENTS.envelope(key, opts) == envelope_size(key, opts)
    # One byte per comma, as the Scheduler counts: no reserve for JSON.
    assert JSON_EVENTS.scheduler_envelope(key, opts, Limits()) == envelope_size(key, opts)
    assert len(JSON_EVENTS.body(batch, key, opts)) == JSON_EVENTS.envelope(key, opts) + batch.nbytes


def test_json_wire_reads_answers_with_interpret() -> None:
    batch = Batch([0, 1], [b"{}", b"{}"], ["a", "b"])
    policy = RetryPolicy.fast()
    for status, body in ((200, b"{}"), (503, b""), (None, None), (413, b"{}")):
        assert JSON_EVENTS.read(status, body, {}, batch, policy) == interpret(status, body, {}, batch, policy=policy)
    assert JSON_EVENTS.content_type == "application/json"
    assert JSON_EVENTS.default_retry() == RetryPolicy()


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return httpx.Response(200, json={"code": 200})


def test_the_loop_sends_the_wire_body_and_content_type() -> None:
    payloads = [orjson.dumps({"event_type": "e", "user_id": f"user-{i}"}) for i in range(30)]
    chunk = EncodedChunk(np.arange(30, dtype=np.int64), payloads, [f"user:{i}" for i in range(30)])
    rec = Recorder()
    key = ApiKey("key-0123456789")
    s = ClientSettings(Endpoint("https://example.invalid/2/httpapi"), key, options={"min_id_length": 3},
                       limits=Limits(max_events=7), transport=rec, retry=RetryPolicy.fast())
    ledger = RowLedger(30)
    asyncio.run(Uploader(s, ledger, total=30).run(iter([chunk])))
    assert ledger.count(INGESTED) == 30
    sent = []
    for req in rec.requests:
        assert req.headers["content-type"] == "application/json"
        doc = orjson.loads(req.content)
        n = len(doc["events"])
        batch = Batch(list(range(n)), [orjson.dumps(e) for e in doc["events"]], ["x"] * n)
        # Byte for byte what Batch.body makes (the bytes before the seam).
        assert req.content == batch.body("key-0123456789", {"min_id_length": 3})
        sent += doc["events"]
    assert sorted(e["user_id"] for e in sent) == sorted(f"user-{i}" for i in range(30))
