"""A local, faithful emulator of Amplitude's HTTP V2, Batch, Identify and Group Identify APIs,
and of its Export API over the events they stored.

The test oracle for the uploader, and what notebooks on Binder/CI upload to::

    from amp_notebook.sandbox import Sandbox, SandboxConfig, Faults

    with Sandbox(SandboxConfig(device_eps=1, window_s=5)) as sb:
        httpx.post(sb.http_url, json={"api_key": "k", "events": [...]})
        sb.ingested            # the stored events, deduplicated by insert_id
        sb.emulator.requests   # status, event count, path per request (never the key)
        httpx.get(sb.export_url, params={"start": "20260101T00", "end": "20260101T23"},
                  auth=("api-key", "secret-key"))   # a zip of gzipped JSON lines
        sb.user_properties()   # what /identify set; sb.group_properties(): /groupidentify

Three ways in: ``Sandbox`` (a real HTTP/1.1 server on 127.0.0.1, in a thread),
``SandboxTransport`` (httpx sync/async transport, in-process), and
``python -m amp_notebook.sandbox --port 0`` (separate process; prints its URL).
Behaviour choices are listed in ``_emulator`` (responses), ``_checks`` (events),
``_identify`` (identifications) and ``_properties`` (property operations).
"""

from __future__ import annotations

from ._config import Faults, SandboxConfig
from ._emulator import (
    BATCH_PATH,
    HTTP_PATH,
    ROUTES,
    Emulator,
    Request,
    RequestRecord,
    Response,
    Route,
)
from ._export import EXPORT_PATH
from ._identify import GROUP_IDENTIFY_PATH, IDENTIFY_PATH
from ._server import Sandbox
from ._transport import SandboxTransport

__all__ = [
    "BATCH_PATH",
    "EXPORT_PATH",
    "GROUP_IDENTIFY_PATH",
    "HTTP_PATH",
    "IDENTIFY_PATH",
    "ROUTES",
    "Emulator",
    "Faults",
    "Request",
    "RequestRecord",
    "Response",
    "Route",
    "Sandbox",
    "SandboxConfig",
    "SandboxTransport",
]
