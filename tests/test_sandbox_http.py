"""The sandbox server's HTTP handling, over raw sockets: malformed requests get the right
4xx, stalled reads time out, and the server keeps serving (issue 12, item 8).

Error strings are the reference's list (Amplitude's HTTP V2 docs, "400": "Invalid request
path", "Missing request body", "Invalid JSON request body", "Request missing required
field", "Invalid event JSON", "Invalid API key", "Invalid field values on some events").
"""

from __future__ import annotations

import socket
import time
from typing import Any

import orjson
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook.sandbox import Emulator, Sandbox, SandboxConfig

KEY = "test-key-0123456789abcdef"
EVENT = {"event_type": "Purchase", "device_id": "device-00001"}


def _body(events: list[Any] | None = None) -> bytes:
    return orjson.dumps({"api_key": KEY, "events": events if events is not None else [EVENT]})


def _post(path: str = "/2/httpapi", body: bytes = b"", *, length: object = None, extra: str = "") -> bytes:
    n = len(body) if length is None else length
    head = f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nContent-Length: {n}\r\n{extra}\r\n"
    return head.encode("latin-1") + body


class _Conn:
    """A raw client socket that reads whole HTTP/1.1 responses (Content-Length framed)."""

    def __init__(self, sb: Sandbox, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((sb.host, sb.port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a response; got {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("closed inside a response body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        """True when the server closed the connection (EOF or reset) with nothing more to read."""
        try:
            return not self._fill() and not self.buf
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def _json(body: bytes) -> Any:
    return orjson.loads(body)


@pytest.fixture
def sb() -> Any:
    with Sandbox(read_timeout_s=0.5) as server:
        yield server


@pytest.mark.parametrize("length", ["-5", "-1", "abc", "+5", "1_0", "5, 6", " "])
def test_malformed_content_length_is_400_and_closes(sb: Sandbox, length: str) -> None:
    c = _Conn(sb)
    c.send(_post(length=length, body=b"xxxxx"))
    status, headers, _ = c.response()
    assert status == 400
    assert headers["connection"] == "close"
    assert c.closed_by_server()


@pytest.mark.parametrize("length", [10**30, 2**63, 300 * 1024 * 1024])
def test_huge_content_length_is_413_without_reading(sb: Sandbox, length: int) -> None:
    c = _Conn(sb)
    c.send(_post(length=length, body=b"{"))
    status, headers, body = c.response()
    assert status == 413
    assert _json(body) == {"code": 413, "error": "Payload too large"}
    assert headers["connection"] == "close"
    assert c.closed_by_server()


def test_stalled_body_times_out_with_408(sb: Sandbox) -> None:
    c = _Conn(sb)
    started = time.monotonic()
    c.send(_post(length=100, body=b'{"api_key"'))  # 10 of 100 bytes, then nothing
    status, headers, _ = c.response()
    assert status == 408
    assert headers["connection"] == "close"
    assert time.monotonic() - started < 8  # 0.5 s configured; generous for a loaded machine
    assert c.closed_by_server()
    assert sb.ingested == []


def test_stalled_header_times_out_with_408(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(b"POST /2/httpapi HTTP/1.1\r\nHost: sandb")
    status, _, _ = c.response()
    assert status == 408
    assert c.closed_by_server()


def test_idle_keep_alive_connection_is_not_timed_out(sb: Sandbox) -> None:
    # The read timeout starts at a request's first byte: a pooled idle connection stays.
    c = _Conn(sb)
    time.sleep(1.0)  # twice the read timeout
    c.send(_post(body=_body()))
    assert c.response()[0] == 200


def test_read_timeout_defaults_to_30_seconds() -> None:
    assert Sandbox().read_timeout_s == 30.0
    with pytest.raises(ValueError, match="read_timeout_s"):
        Sandbox(read_timeout_s=0)


def test_oversized_header_block_is_431(sb: Sandbox) -> None:
    c = _Conn(sb)
    filler = "X-Filler: " + "a" * (1 << 20) + "\r\n"
    c.send(_post(body=_body(), extra=filler))
    status, headers, _ = c.response()
    assert status == 431
    assert headers["connection"] == "close"
    assert c.closed_by_server()


def test_malformed_request_line_is_400(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(b"NONSENSE\r\n\r\n")
    assert c.response()[0] == 400
    assert c.closed_by_server()


def test_negative_chunk_size_is_400(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(b"POST /2/httpapi HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nxxxxx\r\n0\r\n\r\n")
    assert c.response()[0] == 400
    assert c.closed_by_server()


def test_wrong_method_is_405_with_allow(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(b"GET /2/httpapi HTTP/1.1\r\nHost: s\r\n\r\n")
    status, headers, body = c.response()
    assert status == 405
    assert headers["allow"] == "POST"
    assert _json(body)["code"] == 405
    # The request was whole: the connection stays usable.
    c.send(_post(body=_body()))
    assert c.response()[0] == 200


def test_wrong_path_is_400_invalid_request_path(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(_post("/3/httpapi", _body()))
    status, _, body = c.response()
    assert status == 400
    assert _json(body) == {"code": 400, "error": "Invalid request path"}
    c.send(_post(body=_body()))
    assert c.response()[0] == 200


def test_empty_body_is_missing_request_body(sb: Sandbox) -> None:
    c = _Conn(sb)
    c.send(_post(body=b""))
    status, _, body = c.response()
    assert status == 400
    assert _json(body) == {"code": 400, "error": "Missing request body"}


def test_pipelined_requests_are_answered_in_order(sb: Sandbox) -> None:
    c = _Conn(sb)
    first = _body([{**EVENT, "device_id": "device-00001"}])
    second = _body([{**EVENT, "device_id": "device-00002"}, {**EVENT, "device_id": "device-00003"}])
    c.send(_post(body=first) + _post("/nowhere", b"{}") + _post(body=second))
    answers = [c.response() for _ in range(3)]
    assert [a[0] for a in answers] == [200, 400, 200]
    assert [_json(a[2]).get("events_ingested") for a in answers] == [1, None, 2]
    assert [e["device_id"] for e in sb.ingested] == ["device-00001", "device-00002", "device-00003"]


def test_pipelined_requests_stop_at_a_malformed_one(sb: Sandbox) -> None:
    # A good request, one with Content-Length -5, then another good one, in one write: the
    # first is answered, the bad one gets 400 and the connection closes; the third, whose
    # framing can no longer be trusted, is never read as a request.
    c = _Conn(sb)
    c.send(_post(body=_body([{**EVENT, "device_id": "device-00007"}])) + _post(length=-5, body=b"xxxxx")
           + _post(body=_body([{**EVENT, "device_id": "device-00008"}])))
    assert c.response()[0] == 200
    status, headers, _ = c.response()
    assert (status, headers["connection"]) == (400, "close")
    assert c.closed_by_server()
    assert [e["device_id"] for e in sb.ingested] == ["device-00007"]


def test_a_drip_fed_request_still_times_out(sb: Sandbox) -> None:
    # The timeout runs from a request's first byte, not between reads: a byte every 50 ms
    # (a slowloris) gets its 408 although no single read waits long.
    c = _Conn(sb)
    c.sock.settimeout(0.05)
    started = time.monotonic()
    dripped = 0
    answered = b""
    for byte in _post(body=_body(), extra="X-Slow: " + "s" * 400 + "\r\n"):
        try:
            c.sock.send(bytes([byte]))
            dripped += 1
            answered = c.sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset after the answer: what matters is the answer
            break
        if answered:
            break
    c.sock.settimeout(10.0)
    c.buf = answered
    assert c.response()[0] == 408
    assert dripped < 300  # stopped well before the header block was whole
    assert time.monotonic() - started < 8
    assert sb.ingested == []


def test_a_stalled_connection_does_not_hold_up_the_others() -> None:
    with Sandbox(read_timeout_s=30.0) as server:
        stalled = _Conn(server)
        stalled.send(_post(length=100, body=b'{"api_key"'))  # waits for 90 more bytes
        other = _Conn(server)
        other.send(_post(body=_body()))
        assert other.response()[0] == 200
        # The stalled request is still waiting (not answered, not timed out): served side by side.
        stalled.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            stalled.sock.recv(1)
        stalled.close()
        assert len(server.ingested) == 1


def test_server_survives_every_malformed_request_then_uploads(sb: Sandbox) -> None:
    """Negative and huge Content-Length, a stalled body, oversized headers, pipelining:
    each gets its own answer, then a normal upload to the same server succeeds."""
    abuse = [
        (_post(length=-5, body=b"xxxxx"), [400]),
        (_post(length=10**30, body=b"{"), [413]),
        (_post(length=100, body=b"{"), [408]),  # stalls: 408 after the read timeout
        (_post(body=_body(), extra="X-Filler: " + "a" * (1 << 20) + "\r\n"), [431]),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64) + b"\r\n\r\n", [400]),  # a TLS hello
        (_post(body=_body()) + _post(body=_body()), [200, 200]),
    ]
    for raw, statuses in abuse:
        c = _Conn(sb)
        c.send(raw)
        assert [c.response()[0] for _ in statuses] == statuses, raw[:40]
        c.close()
    frame = pd.DataFrame(
        {
            "user_id": [f"user-{i:05d}" for i in range(50)],
            "event_type": ["Purchase"] * 50,
            "time": [1_750_000_000_000 + i for i in range(50)],
        }
    )
    result = amp.upload(frame, api_key=KEY, endpoint=sb.http_url, progress=False)
    assert result.ingested_count == 50
    assert len([e for e in sb.ingested if e.get("user_id", "").startswith("user-")]) == 50


# -- the same answers without a socket (the in-process transport and the emulator) ----------


def test_emulator_error_strings_are_the_references() -> None:
    emu = Emulator(SandboxConfig(silenced_devices=frozenset({"device-00001"})))
    assert emu.handle("/2/httpapi", b"", {}, 0.0).json() == {"code": 400, "error": "Missing request body"}
    assert emu.handle("/elsewhere", _body(), {}, 0.0).json() == {"code": 400, "error": "Invalid request path"}
    r = emu.handle("/2/httpapi", orjson.dumps({"api_key": KEY, "events": [EVENT, "not an object"]}), {}, 0.0)
    assert (r.status, r.json()["error"]) == (400, "Invalid event JSON")
    r = emu.handle("/2/httpapi", _body(), {}, 0.0)
    assert (r.status, r.json()["error"]) == (400, "Events silenced for device_id")
    assert r.json()["silenced_events"] == [0]
    r = emu.handle("/batch", _body(), {}, 0.0, method="PUT")
    assert (r.status, r.headers["allow"]) == (405, "POST")


def test_routes_are_a_table_others_can_extend() -> None:
    from amp_notebook.sandbox import Response, Route

    emu = Emulator()
    emu.routes["/echo"] = Route(frozenset({"POST"}), lambda _emu, req: Response(200, req.body))
    assert emu.handle("/echo", b"hello", {}, 0.0).body == b"hello"
    assert emu.handle("/echo", b"", {}, 0.0, method="GET").headers["allow"] == "POST"
    assert set(Emulator().routes) >= {"/2/httpapi", "/batch", "/", "/_sandbox/stats"}
