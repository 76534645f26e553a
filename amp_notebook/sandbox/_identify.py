"""The sandbox's Identify (``POST /identify``) and Group Identify (``POST /groupidentify``).

Written from ``shared/reference/identify-api.md``, apart from the client's code
(the sandbox is the test oracle). Order of checks for one request (the first
failure answers; nothing of a refused request is applied):

1. 413 when the body is at or over ``identify_body_limit`` bytes ("under 1 MB",
   measured on the encoded form body).
2. 400 when the body is not ``application/x-www-form-urlencoded``; "Request
   missing required field" (``api_key``); "Invalid API key" (never echoed).
3. 400 ``missing_event`` when ``identification`` is missing, not JSON, not an
   object or an array of objects, or empty.
4. 413 over ``identify_object_limit`` identifications (Group Identify: "at most
   1024 group identifies per request"; Identify has no documented limit and gets
   the same as the reference's safe default), or, for groups, over
   ``group_property_limit`` group properties in the request ("at most 1024 group
   properties per request").
5. 400 ``missing_event: identification <i>: <problem>`` for a malformed
   identification (the docs describe no per-item error list, so the whole
   request is refused; the message names the first one).
6. 429 (Identify only; "throttling as HTTP V2"): a user (user_id, else
   device_id) over ``device_eps * window_s`` updates in the window; the body
   names ``throttled_users`` / ``throttled_devices`` / ``throttled_events``.
7. 200 ``{"code": 200, ...}``: applied in order. A user's updates beyond
   ``identify_hourly_limit`` in the last hour are dropped, not applied ("drops
   user-property updates for a user beyond 1800 per hour"; counted).

Choices where the docs are silent: ``null`` is an absent key; unknown keys are
ignored; ids shorter than ``min_id_length`` are removed (as for events) and an
identification left without an id is malformed; ``$add`` of a non-number,
operations mixed with plain keys, unknown ``$`` operations, a property in two
operations, and a list operation given an object are malformed; a user_id sent
with a device_id links the device to the user (a device-only identification
of that device then updates the user); multipart bodies are not read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .._keys import INVALID_IDS, MAX_STRING_LENGTH
from ._books import RateBook
from ._checks import _container_ok
from ._config import SandboxConfig
from ._formdata import FormError, parse_form
from ._properties import OPERATIONS, apply_operations, as_operations

if TYPE_CHECKING:
    import pandas as pd

IDENTIFY_PATH = "/identify"
GROUP_IDENTIFY_PATH = "/groupidentify"

# identify-api.md, the identification object: Amplitude's own user properties (strings).
LOCATION_FIELDS = ("country", "region", "city", "dma")
DEVICE_FIELDS = ("platform", "os_name", "os_version", "device_brand", "device_manufacturer", "device_model", "carrier")
OTHER_FIELDS = ("app_version", "start_version", "language", "paying")
FIELDS = OTHER_FIELDS + DEVICE_FIELDS + LOCATION_FIELDS
_LIST_OPS = frozenset({"$append", "$prepend", "$preInsert", "$postInsert", "$remove"})

Answer = tuple[int, dict[str, Any], "int | None", int]  # status, body, items, applied


def _string_ok(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_STRING_LENGTH


def check_operations(props: Any, what: str) -> str | None:
    """Problems of a user_properties / group_properties value (None when fine)."""
    if props is None:
        return None
    if not isinstance(props, dict):
        return f"{what} must be an object"
    ops = [k for k in props if k.startswith("$")]
    if ops and len(ops) != len(props):
        return f"{what} mixes operations and plain keys (put plain keys inside $set)"
    seen: set[str] = set()
    for op, changes in as_operations(props).items():
        if op not in OPERATIONS:
            return f"unknown operation {op!r} in {what}"
        if op == "$clearAll":
            continue
        if not isinstance(changes, dict):
            return f"{op} takes an object of property names"
        # The property object is level 1, as for events' properties ("nesting depth at most 40").
        if not _container_ok(changes, 1):
            return f"{op}: a string over {MAX_STRING_LENGTH} characters, or nesting deeper than 40"
        for name, value in changes.items():
            if name in seen:
                return f"property {name!r} is in more than one operation"
            seen.add(name)
            if op == "$add" and (type(value) not in (int, float) or not math.isfinite(value)):
                return f"$add takes numbers; {name!r} is {type(value).__name__}"
            if op in _LIST_OPS and isinstance(value, dict):
                return f"{op} takes a value or a list of values; {name!r} is an object"
    return None


def check_identify(obj: Any, min_id_length: int) -> str | None:
    """One identification: its problem, or None. Removes short ids and null keys (as the server)."""
    if not isinstance(obj, dict):
        return "not an object"
    for key in [k for k, v in obj.items() if v is None]:
        del obj[key]
    removed = []
    for key in ("user_id", "device_id"):
        v = obj.get(key)
        if v is None:
            continue
        if not _string_ok(v) or v.lower() in INVALID_IDS:
            return f"{key} is not a valid id"
        if len(v) < min_id_length:
            del obj[key]
            removed.append(key)
    if "user_id" not in obj and "device_id" not in obj:
        if removed:
            return f"{' and '.join(removed)} shorter than min_id_length={min_id_length}"
        return "needs a user_id or a device_id"
    for key in FIELDS:
        if key in obj and not _string_ok(obj[key]):
            return f"{key} must be a string of at most {MAX_STRING_LENGTH} characters"
    groups = obj.get("groups")
    if groups is not None and not isinstance(groups, dict):
        return "groups must be an object"
    return check_operations(obj.get("user_properties"), "user_properties")


def check_group(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return "not an object"
    for key in ("group_type", "group_value"):
        v = obj.get(key)
        if not _string_ok(v) or not v:
            return f"{key} must be a non-empty string of at most {MAX_STRING_LENGTH} characters"
    return check_operations(obj.get("group_properties"), "group_properties")


def _property_count(props: Any) -> int:
    if not isinstance(props, dict):
        return 0
    ops = as_operations(props)
    return sum(len(v) for k, v in ops.items() if k != "$clearAll" and isinstance(v, dict))


def read_identifications(body: bytes) -> list[Any] | None:
    """The identification objects of a form body (None when there are none to read)."""
    try:
        return _identifications(parse_form(body))
    except FormError:
        return None


def _identifications(fields: Mapping[str, bytes]) -> list[Any] | None:
    raw = fields.get("identification")
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    # "a JSON array of identification objects (a single object is also accepted)"
    return [doc] if isinstance(doc, dict) else doc if isinstance(doc, list) else None


def _error(status: int, error: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"code": status, "error": error, **extra}


def _read_request(body: bytes, headers: Mapping[str, str], cfg: SandboxConfig) -> tuple[int, dict[str, Any]] | list[Any]:
    """Steps 1 to 3 of the module docstring: the identifications, or the refusal."""
    if cfg.identify_body_limit is not None and len(body) >= cfg.identify_body_limit:
        return _error(413, "Payload too large")
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "application/x-www-form-urlencoded" not in ctype.lower():
        return _error(400, "identify takes a form body (application/x-www-form-urlencoded)")
    try:
        fields = parse_form(body)
    except FormError as exc:
        return _error(400, f"malformed form body: {exc}")
    key = fields.get("api_key", b"").decode("utf-8", errors="replace")
    if not key.strip():
        return _error(400, "Request missing required field", missing_field="api_key")
    if cfg.api_keys is not None and key not in cfg.api_keys:
        return _error(400, "Invalid API key")  # the key itself is never echoed
    return _identifications(fields) or _error(400, "missing_event")


def _too_many(items: list[Any], group: bool, cfg: SandboxConfig) -> bool:
    """Step 4: identifications per request; group properties per request (groups)."""
    if cfg.identify_object_limit is not None and len(items) > cfg.identify_object_limit:
        return True
    if not group or cfg.group_property_limit is None:
        return False
    total = sum(_property_count(o.get("group_properties")) for o in items if isinstance(o, dict))
    return total > cfg.group_property_limit


class IdentifyBook:
    """The properties the sandbox was sent, and the rate memory of the identify endpoints."""

    def __init__(self, window_s: float) -> None:
        self.users: dict[tuple[str, str], dict[str, Any]] = {}
        self.device_user: dict[str, str] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.rates = RateBook(window_s)
        self.hourly = RateBook(3600.0)

    # -- one request -----------------------------------------------------------------
    def process(
        self, api: str, body: bytes, headers: Mapping[str, str], now: float, cfg: SandboxConfig, c: Counter[str]
    ) -> Answer:
        items = _read_request(body, headers, cfg)
        if isinstance(items, tuple):
            return (*items, None, 0)
        n = len(items)
        c[f"{api}_received"] += n
        group = api == "groupidentify"
        if _too_many(items, group, cfg):
            return 413, {"code": 413, "error": "Payload too large"}, n, 0
        for i, obj in enumerate(items):
            problem = check_group(obj) if group else check_identify(obj, cfg.default_min_id_length)
            if problem is not None:
                c[f"{api}_rejected"] += 1
                return (*_error(400, f"missing_event: identification {i}: {problem}"), n, 0)
        if not group:
            throttled = self._throttled(items, now, cfg)
            if throttled is not None:
                c[f"{api}_throttled"] += len(throttled["throttled_events"])
                return 429, throttled, n, 0
        applied = self._apply_groups(items, cfg.keep_events) if group else self._apply_users(items, now, cfg, c)
        c[f"{api}_applied"] += applied
        return 200, {"code": 200, "server_upload_time": int(now * 1000)}, n, applied

    def _apply_groups(self, items: list[dict[str, Any]], keep: bool) -> int:
        for obj in items if keep else ():
            props = self.groups.setdefault((obj["group_type"], obj["group_value"]), {})
            apply_operations(props, as_operations(obj.get("group_properties") or {}))
        return len(items)

    def _apply_users(self, items: list[dict[str, Any]], now: float, cfg: SandboxConfig, c: Counter[str]) -> int:
        applied = 0
        for obj in items:
            part = _partition(obj)
            self.rates.add(part, now, 1)
            if cfg.identify_hourly_limit is not None and self.hourly.count(part, now) >= cfg.identify_hourly_limit:
                c["identify_dropped"] += 1
                continue
            self.hourly.add(part, now, 1)
            if cfg.keep_events:  # off: count only (benchmarks), as for events
                self._apply(self._identity(obj), obj)
            applied += 1
        return applied

    def _throttled(self, items: list[Any], now: float, cfg: SandboxConfig) -> dict[str, Any] | None:
        parts = [_partition(o) for o in items]
        strict = cfg.limit_mode == "strict"
        cap = cfg.device_eps * cfg.window_s
        over = {p for p, k in Counter(parts).items() if self.rates.count(p, now) + (k if strict else 0) > cap}
        if not over:
            return None
        rate = math.floor(cfg.device_eps) + 1
        return {
            "code": 429,
            "error": "Too many requests for some devices and users",
            "eps_threshold": cfg.device_eps,
            "throttled_devices": {p: rate for p in over if not p.startswith("user:")},
            "throttled_users": {p[5:]: rate for p in over if p.startswith("user:")},
            "throttled_events": [i for i, p in enumerate(parts) if p in over],
        }

    # -- the store ---------------------------------------------------------------------
    def _identity(self, obj: dict[str, Any]) -> tuple[str, str]:
        user, device = obj.get("user_id"), obj.get("device_id")
        if user is not None:
            if device is not None:
                # "Sending a user_id for a device_id that has none links them."
                self.device_user.setdefault(device, user)
                anonymous = self.users.pop(("device", device), None)
                if anonymous is not None and ("user", user) not in self.users:
                    self.users[("user", user)] = anonymous
            return ("user", user)
        linked = self.device_user.get(str(device))
        return ("user", linked) if linked is not None else ("device", str(device))

    def _apply(self, who: tuple[str, str], obj: dict[str, Any]) -> None:
        record = self.users.setdefault(who, {"user_properties": {}, "fields": {}, "device_id": None})
        if obj.get("device_id") is not None:
            record["device_id"] = obj["device_id"]
        fields = record["fields"]
        for group in (LOCATION_FIELDS, DEVICE_FIELDS):
            if any(k in obj for k in group):
                # "setting one resets the others not given in the same call"
                for k in group:
                    fields.pop(k, None)
        for k in FIELDS:
            if k in obj:
                fields[k] = obj[k]
        apply_operations(record["user_properties"], as_operations(obj.get("user_properties") or {}))

    def user(self, user_id: str) -> dict[str, Any] | None:
        record = self.users.get(("user", user_id)) or self.users.get(("device", user_id))
        if record is None:
            return None
        out = dict(record["user_properties"])
        out.update({f"[Amplitude] {k}": v for k, v in record["fields"].items()})
        return out

    def users_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for (kind, ident), record in sorted(self.users.items()):
            row: dict[str, Any] = {
                "user_id": ident if kind == "user" else None,
                "device_id": record["device_id"] if kind == "user" else ident,
            }
            row.update(record["user_properties"])
            row.update({f"[Amplitude] {k}": v for k, v in record["fields"].items()})
            rows.append(row)
        frame: pd.DataFrame = pd.DataFrame(rows, columns=None if rows else ["user_id", "device_id"])
        return frame

    def groups_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"group_type": t, "group_value": v, **props} for (t, v), props in sorted(self.groups.items())]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=None if rows else ["group_type", "group_value"])
        return frame


def _partition(obj: dict[str, Any]) -> str:
    # Throttled per user ("if one user_id sends from several devices at once, all are
    # throttled"), else per device; named as HTTP V2's 429 body names them.
    user = obj.get("user_id")
    return "user:" + user if user is not None else str(obj.get("device_id"))
