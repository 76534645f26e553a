"""The one async loop (``_client.Uploader``) through its seams: the transport, the clock and
sleep, the Wire, and the rejection wording; no socket, no real waiting.

End-to-end uploads over a real socket are in test_upload.py; the Wire's bytes in
test_wire.py; the decisions on answers in test_responses.py.
"""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import orjson
import pandas as pd

from amp_notebook._client import USER_AGENT, ClientSettings, Uploader
from amp_notebook._config import ApiKey, Endpoint, Limits
from amp_notebook._encoding import EncodedChunk
from amp_notebook._result import INGESTED, REJECTED, RowLedger, UploadResult
from amp_notebook._retry import RetryPolicy
from amp_notebook.sandbox import Emulator, SandboxConfig, SandboxTransport

KEY = ApiKey("client-key-0123456789")
URL = "https://example.invalid/2/httpapi"


def chunk(n: int, users: int = 10) -> EncodedChunk:
    payloads = [
        orjson.dumps({"event_type": "Play", "user_id": f"user-{i % users:03d}", "time": 1_772_400_000_000 + i,
                      "insert_id": f"row-{i:06d}"})
        for i in range(n)
    ]
    return EncodedChunk(np.arange(n, dtype=np.int64), payloads, [f"user:user-{i % users:03d}" for i in range(n)])


class Scripted(httpx.AsyncBaseTransport):
    """Answers from a script (status, JSON body) in order, then 200s; records what it was sent."""

    def __init__(self, *answers: tuple[int, dict[str, object]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.log: list[str] = []  # "start" / "end" per request: what overlapped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        self.log.append("start")
        await asyncio.sleep(0)  # let other requests start, if the loop sends them
        status, body = self.answers.pop(0) if self.answers else (200, {"code": 200})
        self.log.append("end")
        return httpx.Response(status, json=body)


class FakeTime:
    """The loop's clock and sleep: sleeping moves the clock; nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def run(settings: ClientSettings, n: int, fake: FakeTime | None = None) -> RowLedger:
    ledger = RowLedger(n)
    if fake is None:
        uploader = Uploader(settings, ledger, total=n)
    else:
        uploader = Uploader(settings, ledger, total=n, clock=fake.clock, sleep=fake.sleep)
    asyncio.run(uploader.run(iter([chunk(n)])))
    return ledger


def test_through_the_in_process_sandbox_every_event_lands_once() -> None:
    emulator = Emulator(SandboxConfig(device_eps=1e9))
    settings = ClientSettings(Endpoint(URL), KEY, limits=Limits(max_events=40), retry=RetryPolicy.fast(),
                              transport=SandboxTransport(emulator, sleep=False))
    ledger = run(settings, 300)
    assert ledger.count(INGESTED) == 300 and ledger.requests >= 300 // 40
    landed = sorted(e["insert_id"] for e in emulator.ingested)
    assert landed == [f"row-{i:06d}" for i in range(300)]


def test_retries_wait_through_the_injected_sleep_and_every_row_settles() -> None:
    transport = Scripted((503, {"code": 503}), (503, {"code": 503}))
    fake = FakeTime()
    policy = RetryPolicy(attempts=5, initial_s=2.0, max_s=8.0, budget_s=600.0)
    settings = ClientSettings(Endpoint(URL), KEY, retry=policy, transport=transport)
    ledger = run(settings, 50, fake)
    assert ledger.count(INGESTED) == 50
    assert len(transport.requests) == 3 and ledger.retries == 2
    # Backoff waits happened on the fake clock (full jitter: up to 2 s, then up to 4 s).
    assert sum(fake.slept) > 0 and fake.now > 0


def test_the_first_request_goes_alone() -> None:
    # Probing: a wrong body limit or a bad key costs one request, not `concurrency` of them.
    transport = Scripted()
    settings = ClientSettings(Endpoint(URL), KEY, limits=Limits(max_events=10), concurrency=4,
                              retry=RetryPolicy.fast(), transport=transport)
    ledger = run(settings, 100)
    assert ledger.count(INGESTED) == 100 and len(transport.requests) == 10
    assert transport.log[:2] == ["start", "end"]
    assert "start" in transport.log[2:]


def test_the_key_travels_in_the_body_only() -> None:
    transport = Scripted()
    settings = ClientSettings(Endpoint(URL), KEY, retry=RetryPolicy.fast(), transport=transport)
    run(settings, 5)
    (request,) = transport.requests
    assert orjson.loads(request.content)["api_key"] == KEY.reveal()
    assert KEY.reveal() not in str(request.url) and KEY.reveal() not in repr(dict(request.headers))
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT


def test_rejected_rows_take_the_settings_wording() -> None:
    # A 400 that names events 3 and 7 under "time": the rows' messages come from
    # settings.describe (the upload passes one naming the user's columns).
    transport = Scripted((400, {"code": 400, "events_with_invalid_fields": {"time": [3, 7]}}))
    settings = ClientSettings(Endpoint(URL), KEY, retry=RetryPolicy.fast(), transport=transport,
                              describe=lambda r: f"{r.message} [{', '.join(r.fields)}]")
    ledger = run(settings, 10)
    assert ledger.count(REJECTED) == 2 and ledger.count(INGESTED) == 8
    rows = UploadResult(frame=pd.DataFrame(index=range(10)), ledger=ledger).rows
    assert rows.loc[[3, 7], "message"].tolist() == ["Amplitude rejected the event: invalid value for 'time' [time]"] * 2
