"""A minimal fast HTTP sink for throughput benchmarks (not part of the package).

    python benchmarks/_sink.py            # prints its base URL, serves until SIGTERM

``POST /2/httpapi``: reads the JSON body, counts its events and their distinct
``insert_id`` values, answers 200 like Amplitude (``{"code": 200,
"events_ingested": n, ...}``). ``GET /stats``: the counters as JSON. HTTP/1.1
keep-alive with Content-Length bodies (what httpx and the official SDK send).

Why not the sandbox: the sandbox checks every event against the reference and
keeps per-device rate books in Python; at 200,000 devices its CPU time rivals the
client's, and on a 2-CPU machine the two compete. A speed benchmark measures the
client; the sink still proves that every event arrived, once.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

import orjson

_OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive\r\ncontent-length: "


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.events = 0
        self.ids: set[str] = set()

    def stats(self) -> bytes:
        return orjson.dumps({"requests": self.requests, "events_received": self.events,
                             "distinct_insert_ids": len(self.ids)})


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, c: Counters) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method = lines[0].split(b" ", 1)[0]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if method == b"GET":
                out = c.stats()
            else:
                events = orjson.loads(body)["events"]
                c.requests += 1
                c.events += len(events)
                c.ids.update(e["insert_id"] for e in events if "insert_id" in e)
                out = orjson.dumps({"code": 200, "events_ingested": len(events), "payload_size_bytes": len(body),
                                    "server_upload_time": 0})
            writer.write(_OK_HEAD + str(len(out)).encode() + b"\r\n\r\n" + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)  # the counters' set of ids is the only thing that grows
    c = Counters()
    server = await asyncio.start_server(lambda r, w: serve(r, w, c), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
