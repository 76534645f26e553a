"""A pure emulator of Amplitude's HTTP V2 (``POST /2/httpapi``) and Batch (``POST /batch``) APIs,
of the Export API (``GET /api/2/export``, in ``_export``) over what they stored, and, through
``_identify``, of Identify (``POST /identify``) and Group Identify (``POST /groupidentify``).

``Emulator.handle(path, body, headers, now)`` -> :class:`Response`. No IO, no clock
(``now`` is passed in, seconds since the epoch), no sleeping (latency is returned
as ``Response.delay_s`` for the transport or server to apply), randomness from an
injected ``random.Random``. One lock makes it safe to share between the server
thread and the test.

Requests are routed by a table (``Emulator.routes``: path -> :class:`Route`, the
methods it takes and its handler): a path not in it is 400 "Invalid request path" (the
reference's list of 400 errors), a method the route does not take 405 with ``Allow``.
New endpoints add a row (``ROUTES`` for every emulator, ``emu.routes`` for one).

Order of checks for one ingestion request (first failure answers):

0. 400 "Missing request body" for an empty body.
1. 413 when the body is at or over the body limit (reference, "Limits").
2. 400 "Invalid JSON request body" (also for a malformed ``options`` object: the
   reference lists no other string for it); 400 "Request missing required field" with
   ``missing_field`` (``api_key``, or ``events`` when absent, not a list, or empty);
   400 "Invalid event JSON" when an event is not an object; 400 "Invalid API key"
   (the key itself is never echoed).
3. 413 when an HTTP V2 request has 2000 events or more ("fewer than 2000").
4. 400 with ``events_with_invalid_fields`` / ``events_with_missing_fields`` /
   ``events_with_invalid_id_lengths`` (see ``_checks``).
5. 400 "Events silenced for device_id" (the reference's example body):
   ``silenced_devices``/``silenced_events`` and
   ``exceeded_daily_quota_devices``/``exceeded_daily_quota_users`` (the reference puts
   the quota map in the silenced body; ``daily_quota_status=429`` moves it to a 429).
6. 429 naming nobody when the project is over ``project_rps`` / ``project_eps``
   (Starter plan; counted in ``project_throttled``).
7. 429 with ``throttled_devices``/``throttled_users``/``throttled_events``/``eps_threshold``.
8. 200 ``{code, events_ingested, payload_size_bytes, server_upload_time}``.

Every non-200 answer ingests nothing of the request: Amplitude's guidance is to
remove the listed events and resend the rest (reference, "Responses"), so the
others were not kept; for a 429 the client resends the non-throttled events.
Only ingested events (and accepted requests) count toward the rate windows and the
daily quota.

On a 200, ``events_ingested`` counts every event of the request, duplicates
included (Amplitude accepts them and drops them later); the emulator keeps only
the first copy of a (device_id or user_id, insert_id) pair in ``ingested`` and
counts the others in ``duplicates``.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ._books import DedupBook, QuotaBook, RateBook
from ._checks import Problems, check_event, partition_of
from ._config import SandboxConfig
from ._export import EXPORT_PATH, export_response
from ._identify import GROUP_IDENTIFY_PATH, IDENTIFY_PATH, IdentifyBook, read_identifications

if TYPE_CHECKING:
    import pandas as pd

HTTP_PATH = "/2/httpapi"
BATCH_PATH = "/batch"
_APIS = {HTTP_PATH: "http", BATCH_PATH: "batch", IDENTIFY_PATH: "identify", GROUP_IDENTIFY_PATH: "groupidentify"}
_IDENTIFY_APIS = frozenset({"identify", "groupidentify"})
_JSON = {"content-type": "application/json"}
_HTML = {"content-type": "text/html"}


@dataclass(frozen=True)
class Response:
    """The emulator's answer. ``drop``: close the connection without answering."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: dict(_JSON))
    drop: bool = False
    delay_s: float = 0.0
    fault: str | None = None  # "503_before", "drop_before", "500_after", ..., "script"

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class RequestRecord:
    """One line of the request log. Never holds the api_key or the body."""

    at: float
    path: str
    status: int | None  # None: connection dropped
    n_events: int | None  # None: the body could not be read as a request
    nbytes: int
    ingested: int = 0  # new events stored (duplicates excluded)
    duplicates: int = 0
    fault: str | None = None


@dataclass(frozen=True)
class _Scripted:
    status: int | None
    body: bytes | None
    ingest: bool
    headers: Mapping[str, str] | None


