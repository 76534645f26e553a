"""The form-encoded Wire of Identify / Group Identify (identify-api.md).

Bodies are ``api_key=...&identification=[...]`` form-encoded and measured as
encoded; no request exceeds the limits and every row goes exactly once; the
answer reader never resends an add blindly.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, quote_from_bytes

import httpx
import numpy as np
import orjson
import pytest
from builders import drain  # the loop with a fake clock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amp_notebook._batching import Batch, Oversize, chunk
from amp_notebook._client import ClientSettings, Uploader
from amp_notebook._config import ApiKey, Endpoint, Limits, Pacing
from amp_notebook._encoding import EncodedChunk
from amp_notebook._form import (
    AMBIGUOUS_ADD,
    FORM_IDENTIFY,
    SERVER_REJECTED,
    FormWire,
    accumulates,
    encode_payloads,
    percent_encode,
)
from amp_notebook._result import FAILED, INGESTED, REJECTED, RowLedger
from amp_notebook._retry import RetryPolicy
from amp_notebook._scheduler import Scheduler

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_PACING = Pacing(device_eps=1e9)
keys = st.text(min_size=1, max_size=40).filter(str.strip)


@given(st.binary(max_size=300))
def test_percent_encode_is_the_standard_one(data: bytes) -> None:
    assert percent_encode(data) == quote_from_bytes(data, safe="").encode()


@given(st.lists(st.binary(max_size=40), max_size=12))
def test_encode_payloads_each_like_alone(payloads: list[bytes]) -> None:
    # Raw newlines included: the one-pass join falls back to one by one.
    assert encode_payloads(payloads) == [percent_encode(p) for p in payloads]


def identification(i: int, pad: int, op: str = "$set") -> bytes:
    return orjson.dumps({"user_id": f"user-{i:05d}", "user_properties": {op: {"note": "é x" * pad, "n": i}}})


def decode(body: bytes) -> tuple[str, list[dict[str, object]]]:
    fields = parse_qs(body.decode("ascii"), strict_parsing=True, keep_blank_values=True)
    assert set(fields) == {"api_key", "identification"}
    return fields["api_key"][0], orjson.loads(fields["identification"][0])


@given(keys, st.lists(st.integers(0, 50), max_size=8))
def test_body_is_the_documented_form_and_its_size_is_exact(key: str, pads: list[int]) -> None:
    raw = [identification(i, p) for i, p in enumerate(pads)]
    batch = Batch(list(range(len(raw))), encode_payloads(raw), ["p"] * len(raw))
    body = FORM_IDENTIFY.body(batch, key, None)
    got_key, objects = decode(body)
    assert got_key == key
    assert objects == [orjson.loads(r) for r in raw]
    n = len(raw)
    assert len(body) == FORM_IDENTIFY.envelope(key, None) + sum(map(len, batch.payloads)) + 3 * max(0, n - 1)
    assert body.isascii() and b" " not in body


def test_form_wire_facts() -> None:
    assert FORM_IDENTIFY.content_type == "application/x-www-form-urlencoded"
    assert FORM_IDENTIFY.separator_bytes == len(b"%2C")
    # identify-api.md: "pause the devices/users of that request for 15 s".
    assert FORM_IDENTIFY.default_retry().throttle_pause_s == 15.0
    lim = Limits(max_events=1024, max_body_bytes=999_999)
    assert FORM_IDENTIFY.scheduler_envelope("k", None, lim) == FORM_IDENTIFY.envelope("k", None) + 2 * 1023


@st.composite
def rows_st(draw: st.DrawFn) -> list[tuple[int, bytes, str]]:
    n = draw(st.integers(0, 150))
    pads = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n))
    users = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
    raw = [identification(i, pads[i]) for i in range(n)]
    enc = encode_payloads(raw)
    return [(i, enc[i], f"user:{users[i]}") for i in range(n)]


def to_chunks(rows: list[tuple[int, bytes, str]], size: int) -> list[EncodedChunk]:
    return [
        EncodedChunk(np.array([r[0] for r in rows[s : s + size]], dtype=np.int64),
                     [r[1] for r in rows[s : s + size]], [r[2] for r in rows[s : s + size]])
        for s in range(0, len(rows), size)
    ]


def check(batch: Batch, key: str, limits: Limits) -> None:
    body = FORM_IDENTIFY.body(batch, key, None)
    assert 1 <= len(batch) <= limits.max_events
    assert len(body) <= limits.max_body_bytes, (len(body), limits)


@FAST
@given(rows=rows_st(), max_events=st.integers(1, 60), max_body=st.integers(1024, 9000), key=keys,
       chunk_size=st.integers(1, 40), paced=st.booleans())
def test_no_request_exceeds_the_limits_and_every_row_goes_once(
    rows: list[tuple[int, bytes, str]], max_events: int, max_body: int, key: str, chunk_size: int, paced: bool
) -> None:
    """The Scheduler, given the wire's envelope (with the separator reserve), never
    builds a form body over the limits, and sends every row exactly once."""
    limits = Limits(max_events=max_events, max_body_bytes=max_body)
    env = FORM_IDENTIFY.scheduler_envelope(key, None, limits)
    pacing = Pacing(device_eps=2.0, window_s=5.0) if paced else NO_PACING
    s = Scheduler(limits, pacing, env)
    over: list[Oversize] = []
    for c in to_chunks(rows, chunk_size):
        over += s.add(c)
    sent: list[tuple[int, bytes, str]] = []
    for b in drain(s)[0]:
        check(b, key, limits)
        sent += zip(b.positions, b.payloads, b.partitions, strict=True)
    # Oversize: a row alone over the (reserved) limit; nothing else is held back.
    assert {o.position for o in over} == {p for p, pl, _ in rows if env + len(pl) > max_body}
    kept = [r for r in rows if r[0] not in {o.position for o in over}]
    assert sorted(sent) == sorted(kept)
    # The static chunker (dry runs) keeps the same promise.
    static = list(chunk(to_chunks(rows, chunk_size), limits, env))
    batches = [b for b in static if isinstance(b, Batch)]
    for b in batches:
        check(b, key, limits)
    assert sorted(p for b in batches for p in b.positions) == sorted(p for p, _, _ in kept)


# -- reading answers ---------------------------------------------------------------------

OPS = ["$set", "$add", "$append", "$prepend", "$setOnce", "$unset", "$preInsert", "$postInsert", "$remove"]


def form_batch(ops: list[str]) -> Batch:
    raw = [identification(i, 1, op) for i, op in enumerate(ops)]
    return Batch(list(range(len(ops))), encode_payloads(raw), [f"user:{i}" for i in range(len(ops))])


def test_accumulating_operations_are_found_in_the_encoded_payload() -> None:
    found = [accumulates(p) for p in form_batch(OPS).payloads]
    assert found == [op in ("$add", "$append", "$prepend") for op in OPS]
    # The text '"$add":' inside a string value is escaped: not an add.
    tricky = orjson.dumps({"user_id": "user-1", "user_properties": {"$set": {"note": '"$add": 1'}}})
    assert not accumulates(percent_encode(tricky))


@pytest.mark.parametrize("status", [None, 500, 502, 504, 599])
def test_ambiguous_answer_fails_adds_and_resends_the_rest(status: int | None) -> None:
    batch = form_batch(OPS)
    out = FORM_IDENTIFY.read(status, b"", {}, batch, RetryPolicy.fast())
    adds = {1, 2, 3}
    assert out.kind == "retry"
    assert {r.index for r in out.failed} == adds
    assert all(r.reason == AMBIGUOUS_ADD and "may have applied" in r.message for r in out.failed)
    assert set(out.resend) == set(range(len(OPS))) - adds
    assert sorted((*out.resend, *(r.index for r in out.failed))) == list(range(len(OPS)))


def test_ambiguous_answer_with_only_adds_settles_the_batch() -> None:
    out = FORM_IDENTIFY.read(500, b"", {}, form_batch(["$add", "$append"]), RetryPolicy.fast())
    assert out.kind == "partial" and out.resend == () and len(out.failed) == 2


@pytest.mark.parametrize("status", [503, 408, 429])
def test_answers_that_applied_nothing_resend_everything(status: int) -> None:
    out = FORM_IDENTIFY.read(status, b"", {}, form_batch(OPS), RetryPolicy.fast())
    assert out.failed == () and set(out.resend) == set(range(len(OPS)))


def test_resend_ambiguous_opt_in_resends_adds() -> None:
    wire = FormWire(resend_ambiguous=True)
    out = wire.read(None, None, {}, form_batch(OPS), RetryPolicy.fast())
    assert out.kind == "retry" and out.failed == () and set(out.resend) == set(range(len(OPS)))


def test_200_plain_success_or_json_is_ingested() -> None:
    for body in (b"success", b'{"code":200}', b""):
        out = FORM_IDENTIFY.read(200, body, {}, form_batch(OPS), RetryPolicy.fast())
        assert out.kind == "ok" and out.ingested == tuple(range(len(OPS)))


def test_400_naming_nobody_is_bisected_then_rejected_alone() -> None:
    doc = orjson.dumps({"code": 400, "error": "missing_event"})
    out = FORM_IDENTIFY.read(400, doc, {}, form_batch(OPS), RetryPolicy.fast())
    assert out.kind == "split" and not out.shrink and set(out.resend) == set(range(len(OPS)))
    one = FORM_IDENTIFY.read(400, doc, {}, form_batch(["$set"]), RetryPolicy.fast())
    assert one.kind == "partial" and one.rejected[0].reason == SERVER_REJECTED
    assert "missing_event" in one.rejected[0].message


def test_invalid_api_key_still_stops() -> None:
    doc = orjson.dumps({"code": 400, "error": "Invalid API key: secret-abc"})
    out = FORM_IDENTIFY.read(400, doc, {}, form_batch(OPS), RetryPolicy.fast())
    assert out.kind == "fatal" and out.invalid_api_key and "secret-abc" not in (out.error or "")


def test_429_pauses_named_users_for_the_policy_pause() -> None:
    doc = orjson.dumps({"code": 429, "throttled_users": {"1": 40}, "throttled_events": [1]})
    out = FORM_IDENTIFY.read(429, doc, {}, form_batch(OPS), FORM_IDENTIFY.default_retry())
    assert out.kind == "throttled" and out.pause == {"user:1": 15.0}
    assert out.throttled == (1,) and set(out.resend) == set(range(len(OPS)))


# -- the loop with the form wire -------------------------------------------------------------


class FormServer(httpx.AsyncBaseTransport):
    """Answers like Identify: 400 for a request holding a "bad" identification, else 200."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.applied: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        key, objects = decode(body)
        assert key == "form-key-123"
        self.sizes.append(len(objects))
        if any(o["user_properties"]["$set"].get("bad") for o in objects):  # type: ignore[index, union-attr]
            return httpx.Response(400, json={"code": 400, "error": "missing_event"})
        self.applied += [str(o["user_id"]) for o in objects]
        return httpx.Response(200, content=b"success")


