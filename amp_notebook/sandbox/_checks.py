"""The server's per-event checks, written from the reference (not from ``_rules``).

This is the test oracle for the client-side validator, so it deliberately shares
no code with it: only the key catalogue (data) from ``_keys``. One event at a
time, in plain Python, as a server would.

Decisions where the reference is silent (kept in one place, mirrored in the
package docstring):

* ``null`` for any key counts as an absent key (Amplitude's own SDKs send
  ``"user_id": null``).
* Unknown top-level keys are ignored, as Amplitude does (SDKs send ``library``,
  ``uuid`` ...).
* An event with neither id is listed as ``events_with_missing_fields["user_id"]``
  (one key, so one rejection per event).
* An id on the invalid-id list is a 400 even when it is also short: the list is
  checked before the length rule.
* A blank ``event_type`` (only whitespace) is a missing one: no name to record.
* "Every string value ... at most 1024 characters" limits values: property names
  and group types are names, not limited.
* ``time`` is ms *since* the epoch: a negative one is refused.
* ``productId``/``revenueType`` without price/revenue is accepted (Amplitude just
  does not count it as revenue); groups beyond 5 types / 10 values are dropped
  from the stored event, not rejected.
* Integers (integer keys and property values) must fit a signed 64-bit long. A JSON
  integer beyond 64 bits reaches these checks as a float (the body is parsed with
  orjson, as a Java server reads it into a double), so it is judged as a float: an
  integer key refuses it, a property keeps it. The client's validator refuses such
  a property value (``integer_out_of_range``) on purpose, because the number would be
  stored altered: one of the deliberate differences ``tests/test_one_verdict.py``
  lists (``DIFFERENCES``), each with its reason; on every other case there the
  validator's verdict and these checks' agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._keys import (
    EVENT_KEYS,
    INVALID_IDS,
    MAX_GROUP_TYPES,
    MAX_GROUP_VALUES,
    MAX_NESTING_DEPTH,
    MAX_STRING_LENGTH,
    PLAN_FIELDS,
    RESERVED_EVENT_TYPES,
)

_PLAN_FIELDS = frozenset(PLAN_FIELDS)
_ID_KEYS = ("user_id", "device_id")
# Reference, "Event keys": integer keys are longs (session_id "integer (long)"): a JSON
# integer outside the signed 64-bit range is not one. Property values too: a number
# there is read as a long or a double, and an integer beyond 64 bits is neither exactly.
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


@dataclass
class Problems:
    """field -> event indexes, for the three 400 maps of the reference ("Responses")."""

    invalid: dict[str, list[int]] = field(default_factory=dict)
    missing: dict[str, list[int]] = field(default_factory=dict)
    id_lengths: dict[str, list[int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.invalid or self.missing or self.id_lengths)

    def indexes(self) -> set[int]:
        out: set[int] = set()
        for table in (self.invalid, self.missing, self.id_lengths):
            for idx in table.values():
                out.update(idx)
        return out


def _add(table: dict[str, list[int]], key: str, index: int) -> None:
    lst = table.get(key)
    if lst is None:
        table[key] = [index]
    elif lst[-1] != index:
        lst.append(index)


def _container_ok(value: Any, depth: int) -> bool:
    """String values <= 1024 chars and nesting <= 40 levels (reference, "General
    rules" and event_properties). The property object itself is level 1; each nested
    object or array adds one. Names (keys) are not values: not limited."""
    if depth > MAX_NESTING_DEPTH:
        return False
    # Two loops rather than one generic one: this runs for every event (hot path).
    if type(value) is dict:
        for v in value.values():
            t = type(v)
            if t is str:
                if len(v) > MAX_STRING_LENGTH:
                    return False
            elif t is int:
                if not _LONG_MIN <= v <= _LONG_MAX:
                    return False
            elif (t is dict or t is list) and not _container_ok(v, depth + 1):
                return False
    else:
        for v in value:
            t = type(v)
            if t is str:
                if len(v) > MAX_STRING_LENGTH:
                    return False
            elif t is int:
                if not _LONG_MIN <= v <= _LONG_MAX:
                    return False
            elif (t is dict or t is list) and not _container_ok(v, depth + 1):
                return False
    return True


def _groups_ok(value: Any) -> bool:
    # Reference, "Event keys" -> groups: group type -> value or list of values.
    if not isinstance(value, dict):
        return False
    for v in value.values():  # group types are names, not values: not limited
        values = v if isinstance(v, list) else [v]
        for x in values:
            if isinstance(x, str):
                if len(x) > MAX_STRING_LENGTH:
                    return False
            elif isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, int) and not _LONG_MIN <= x <= _LONG_MAX):
                return False
    return True


def _trim_groups(groups: dict[str, Any]) -> dict[str, Any]:
    """Keep what Amplitude tracks: the first 5 group types, 10 values in all."""
    out: dict[str, Any] = {}
    budget = MAX_GROUP_VALUES
    for k, v in groups.items():
        if len(out) >= MAX_GROUP_TYPES or budget <= 0:
            break
        if isinstance(v, list):
            v = v[:budget]
            budget -= len(v)
        else:
            budget -= 1
        out[k] = v
    return out


def _integer_ok(v: Any) -> bool:
    return type(v) is int and _LONG_MIN <= v <= _LONG_MAX  # bool is not an int here


def _time_ok(v: Any) -> bool:
    # Reference, "Event keys" -> time: integer ms; "any other form (ISO string,
    # seconds, float) is a 400". Seconds cannot be told from ms here: not checked.
    return type(v) is int and 0 <= v <= _LONG_MAX


def _session_ok(v: Any) -> bool:
    return type(v) is int and -1 <= v <= _LONG_MAX  # -1 means "no session"


def _float_ok(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


def _range_checker(lo: float, hi: float) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return _float_ok(v) and lo <= v <= hi

    return check


def _boolean_ok(v: Any) -> bool:
    return type(v) is bool


def _object_ok(v: Any) -> bool:
    return type(v) is dict and _container_ok(v, 1)


def _plan_ok(v: Any) -> bool:
    # Reference, "Event keys" -> plan: only branch, source, version (strings).
    return type(v) is dict and all(
        k in _PLAN_FIELDS and type(x) is str and len(x) <= MAX_STRING_LENGTH for k, x in v.items()
    )


_BY_KIND: dict[str, Callable[[Any], bool]] = {
    "integer": _integer_ok,
    "float": _float_ok,
    "boolean": _boolean_ok,
    "object": _object_ok,
    "groups": _groups_ok,
    "plan": _plan_ok,
}
# Ids are checked apart (invalid list, length); plain strings inline (hot path).
_STRING_KEYS = frozenset(k for k, kind in EVENT_KEYS.items() if kind == "string") - set(_ID_KEYS)
_CHECKERS: dict[str, Callable[[Any], bool]] = {
    k: _BY_KIND[kind] for k, kind in EVENT_KEYS.items() if kind in _BY_KIND
}
_CHECKERS["time"] = _time_ok
_CHECKERS["session_id"] = _session_ok
# Reference, "Event keys": lat/lng are floats; the ranges are the geographic ones.
_CHECKERS["location_lat"] = _range_checker(-90.0, 90.0)
_CHECKERS["location_lng"] = _range_checker(-180.0, 180.0)


def check_event(index: int, event: Any, min_id_length: int, problems: Problems) -> bool:
    """Check one event, record its problems, return True when it can be ingested.

    Side effect (as the server does): ids shorter than ``min_id_length`` are removed
    from the event, ``null`` keys are dropped, and ``groups`` is trimmed.
    """
    if not isinstance(event, dict):
        _add(problems.invalid, "event", index)
        return False
    ok = True
    nulls: list[str] | None = None
    for key, v in event.items():
        # Hot path: one set lookup and a type test for most keys.
        if key in _STRING_KEYS:
            if type(v) is str and len(v) <= MAX_STRING_LENGTH:
                continue
        else:
            check = _CHECKERS.get(key)
            if check is None:  # ids (checked below) and unknown keys (ignored)
                if v is None:
                    nulls = [key] if nulls is None else [*nulls, key]
                continue
            if check(v):
                continue
        if v is None:
            nulls = [key] if nulls is None else [*nulls, key]
            continue
        _add(problems.invalid, key, index)
        ok = False
    if nulls:
        for key in nulls:
            del event[key]

    # Reference, "Event keys" -> event_type: required, reserved names refused.
    et = event.get("event_type")
    if et is None or (isinstance(et, str) and not et.strip()):  # a blank name is no name
        _add(problems.missing, "event_type", index)
        ok = False
    elif isinstance(et, str) and et in RESERVED_EVENT_TYPES:
        _add(problems.invalid, "event_type", index)
        ok = False

    # Reference, "Event keys" -> user_id/device_id and "General rules": invalid ids.
    removed: list[str] = []
    bad_id = False
    for key in _ID_KEYS:
        v = event.get(key)
        if v is None:
            continue
        if not isinstance(v, str) or len(v) > MAX_STRING_LENGTH or v.lower() in INVALID_IDS:
            # Covers the all-zero device id (it is on the invalid list).
            _add(problems.invalid, key, index)
            bad_id = True
        elif len(v) < min_id_length:
            # "a shorter id is removed from the event by the server"
            del event[key]
            removed.append(key)
    if bad_id:
        return False
    if "user_id" not in event and "device_id" not in event:
        if removed:
            for key in removed:
                _add(problems.id_lengths, key, index)
        else:
            _add(problems.missing, "user_id", index)
        return False

    if ok:
        groups = event.get("groups")
        if groups is not None and (
            len(groups) > MAX_GROUP_TYPES
            or sum(len(v) if isinstance(v, list) else 1 for v in groups.values()) > MAX_GROUP_VALUES
        ):
            event["groups"] = _trim_groups(groups)
    return ok


def partition_of(event: dict[str, Any]) -> str:
    """Throttling/dedup key (contracts "partition key"): device_id, else "user:" + user_id."""
    d = event.get("device_id")
    if d is not None:
        return str(d)
    return "user:" + str(event.get("user_id"))
