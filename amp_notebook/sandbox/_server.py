"""A real HTTP/1.1 keep-alive server on 127.0.0.1 over an :class:`Emulator`, in a thread.

asyncio streams and a minimal HTTP/1.1 parser (Content-Length and chunked bodies,
``Expect: 100-continue``, keep-alive unless ``Connection: close`` or HTTP/1.0):
enough for httpx, curl and Amplitude's SDKs, with no runtime dependency. The
emulator runs on the event-loop thread itself (no thread hop per request), which
is what makes >= 100k events/s possible on one core.

Every request goes to ``Emulator.handle``, which routes it by its table of routes
(``GET /_sandbox/stats``: the counters, never the key; ``GET /``: a health line).

Malformed requests get an answer and the server keeps serving: a bad request line,
header line or ``Content-Length`` (negative, signed, not digits, conflicting) is 400;
a ``Content-Length`` over 256 MiB is 413 without reading the body; a head over 1 MiB
is 431; a request not whole within ``read_timeout_s`` of its first byte is 408. Each
of these closes the connection (after draining what the client still sends, so the
answer is not lost to a reset). Pipelined requests are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from ._config import SandboxConfig
from ._emulator import BATCH_PATH, HTTP_PATH, Emulator
from ._export import EXPORT_PATH
from ._identify import GROUP_IDENTIFY_PATH, IDENTIFY_PATH
from ._transport import SandboxTransport

if TYPE_CHECKING:
    import pandas as pd

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Bodies beyond this are answered 413 without being read (then the socket is closed).
_HARD_BODY_CAP = 256 * 1024 * 1024
# A request head (request line + headers) beyond this is answered 431.
_HEAD_LIMIT = 1 << 20
# After an error that ends a connection, unread input is drained (for up to this long
# and this many bytes) before closing: closing with unread data makes the kernel send
# a reset, which can destroy the error answer before the client reads it.
_LINGER_S = 2.0
_LINGER_BYTES = 16 * 1024 * 1024
_DIGITS = re.compile(rb"[0-9]+")


class _Refuse(Exception):
    """A request that cannot be served: answer ``status`` and close the connection."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _head(status: int, headers: dict[str, str], length: int, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"content-length: {length}")
    lines.append("connection: keep-alive" if keep_alive else "connection: close")
    lines.append("server: amp-notebook-sandbox")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error_bytes(status: int, error: str) -> bytes:
    payload = orjson.dumps({"code": status, "error": error})
    return _head(status, {"content-type": "application/json"}, len(payload), False) + payload


