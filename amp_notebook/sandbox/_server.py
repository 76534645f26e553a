"""A real HTTP/1.1 keep-alive server on 127.0.0.1 over an :class:`Emulator`, in a thread.

asyncio streams and a minimal HTTP/1.1 parser (Content-Length and chunked bodies,
``Expect: 100-continue``, keep-alive unless ``Connection: close`` or HTTP/1.0):
enough for httpx, curl and Amplitude's SDKs, with no runtime dependency. The
emulator runs on the event-loop thread itself (no thread hop per request), which
is what makes >= 100k events/s possible on one core.

``GET /_sandbox/stats`` answers the emulator's counters (for the separate-process
mode; never the key), ``GET /`` a one-line health text.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from ._config import SandboxConfig
from ._emulator import BATCH_PATH, HTTP_PATH, Emulator, Response
from ._transport import SandboxTransport

if TYPE_CHECKING:
    import pandas as pd

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
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


class _BadRequest(Exception):
    pass


def _head(status: int, headers: dict[str, str], length: int, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"content-length: {length}")
    lines.append("connection: keep-alive" if keep_alive else "connection: close")
    lines.append("server: amp-notebook-sandbox")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest("bad chunk size") from None
        if size == 0:
            # Trailers, if any, end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        total += size
        if total > _HARD_BODY_CAP:
            raise _BadRequest("body too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Sandbox:
    """A local Amplitude: ``with Sandbox() as sb: upload(..., endpoint=sb.http_url)``.

    ``sb.url`` is the base (``http://127.0.0.1:PORT``), ``sb.http_url`` and
    ``sb.batch_url`` the two APIs, ``sb.emulator`` the shared state, and
    ``sb.transport()`` an in-process httpx transport over the same emulator.
    ``clock`` gives the server's ``now`` (seconds); inject one to test windows.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        emulator: Emulator | None = None,
    ) -> None:
        self.emulator = emulator if emulator is not None else Emulator(config)
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

    # -- delegation to the emulator -------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self.emulator.config

    @property
    def ingested(self) -> list[dict[str, Any]]:
        return self.emulator.ingested

    def ingested_frame(self) -> pd.DataFrame:
        return self.emulator.ingested_frame()

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
                asyncio.start_server(self._serve, self.host, self._port, limit=1 << 20)
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
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open connections; end quietly rather than re-raise into
            # asyncio's stream callback, which would log a traceback.
            pass
        except _BadRequest:
            with contextlib.suppress(ConnectionError):
                writer.write(_head(400, {}, 0, False))
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read, answer; True to keep the connection for another request."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # client closed between requests
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest("bad request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        conn = headers.get("connection", "").lower()
        keep_alive = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)

        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest("bad content-length") from None
            if length > _HARD_BODY_CAP:
                payload = orjson.dumps({"code": 413, "error": "Payload too large"})
                writer.write(_head(413, {"content-type": "application/json"}, len(payload), False))
                writer.write(payload)
                await writer.drain()
                return False
            body = await reader.readexactly(length) if length else b""

        path = target.split("?", 1)[0]
        if method == "GET" and path in ("/", "/_sandbox/stats"):
            if path == "/":
                payload = b"amp_notebook sandbox: POST /2/httpapi or /batch\n"
                resp = Response(200, payload, {"content-type": "text/plain"})
            else:
                resp = Response(200, orjson.dumps(self.emulator.counters))
        else:
            resp = self.emulator.handle(path, body, headers, self._clock(), method=method)
        if resp.delay_s > 0:
            await asyncio.sleep(resp.delay_s)
        if resp.drop:
            # Close without a word (the client sees "server disconnected").
            writer.close()
            return False
        writer.write(_head(resp.status, dict(resp.headers), len(resp.body), keep_alive) + resp.body)
        await writer.drain()
        return keep_alive