def test_loop_bisects_a_400_down_to_the_bad_rows_and_keeps_request_sizes() -> None:
    n, bad = 64, {5, 40}
    raw = [orjson.dumps({"user_id": f"user-{i:03d}", "user_properties": {"$set": {"bad": i in bad}}}) for i in range(n)]
    chunk_ = EncodedChunk(np.arange(n, dtype=np.int64), encode_payloads(raw), [f"user:{i}" for i in range(n)])
    server = FormServer()
    s = ClientSettings(Endpoint("https://example.invalid/identify"), ApiKey("form-key-123"),
                       limits=Limits(max_events=16), transport=server, retry=RetryPolicy.fast(),
                       wire=FORM_IDENTIFY)
    ledger = RowLedger(n)
    uploader = Uploader(s, ledger, total=n)
    asyncio.run(uploader.run(iter([chunk_])))
    assert ledger.positions(REJECTED).tolist() == sorted(bad)
    assert ledger.count(INGESTED) == n - len(bad) and ledger.count(FAILED) == 0
    assert sorted(server.applied) == sorted(f"user-{i:03d}" for i in range(n) if i not in bad)
    # A 400 is not a size problem: the requests that follow are not made smaller.
    assert uploader.scheduler._cap1 == uploader.scheduler._hard_cap1
