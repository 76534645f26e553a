"""The Export API (``GET /api/2/export``) answered from what the emulator stored.

From Amplitude's public Export API docs:

* ``start`` and ``end`` are hours, ``YYYYMMDDTHH``, UTC, both included, and select
  events by the time Amplitude received them (``server_upload_time``).
* Basic auth: the project's API key as the user name, its secret key as the password.
* The answer is a zip of gzipped JSON-lines files, "several files per hour"
  (``{project}/{project}_{YYYY-MM-DD}_{H}#{n}.json.gz``); 404 when the range has
  no data; 400 over 4 GB or over 365 days.
* Data is exportable about 2 hours after the hour it arrived in ("data sent between
  8 and 9 PM ... is available via the Export API at 11 PM"): ``export_delay_s``
  counts from the start of the upload hour (0 by default; about 3 h at Amplitude).

Where the docs are silent (choices, kept here):

* 401 with a JSON ``error`` for missing or unknown credentials (never echoed).
* Every exported line has the same keys, ``null`` where the event had no value.
  Upload keys are renamed as the export schema names them (``app_version`` ->
  ``version_name``, ``carrier`` -> ``device_carrier``, ``ip`` -> ``ip_address``,
  ``insert_id`` -> ``$insert_id``); revenue fields travel as event properties
  ``$price``, ``$quantity``, ``$revenue``, ``$productId``, ``$revenueType``;
  ``plan`` and ``$skip_user_properties_sync`` are not exported.
* ``event_time`` and ``client_event_time`` are the event's ``time`` (the server
  upload time when it had none); the four server-side times are the upload time.
  Times are ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC.

Faults (``SandboxConfig``): ``export_truncate`` cuts the zip in half (a short
export), ``export_504_over_hours`` answers 504 for ranges of more hours than that.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import orjson

from ._config import SandboxConfig

EXPORT_PATH = "/api/2/export"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_HOURS = 365 * 24
_JSON = {"content-type": "application/json"}

# Upload key -> export key, for the top-level keys the export schema renames.
RENAMED = {"app_version": "version_name", "carrier": "device_carrier", "ip": "ip_address"}
# Top-level upload keys exported under their own name.
SAME_NAME = (
    "user_id", "device_id", "event_type", "platform", "os_name", "os_version", "device_brand",
    "device_manufacturer", "device_model", "country", "region", "city", "dma", "language",
    "location_lat", "location_lng", "idfa", "idfv", "adid", "android_id", "partner_id", "event_id",
)
# Revenue keys: exported as event properties with a "$" prefix.
REVENUE_KEYS = ("price", "quantity", "revenue", "productId", "revenueType")
# Keys only Amplitude fills in; the sandbox has nothing better than null for them.
SERVER_ONLY = (
    "amplitude_event_type", "device_type", "device_family", "library", "paying", "sample_rate",
    "start_version", "user_creation_time", "amplitude_attribution_ids",
)


def parse_hour(text: str) -> int | None:
    """``YYYYMMDDTHH`` -> hours since the epoch (UTC), or None when it is not one."""
    try:
        when = datetime.strptime(text, "%Y%m%dT%H").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int((when - _EPOCH).total_seconds()) // 3600


def format_time(ms: float) -> str:
    """Milliseconds since the epoch -> ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), as the export writes times."""
    return (_EPOCH + timedelta(milliseconds=int(ms))).replace(tzinfo=None).isoformat(" ", "microseconds")


def member_name(project: int, hour: int, n: int) -> str:
    """``{project}/{project}_{YYYY-MM-DD}_{H}#{n}.json.gz``: the hour not zero-padded."""
    start = _EPOCH + timedelta(hours=hour)
    return f"{project}/{project}_{start:%Y-%m-%d}_{start.hour}#{n}.json.gz"


def _error(status: int, message: str) -> tuple[int, bytes, Mapping[str, str]]:
    return status, orjson.dumps({"code": status, "error": message}), _JSON


def _credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep and user and password else None


def _authorised(headers: Mapping[str, str], config: SandboxConfig) -> bool:
    found = _credentials(headers)
    if found is None:
        return False
    api_key, secret_key = found
    if config.api_keys is not None and api_key not in config.api_keys:
        return False
    return config.secret_keys is None or secret_key in config.secret_keys


# Every line has every key (null where the event had no value): copied, then filled in.
_TEMPLATE: dict[str, Any] = dict.fromkeys(
    ("$insert_id", "app", "amplitude_id", "uuid", "event_time", "client_event_time", "client_upload_time",
     "server_received_time", "server_upload_time", "processed_time", "session_id", "event_properties",
     "user_properties", "groups", "group_properties", "data", "is_attribution_event",
     *SAME_NAME, *RENAMED.values(), *SERVER_ONLY)
)