@dataclass(frozen=True)
class Request:
    """One request as a route handler sees it (path without query, method upper-case)."""

    path: str
    method: str
    body: bytes
    headers: Mapping[str, str]
    now: float
    query: str = ""  # what followed the "?" (the Export API's start and end)


@dataclass(frozen=True)
class Route:
    """One row of the routing table: the methods a path takes and what answers it."""

    methods: frozenset[str]
    handler: Callable[[Emulator, Request], Response]


def _json_response(status: int, payload: Mapping[str, Any]) -> Response:
    return Response(status, orjson.dumps(payload))


_ERRORS = {
    400: "Bad request",
    413: "Payload too large",
    429: "Too many requests for some devices and users",
    500: "Internal server error",
    503: "Service unavailable",
}


def _default_body(status: int) -> Response:
    if status in (502, 504):
        # These come from a load balancer in front of Amplitude: not JSON.
        text = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
        return Response(status, f"<html><body><h1>{text}</h1></body></html>".encode(), _HTML)
    return _json_response(status, {"code": status, "error": _ERRORS.get(status, "Error")})


class Emulator:
    """Amplitude's ingestion endpoints, in memory. See the module docstring."""

    def __init__(self, config: SandboxConfig | None = None, *, rng: random.Random | None = None):
        self._lock = threading.RLock()
        self._config = config if config is not None else SandboxConfig()
        self._rng = rng if rng is not None else random.Random(self._config.faults.seed)
        # Silent loss (events without an insert_id) draws from its own rng: switching it
        # on leaves the other faults as they were.
        self._loss_rng = random.Random(f"loss-{self._config.faults.seed}")
        self._script: deque[_Scripted] = deque()
        self.routes: dict[str, Route] = dict(ROUTES)
        self.reset()

    # -- configuration and scripting -------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, config: SandboxConfig | None = None, **changes: Any) -> SandboxConfig:
        """Swap the config (or change some fields) without losing the record."""
        with self._lock:
            new = config if config is not None else self._config
            new = new.replace(**changes) if changes else new
            if new.window_s != self._config.window_s:
                self._rates = {"http": RateBook(new.window_s), "batch": RateBook(new.window_s)}
                self._identify.rates = RateBook(new.window_s)
            if new.project_window_s != self._config.project_window_s:
                self._project = RateBook(new.project_window_s)
            if new.dedup_window_s != self._config.dedup_window_s:
                self._dedup.window_s = new.dedup_window_s
            self._config = new
            return new

    def enqueue(
        self,
        status: int | None,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        ingest: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Force the answer to the next request (queued, first in first out).

        ``status=None`` drops the connection. ``body=None`` gives the usual body for
        that status (for a 429: every event of the request throttled). ``ingest=True``
        processes the request normally first (like an "after" fault).
        """
        raw = orjson.dumps(body) if isinstance(body, Mapping) else body
        with self._lock:
            self._script.append(_Scripted(status, raw, ingest, headers))

    def fail_next(self, n: int = 1, status: int | None = 503, *, ingest: bool = False) -> None:
        """The next ``n`` requests fail with ``status`` (None: dropped connection)."""
        for _ in range(n):
            self.enqueue(status, ingest=ingest)

    # -- the record ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything: events, dedup memory, rates, quotas, log, counters, script."""
        with self._lock:
            cfg = self._config
            self._ingested: list[dict[str, Any]] = []
            self._uploaded: list[float] = []  # when each stored event arrived (its server_upload_time)
            self._lost: list[dict[str, Any]] = []
            self._lost_keys: set[tuple[str, str]] = set()  # lost once: stored when sent again
            self._dedup = DedupBook(cfg.dedup_window_s)
            self._rates = {"http": RateBook(cfg.window_s), "batch": RateBook(cfg.window_s)}
            self._identify = IdentifyBook(cfg.window_s)
            self._quota = QuotaBook()
            self._project = RateBook(cfg.project_window_s)  # "events" and "requests", whole project
            self._requests: deque[RequestRecord] = deque(maxlen=cfg.log_limit)
            self._counters: Counter[str] = Counter()
            self._script.clear()

    @property
    def ingested(self) -> list[dict[str, Any]]:
        """A copy of the stored events, in arrival order, duplicates left out."""
        with self._lock:
            return list(self._ingested)

    @property
    def lost(self) -> list[dict[str, Any]]:
        """Events acknowledged with a 200 and then silently not stored (``Faults.p_lose``)."""
        with self._lock:
            return list(self._lost)

    @property
    def duplicates(self) -> int:
        with self._lock:
            return self._counters["duplicates"]

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def counters(self) -> dict[str, int]:
        """requests, status_<code>, drops, events_received, events_ingested (stored),
        duplicates, events_rejected, events_throttled, events_silenced, events_over_quota,
        project_throttled (requests refused for the project-wide rates),
        events_lost (acknowledged, not stored), exports."""
        with self._lock:
            return dict(self._counters)

    def user_properties(self, user_id: str | None = None) -> pd.DataFrame | dict[str, Any] | None:
        """What Identify has set: a frame of every user (``user_id``, ``device_id``, one
        column per property; Amplitude's own fields as ``[Amplitude] <name>``), or, given
        an id (a user_id, or the device_id of a device-only user), that user's properties
        as a dict (None when unknown)."""
        with self._lock:
            if user_id is None:
                return self._identify.users_frame()
            return self._identify.user(user_id)

    def group_properties(
        self, group_type: str | None = None, group_value: str | None = None
    ) -> pd.DataFrame | dict[str, Any] | None:
        """What Group Identify has set: a frame (``group_type``, ``group_value``, one column
        per property), or one group's properties as a dict (None when unknown)."""
        with self._lock:
            if group_type is None or group_value is None:
                frame = self._identify.groups_frame()
                return frame if group_type is None else frame[frame["group_type"] == group_type]
            props = self._identify.groups.get((group_type, group_value))
            return None if props is None else dict(props)

    def ingested_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(self.ingested)
        return frame

    def __repr__(self) -> str:
        c = self.counters
        return (
            f"<Emulator requests={c.get('requests', 0)} ingested={c.get('events_ingested', 0)} "
            f"duplicates={c.get('duplicates', 0)}>"
        )

    # -- handling -----------------------------------------------------------------------

    def handle(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        now: float = 0.0,
        *,
        method: str = "POST",
    ) -> Response:
        """Answer one request: routed by ``self.routes`` (see the module docstring)."""
        path, _, query = path.partition("?")
        route = self.routes.get(path.rstrip("/") or "/")
        if route is None:
            # Reference (HTTP V2, "400"): "Invalid request path" is one of the listed errors.
            return _json_response(400, {"code": 400, "error": "Invalid request path"})
        method = method.upper()
        if method not in route.methods:
            allow = ", ".join(sorted(route.methods))
            resp = _json_response(405, {"code": 405, "error": "Method not allowed"})
            return Response(405, resp.body, {**_JSON, "allow": allow})
        return route.handler(self, Request(path.rstrip("/") or "/", method, body, headers or {}, now, query))

    def _ingest(self, req: Request) -> Response:
        """POST /2/httpapi, /batch, /identify, /groupidentify: scripted answers, faults, then the real server."""
        path, body, now = req.path, req.body, req.now
        api = _APIS[path]
        with self._lock:
            cfg = self._config
            faults = cfg.faults
            scripted = self._script.popleft() if self._script else None
            u_before = u_after = u_spike = 1.0
            if faults.active:
                # Always three draws per request, so a seed gives the same faults
                # whatever the outcomes.
                u_before, u_after, u_spike = (self._rng.random() for _ in range(3))
            delay = faults.latency_s + (faults.latency_spike_s if u_spike < faults.latency_spike_p else 0.0)

            if scripted is not None and not scripted.ingest:
                resp = self._scripted(scripted, body, path)
                self._log(now, path, resp, None, len(body), 0, 0)
                return _with_delay(resp, delay)
            if scripted is None:
                fault = None
                if u_before < faults.p_503_before:
                    fault = "503_before"
                elif u_before < faults.p_503_before + faults.p_drop_before:
                    fault = "drop_before"
                if fault is not None:
                    resp = _fault_response(fault)
                    self._log(now, path, resp, None, len(body), 0, 0)
                    return _with_delay(resp, delay)

            if api in _IDENTIFY_APIS:
                status, doc, n_events, stored = self._identify.process(api, body, req.headers, now, cfg, self._counters)
                resp, dups = _json_response(status, doc), 0
            else:
                resp, n_events, stored, dups = self._process(api, body, now)

            if scripted is not None:
                resp = self._scripted(scripted, body, path)
            else:
                fault = None
                cuts = (
                    ("500_after", faults.p_500_after),
                    ("502_after", faults.p_502_after),
                    ("504_after", faults.p_504_after),
                    ("drop_after", faults.p_drop_after),
                )
                acc = 0.0
                for name, p in cuts:
                    acc += p
                    if u_after < acc:
                        fault = name
                        break
                if fault is not None:
                    resp = _fault_response(fault)
            self._log(now, path, resp, n_events, len(body), stored, dups)
            return _with_delay(resp, delay)

    def _export(self, req: Request) -> Response:
        """GET /api/2/export (see ``_export``)."""
        with self._lock:
            # A snapshot (references only): the zip is built outside the lock, so uploads go on.
            events, uploaded, cfg = list(self._ingested), list(self._uploaded), self._config
        status, body, out_headers = export_response(
            req.query, {k.lower(): v for k, v in req.headers.items()}, events, uploaded, req.now, cfg
        )
        resp = Response(status, body, dict(out_headers))
        with self._lock:
            self._counters["exports"] += 1
            self._log(req.now, EXPORT_PATH, resp, None, 0, 0, 0)
        return resp

    def _log(
        self,
        now: float,
        path: str,
        resp: Response,
        n_events: int | None,
        nbytes: int,
        stored: int,
        dups: int,
    ) -> None:
        status = None if resp.drop else resp.status
        self._requests.append(RequestRecord(now, path, status, n_events, nbytes, stored, dups, resp.fault))
        c = self._counters
        c["requests"] += 1
        if resp.drop:
            c["drops"] += 1
        else:
            c[f"status_{resp.status}"] += 1

    def _scripted(self, s: _Scripted, body: bytes, path: str) -> Response:
        if s.status is None:
            return Response(0, drop=True, fault="script")
        if s.body is not None:
            raw = s.body
        elif s.status == 429:
            raw = self._all_throttled(body, path)
        else:
            raw = _default_body(s.status).body
        headers = dict(s.headers) if s.headers is not None else (
            dict(_HTML) if s.status in (502, 504) and s.body is None else dict(_JSON)
        )
        return Response(s.status, raw, headers, fault="script")

    def _all_throttled(self, body: bytes, path: str) -> bytes:
        """A 429 body naming every event (or identification) of the request (for a scripted 429)."""
        out: dict[str, Any] = {
            "code": 429,
            "error": _ERRORS[429],
            "eps_threshold": _num(self._config.device_eps),
            "throttled_devices": {},
            "throttled_users": {},
            "throttled_events": [],
        }
        if _APIS.get(path) in _IDENTIFY_APIS:
            events: Any = read_identifications(body)
        else:
            try:
                events = orjson.loads(body).get("events")
            except (orjson.JSONDecodeError, AttributeError):
                events = None
        if isinstance(events, list):
            rate = math.floor(self._config.device_eps) + 1
            for i, ev in enumerate(events):
                if not isinstance(ev, dict):
                    continue
                if ev.get("device_id") is not None:
                    out["throttled_devices"][str(ev["device_id"])] = rate
                elif ev.get("user_id") is not None:
                    out["throttled_users"][str(ev["user_id"])] = rate
                out["throttled_events"].append(i)
        return orjson.dumps(out)

    def _loses(self, partition: str, insert_id: Any, p_lose: float, seed: int) -> bool:
        """Silent loss (``Faults.p_lose``): by a seeded hash of the event's key, once per key."""
        if insert_id is None:
            return self._loss_rng.random() < p_lose
        key = (partition, str(insert_id))
        if key in self._lost_keys:
            return False
        digest = hashlib.blake2b(f"{seed}\x1f{key[0]}\x1f{key[1]}".encode(), digest_size=8).digest()
        if int.from_bytes(digest, "big") < p_lose * 2.0**64:
            self._lost_keys.add(key)
            return True
        return False

    def _process(self, api: str, body: bytes, now: float) -> tuple[Response, int | None, int, int]:
        """The real server: -> (response, events in request, events stored, duplicates).
        Commits state only on a 200."""
        cfg = self._config
        c = self._counters
        if not body:
            return _json_response(400, {"code": 400, "error": "Missing request body"}), None, 0, 0
        # Reference, "Limits": "under 1 MB" / "under 20 MB", "too large answers 413".
        limit = cfg.http_body_limit if api == "http" else cfg.batch_body_limit
        if limit is not None and len(body) >= limit:
            return _default_body(413), None, 0, 0
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json_response(400, {"code": 400, "error": "Invalid JSON request body"}), None, 0, 0
        if not isinstance(data, dict):
            return _json_response(400, {"code": 400, "error": "Invalid JSON request body"}), None, 0, 0
        key = data.get("api_key")
        if not isinstance(key, str) or not key.strip():
            return _missing("api_key"), None, 0, 0
        events = data.get("events")
        if not isinstance(events, list) or not events:
            return _missing("events"), None, 0, 0
        if cfg.api_keys is not None and key not in cfg.api_keys:
            # Amplitude echoes the key in this message; we never do (design.md, principle 6).
            return _json_response(400, {"code": 400, "error": "Invalid API key"}), len(events), 0, 0
        n = len(events)
        c["events_received"] += n
        # Reference, "Limits": HTTP V2 takes "fewer than 2000" events per request.
        count_limit = cfg.http_event_limit if api == "http" else cfg.batch_event_limit
        if count_limit is not None and n >= count_limit:
            return _default_body(413), n, 0, 0

        min_len = cfg.default_min_id_length
        options = data.get("options")
        if options is not None:
            m = options.get("min_id_length") if isinstance(options, dict) else None
            if not isinstance(options, dict) or (m is not None and (type(m) is not int or m < 0)):
                return _json_response(400, {"code": 400, "error": "Invalid JSON request body"}), n, 0, 0
            if m is not None:
                min_len = m

        if not all(isinstance(ev, dict) for ev in events):
            # Reference (HTTP V2, "400"): "Invalid event JSON", a request-level error.
            return _json_response(400, {"code": 400, "error": "Invalid event JSON"}), n, 0, 0

        # Per-event checks (reference, "Event keys" and "General rules").
        problems = Problems()
        for i, ev in enumerate(events):
            check_event(i, ev, min_len, problems)
        if problems:
            c["events_rejected"] += len(problems.indexes())
            out: dict[str, Any] = {"code": 400, "error": "Invalid field values on some events"}
            if problems.invalid:
                out["events_with_invalid_fields"] = problems.invalid
            if problems.missing:
                out["events_with_missing_fields"] = problems.missing
            if problems.id_lengths:
                out["events_with_invalid_id_lengths"] = problems.id_lengths
            return _json_response(400, out), n, 0, 0

        partitions = [partition_of(ev) for ev in events]
        per_partition = Counter(partitions)
        strict = cfg.limit_mode == "strict"
        eps = cfg.device_eps if api == "http" else cfg.batch_device_eps

        # Reference, "Responses", 400 silenced: silenced devices and exceeded daily quotas.
        silenced = cfg.silenced_devices
        silenced_events = (
            [i for i, ev in enumerate(events) if ev.get("device_id") in silenced] if silenced else []
        )
        over_devices: dict[str, int] = {}
        over_users: dict[str, int] = {}
        if cfg.daily_quota is not None:
            for p, k in per_partition.items():
                today = self._quota.count(p, now) + (k if strict else 0)
                if today >= cfg.daily_quota + (1 if strict else 0):
                    if p.startswith("user:"):
                        over_users[p[5:]] = today
                    else:
                        over_devices[p] = today
        if silenced_events or over_devices or over_users:
            over = set(over_devices) | {"user:" + u for u in over_users}
            c["events_silenced"] += len(silenced_events)
            c["events_over_quota"] += sum(per_partition[p] for p in over)
            status = 400 if silenced_events or cfg.daily_quota_status == 400 else 429
            # The reference's silenced-devices example says "Events silenced for device_id"
            # (its body also carries the daily-quota map); a 429 keeps the 429 string.
            error = "Events silenced for device_id" if status == 400 else _ERRORS[429]
            body_q: dict[str, Any] = {
                "code": status,
                "error": error,
                "eps_threshold": _num(eps),
                "exceeded_daily_quota_devices": over_devices,
                "silenced_devices": sorted({str(events[i]["device_id"]) for i in silenced_events}),
                "silenced_events": silenced_events,
                "throttled_devices": {},
                "throttled_events": [],
            }
            if over_users:
                body_q["exceeded_daily_quota_users"] = over_users
            return _json_response(status, body_q), n, 0, 0

        if self._over_project_rates(n, now, strict):
            c["project_throttled"] += 1
            c["events_throttled"] += n
            return _json_response(429, {"code": 429, "error": "Too many requests for this project"}), n, 0, 0

        # Reference, "Limits" and "Responses" 429: per device / per user rate.
        rates = self._rates[api]
        cap = eps * cfg.window_s
        throttled: dict[str, int] = {}
        for p, k in per_partition.items():
            seen = rates.count(p, now) + (k if strict else 0)
            if seen > cap:
                throttled[p] = seen
        if throttled:
            devices = {p: _eps(v, cfg.window_s) for p, v in throttled.items() if not p.startswith("user:")}
            users = {p[5:]: _eps(v, cfg.window_s) for p, v in throttled.items() if p.startswith("user:")}
            idx = [i for i, p in enumerate(partitions) if p in throttled]
            c["events_throttled"] += len(idx)
            return (
                _json_response(
                    429,
                    {
                        "code": 429,
                        "error": _ERRORS[429],
                        "eps_threshold": _num(eps),
                        "throttled_devices": devices,
                        "throttled_users": users,
                        "throttled_events": idx,
                    },
                ),
                n,
                0,
                0,
            )

        # Accepted: count toward rates and quota, store with insert_id deduplication.
        self._project.add("requests", now, 1)
        self._project.add("events", now, n)
        for p, k in per_partition.items():
            rates.add(p, now, k)
            if cfg.daily_quota is not None:
                self._quota.add(p, now, k)
        stored = dups = lost = 0
        keep = cfg.keep_events
        seen_id = self._dedup.seen
        p_lose = cfg.faults.p_lose
        for ev, p in zip(events, partitions, strict=True):
            iid = ev.get("insert_id")
            if iid is not None and seen_id((p, iid), now):
                dups += 1
                continue
            if p_lose and self._loses(p, iid, p_lose, cfg.faults.seed):
                # Acknowledged, then gone: not stored, not remembered for deduplication.
                if iid is not None:
                    self._dedup.forget((p, iid))
                lost += 1
                self._lost.append(ev)
                continue
            stored += 1
            if keep:
                self._ingested.append(ev)
                self._uploaded.append(now)
        c["events_ingested"] += stored
        c["duplicates"] += dups
        c["events_lost"] += lost
        ok = {
            "code": 200,
            "events_ingested": n,
            "payload_size_bytes": len(body),
            "server_upload_time": int(now * 1000),
        }
        return _json_response(200, ok), n, stored, dups


    def _over_project_rates(self, n: int, now: float, strict: bool) -> bool:
        """Reference, "Limits", Starter plan: requests/s and events/s for the whole project."""
        cfg = self._config
        for name, cap, k in (("requests", cfg.project_rps, 1), ("events", cfg.project_eps, n)):
            if cap is None:
                continue
            seen = self._project.count(name, now) + (k if strict else 0)
            if seen > cap * cfg.project_window_s:
                return True
        return False


def _missing(name: str) -> Response:
    return _json_response(
        400, {"code": 400, "error": "Request missing required field", "missing_field": name}
    )


def _fault_response(fault: str) -> Response:
    if fault.startswith("drop"):
        return Response(0, drop=True, fault=fault)
    r = _default_body(int(fault[:3]))
    return Response(r.status, r.body, r.headers, fault=fault)


def _with_delay(resp: Response, delay: float) -> Response:
    if delay <= 0:
        return resp
    return Response(resp.status, resp.body, resp.headers, resp.drop, delay, resp.fault)


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _eps(count: int, window_s: float) -> int:
    # "current events per second rate", an integer in Amplitude's examples; rounded up
    # so that a throttled partition never shows a rate at or under the threshold.
    return math.ceil(count / window_s)


def _health(_emu: Emulator, _req: Request) -> Response:
    return Response(200, b"amp_notebook sandbox: POST /2/httpapi, /batch, /identify or /groupidentify; "
                    b"GET /api/2/export\n",
                    {"content-type": "text/plain"})


def _stats(emu: Emulator, _req: Request) -> Response:
    # The counters only (for the separate-process mode): never the key, never events.
    return Response(200, orjson.dumps(emu.counters))


_POST, _GET = frozenset({"POST"}), frozenset({"GET"})

# path -> Route, copied into every Emulator (``emu.routes``). Add a row for a new endpoint.
ROUTES: dict[str, Route] = {
    HTTP_PATH: Route(_POST, Emulator._ingest),
    BATCH_PATH: Route(_POST, Emulator._ingest),
    # identify-api.md: Identify and Group Identify (form bodies; see _identify).
    IDENTIFY_PATH: Route(_POST, Emulator._ingest),
    GROUP_IDENTIFY_PATH: Route(_POST, Emulator._ingest),
    "/": Route(_GET, _health),
    "/_sandbox/stats": Route(_GET, _stats),
    EXPORT_PATH: Route(_GET, Emulator._export),
}