def _content_length(raw: str) -> int:
    """RFC 9110 8.6: Content-Length = 1*DIGIT (no sign, no spaces, no "_", one value)."""
    value = raw.strip().encode("latin-1")
    if not _DIGITS.fullmatch(value):
        raise _Refuse(400, "Invalid Content-Length header")
    if len(value) > 12 or int(value) > _HARD_BODY_CAP:
        raise _Refuse(413, "Payload too large")
    return int(value)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
            raise _Refuse(400, "Invalid chunk size")
        size = int(size_text, 16)
        if size == 0:
            # Trailers, if any, end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        total += size
        if total > _HARD_BODY_CAP:
            raise _Refuse(413, "Payload too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class _Parsed:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes) -> _Parsed:
    """The rest of a request whose first byte has arrived: head, then body."""
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise _Refuse(431, "Request header fields too large") from None
    if len(head) > _HEAD_LIMIT:
        raise _Refuse(431, "Request header fields too large")
    lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise _Refuse(400, "Invalid request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _Refuse(400, "Invalid header line")
        name = name.lower()
        value = value.strip()
        if name == "content-length" and name in headers and headers[name] != value:
            raise _Refuse(400, "Conflicting Content-Length headers")
        headers[name] = value
    conn = headers.get("connection", "").lower()
    keep_alive = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)

    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = _content_length(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return _Parsed(method, target, headers, body, keep_alive)


async def _linger_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send what is buffered, stop writing, drain unread input for a moment, close."""
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        deadline = time.monotonic() + _LINGER_S
        drained = 0
        while drained < _LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                break
            drained += len(chunk)
    writer.close()


class Sandbox:
    """A local Amplitude: ``with Sandbox() as sb: upload(..., endpoint=sb.http_url)``.

    ``sb.url`` is the base (``http://127.0.0.1:PORT``), ``sb.http_url`` and
    ``sb.batch_url`` the two APIs, ``sb.emulator`` the shared state, and
    ``sb.transport()`` an in-process httpx transport over the same emulator.
    ``clock`` gives the server's ``now`` (seconds); inject one to test windows.
    ``read_timeout_s``: a request must arrive whole within this many seconds of its
    first byte, or it is answered 408 and the connection closed.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        emulator: Emulator | None = None,
        read_timeout_s: float = 30.0,
    ) -> None:
        if not read_timeout_s > 0:
            raise ValueError(f"read_timeout_s must be > 0 seconds, not {read_timeout_s!r}")
        self.emulator = emulator if emulator is not None else Emulator(config)
        self.read_timeout_s = float(read_timeout_s)
        self.host = host
        self._port = port
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.connections_opened = 0

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or start()")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return self.url + HTTP_PATH

    @property
    def batch_url(self) -> str:
        return self.url + BATCH_PATH

    @property
    def export_url(self) -> str:
        return self.url + EXPORT_PATH

    @property
    def identify_url(self) -> str:
        return self.url + IDENTIFY_PATH

    @property
    def group_identify_url(self) -> str:
        return self.url + GROUP_IDENTIFY_PATH

    # -- delegation to the emulator -------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self.emulator.config

    @property
    def ingested(self) -> list[dict[str, Any]]:
        return self.emulator.ingested

    def ingested_frame(self) -> pd.DataFrame:
        return self.emulator.ingested_frame()

    def user_properties(self, user_id: str | None = None) -> pd.DataFrame | dict[str, Any] | None:
        """The user properties Identify has set (see :meth:`Emulator.user_properties`)."""
        return self.emulator.user_properties(user_id)

    def group_properties(
        self, group_type: str | None = None, group_value: str | None = None
    ) -> pd.DataFrame | dict[str, Any] | None:
        """The group properties Group Identify has set (see :meth:`Emulator.group_properties`)."""
        return self.emulator.group_properties(group_type, group_value)

    def enqueue(self, status: int | None, body: Any = None, **kwargs: Any) -> None:
        self.emulator.enqueue(status, body, **kwargs)

    def fail_next(self, n: int = 1, status: int | None = 503, *, ingest: bool = False) -> None:
        self.emulator.fail_next(n, status, ingest=ingest)

    def configure(self, config: SandboxConfig | None = None, **changes: Any) -> SandboxConfig:
        return self.emulator.configure(config, **changes)

    def reset(self) -> None:
        self.emulator.reset()

    def transport(self, *, sleep: bool = True) -> SandboxTransport:
        return SandboxTransport(self.emulator, clock=self._clock, sleep=sleep)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._thread is not None:
            return self
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="amp-notebook-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the sandbox could not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(self._shutdown)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<Sandbox {where} {self.emulator!r}>"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self._port, limit=_HEAD_LIMIT)
            )
        except BaseException as e:  # port in use, bad host: report to start()
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._server = server
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
            self._server = None
            self._loop = None

    def _shutdown(self) -> None:
        assert self._loop is not None
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._loop.stop()

    # -- one connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections_opened += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except _Refuse as refuse:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(_error_bytes(refuse.status, refuse.error))
            await _linger_close(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request: nobody to answer
        except asyncio.CancelledError:
            # stop() cancels open connections; end quietly rather than re-raise into
            # asyncio's stream callback, which would log a traceback.
            pass
        except Exception:  # a bug here must cost one connection, never the server
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(_error_bytes(500, "Internal server error"))
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read, answer; True to keep the connection for another request.

        An idle keep-alive connection may wait for its next request as long as the
        client likes (connection pools keep them); from a request's first byte, the
        whole request must arrive within ``read_timeout_s`` or it is answered 408.
        """
        first = await reader.read(1)
        if not first:
            return False  # client closed between requests
        try:
            req = await asyncio.wait_for(_read_request(reader, writer, first), self.read_timeout_s)
        except asyncio.TimeoutError:
            raise _Refuse(408, "Request timeout") from None
        resp = self.emulator.handle(req.target, req.body, req.headers, self._clock(), method=req.method)
        if resp.delay_s > 0:
            await asyncio.sleep(resp.delay_s)
        if resp.drop:
            # Close without a word (the client sees "server disconnected").
            writer.close()
            return False
        writer.write(_head(resp.status, dict(resp.headers), len(resp.body), req.keep_alive) + resp.body)
        await writer.drain()
        return req.keep_alive
