"""An httpx transport (sync and async) that answers from an :class:`Emulator` in-process.

``httpx.Client(transport=SandboxTransport(emu))`` or ``httpx.AsyncClient(...)``: no
socket, no thread. A dropped connection raises what httpx raises over a real
socket (``RemoteProtocolError`` before an answer, ``ReadError`` after the server
did its work), and latency is a real sleep (``asyncio.sleep`` in the async path).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from ._emulator import Emulator, Response


class SandboxTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """In-process transport over ``emulator``; ``clock`` gives ``now`` (seconds)."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        clock: Callable[[], float] = time.time,
        sleep: bool = True,
    ) -> None:
        self.emulator = emulator
        self._clock = clock
        self._sleep = sleep

    def _answer(self, request: httpx.Request, body: bytes) -> Response:
        return self.emulator.handle(
            request.url.raw_path.decode("ascii"), body, dict(request.headers), self._clock(), method=request.method
        )

    @staticmethod
    def _to_httpx(request: httpx.Request, resp: Response) -> httpx.Response:
        if resp.drop:
            if resp.fault == "drop_after":
                raise httpx.ReadError("Connection reset by peer (sandbox drop)", request=request)
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response. (sandbox drop)", request=request
            )
        return httpx.Response(
            resp.status, headers=dict(resp.headers), content=resp.body, request=request
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self._answer(request, request.read())
        if resp.delay_s > 0 and self._sleep:
            time.sleep(resp.delay_s)
        return self._to_httpx(request, resp)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = self._answer(request, await request.aread())
        if resp.delay_s > 0 and self._sleep:
            await asyncio.sleep(resp.delay_s)
        return self._to_httpx(request, resp)

    def __repr__(self) -> str:
        return f"SandboxTransport({self.emulator!r})"
