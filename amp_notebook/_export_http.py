"""One Export API request, its zip streamed into a file the caller gives. IO (httpx).

The only place the secret key is used: Basic auth, the project's API key as the
user name and the secret key as the password (public Export API docs). Nothing
here keeps the request, its headers or an httpx exception: what comes back is
an :class:`Answer` of plain values, so no traceback or repr can carry the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import httpx
import orjson

from ._config import ApiKey, SecretKey
from ._export_hours import HourRange

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Answer:
    """What one request gave: ``status`` (0 = no answer, or an answer cut short),
    bytes written to the sink, Amplitude's error text, its Retry-After."""

    status: int
    nbytes: int = 0
    error: str | None = None
    retry_after: float | None = None


def _error_text(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:200] or None
    if isinstance(data, dict) and data.get("error") is not None:
        return str(data["error"])[:200]
    return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def download(
    client: httpx.Client,
    url: str,
    hours: HourRange,
    api_key: ApiKey,
    secret_key: SecretKey,
    sink: IO[bytes],
) -> Answer:
    """GET the export of ``hours`` into ``sink`` (only on a 200)."""
    auth = httpx.BasicAuth(api_key.reveal(), secret_key.reveal())
    written = 0
    try:
        with client.stream("GET", url, params=hours.params(), auth=auth) as response:
            if response.status_code != 200:
                return Answer(response.status_code, 0, _error_text(response.read()[:4096]), _retry_after(response))
            announced = response.headers.get("content-length")
            encoded = response.headers.get("content-encoding")
            for chunk in response.iter_bytes(CHUNK_BYTES):
                sink.write(chunk)
                written += len(chunk)
    except httpx.HTTPError as exc:
        # Before the answer, or in the middle of the body (a short export): either way
        # nothing usable arrived. Only the class name and text travel on (no request).
        where = "while reading the export" if written else "before an answer"
        return Answer(0, written, f"{type(exc).__name__} {where}: {exc}")
    if announced is not None and not encoded and announced.isdigit() and int(announced) != written:
        return Answer(0, written, f"the export was cut short: {written:,} of {int(announced):,} bytes")
    return Answer(200, written)


__all__ = ["Answer", "download"]