@functools.lru_cache(maxsize=1 << 16)
def _amplitude_id(partition: str) -> int:
    """A stable number per device/user, as Amplitude's own id is."""
    return int.from_bytes(hashlib.blake2b(partition.encode(), digest_size=6).digest(), "big")


def _uuid(text: str) -> str:
    h = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def export_event(event: Mapping[str, Any], uploaded_ms: int, project: int, upload_time: str | None = None) -> dict[str, Any]:
    """One stored (upload-shaped) event as a line of the export (``upload_time``: the
    formatted ``uploaded_ms``, when the caller has it already)."""
    upload_time = upload_time or format_time(uploaded_ms)
    time = event.get("time")
    event_time = format_time(time) if type(time) is int else upload_time
    partition = str(event.get("device_id") or "user:" + str(event.get("user_id")))
    insert_id = event.get("insert_id")
    props = dict(event.get("event_properties") or {})
    for key in REVENUE_KEYS:
        if event.get(key) is not None:
            props["$" + key] = event[key]
    out = dict(_TEMPLATE)
    for key in SAME_NAME:
        out[key] = event.get(key)
    for key, name in RENAMED.items():
        out[name] = event.get(key)
    out.update({
        "$insert_id": insert_id,
        "app": project,
        "amplitude_id": _amplitude_id(partition),
        "uuid": _uuid(f"{partition}\x1f{insert_id}\x1f{uploaded_ms}"),
        "event_time": event_time,
        "client_event_time": event_time,
        "client_upload_time": upload_time,
        "server_received_time": upload_time,
        "server_upload_time": upload_time,
        "processed_time": upload_time,
        "session_id": event.get("session_id", -1),
        "event_properties": props,
        "user_properties": dict(event.get("user_properties") or {}),
        "groups": dict(event.get("groups") or {}),
        "group_properties": {},
        "data": {},
        "is_attribution_event": False,
    })
    return out


def _gzip_lines(lines: list[bytes]) -> bytes:
    # mtime=0: the same events give the same bytes.
    return gzip.compress(b"".join(lines), compresslevel=1, mtime=0)


def export_response(
    query: str,
    headers: Mapping[str, str],
    events: Sequence[Mapping[str, Any]],
    uploaded: Sequence[float],
    now: float,
    config: SandboxConfig,
) -> tuple[int, bytes, Mapping[str, str]]:
    """(status, body, headers) for one ``GET /api/2/export?...`` against the stored events.

    ``events[i]`` was stored at ``uploaded[i]`` (seconds since the epoch).
    """
    if not _authorised(headers, config):
        return _error(401, "Invalid API key or secret key")
    params = parse_qs(query)
    start = parse_hour((params.get("start") or [""])[0])
    end = parse_hour((params.get("end") or [""])[0])
    if start is None or end is None:
        return _error(400, "start and end are required, formatted YYYYMMDDTHH")
    if end < start:
        return _error(400, "end is before start")
    hours = end - start + 1
    if hours > _MAX_HOURS:
        return _error(400, "The maximum time range you can query at once is 365 days")
    if config.export_504_over_hours is not None and hours > config.export_504_over_hours:
        return 504, b"<html><body><h1>504 Gateway Time-out</h1></body></html>", {"content-type": "text/html"}
    # The hours whose data is exportable now (the delay counts from the start of the hour).
    last_ready = int((now - config.export_delay_s) // 3600)
    by_hour: dict[int, list[bytes]] = {}
    dumps = orjson.dumps
    upload_times: dict[int, str] = {}  # one request's events share their upload time
    for event, at in zip(events, uploaded, strict=True):
        hour = int(at // 3600)
        if start <= hour <= end and hour <= last_ready:
            ms = int(at * 1000)
            when = upload_times.get(ms)
            if when is None:
                when = upload_times[ms] = format_time(ms)
            line = dumps(export_event(event, ms, config.project_id, when)) + b"\n"
            by_hour.setdefault(hour, []).append(line)
    if not by_hour:
        return _error(404, "No data for the requested time range")
    buffer = io.BytesIO()
    size = 0
    per_file = config.export_events_per_file
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for hour in sorted(by_hour):
            lines = by_hour[hour]
            for n, first in enumerate(range(0, len(lines), per_file)):
                member = _gzip_lines(lines[first : first + per_file])
                size += len(member)
                if size > config.export_size_limit:
                    return _error(400, "The export is over the size limit; choose a smaller time range")
                info = zipfile.ZipInfo(member_name(config.project_id, hour, n), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, member)
    body = buffer.getvalue()
    if config.export_truncate:
        body = body[: len(body) // 2]
    return 200, body, {"content-type": "application/zip"}


__all__ = ["EXPORT_PATH", "export_event", "export_response", "format_time", "member_name", "parse_hour"]
