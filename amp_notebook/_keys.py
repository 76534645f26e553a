"""The catalogue of Amplitude event keys (reference, "Event keys").

Data only: which keys exist, what JSON type each takes, and the column names
that map to each key automatically.
"""

from __future__ import annotations

from typing import Literal

KeyKind = Literal["string", "integer", "float", "boolean", "object", "groups", "plan"]

# Reference, "Event keys": every top-level key and its type.
EVENT_KEYS: dict[str, KeyKind] = {
    "user_id": "string",
    "device_id": "string",
    "event_type": "string",
    "time": "integer",
    "event_properties": "object",
    "user_properties": "object",
    "groups": "groups",
    "$skip_user_properties_sync": "boolean",
    "app_version": "string",
    "platform": "string",
    "os_name": "string",
    "os_version": "string",
    "device_brand": "string",
    "device_manufacturer": "string",
    "device_model": "string",
    "carrier": "string",
    "country": "string",
    "region": "string",
    "city": "string",
    "dma": "string",
    "language": "string",
    "price": "float",
    "quantity": "integer",
    "revenue": "float",
    "productId": "string",
    "revenueType": "string",
    "location_lat": "float",
    "location_lng": "float",
    "ip": "string",
    "idfa": "string",
    "idfv": "string",
    "adid": "string",
    "android_id": "string",
    "event_id": "integer",
    "session_id": "integer",
    "insert_id": "string",
    "plan": "plan",
    "partner_id": "string",
}

# Keys whose value is an object built from several columns.
NESTED_KEYS: tuple[str, ...] = ("event_properties", "user_properties", "groups", "plan")

# Reference, "Event keys" -> plan: only these fields.
PLAN_FIELDS: tuple[str, ...] = ("branch", "source", "version")

# Column names mapped automatically, besides the exact key names. Matching is
# case-insensitive and ignores "_", "-", " " and "$" (so "User ID", "userId",
# "user-id" all match user_id). Only names that are unambiguous in analytics
# exports are listed.
ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("userid", "uid"),
    "device_id": ("deviceid", "anonymous_id"),
    "event_type": ("eventtype", "event", "event_name"),
    "time": ("timestamp", "ts", "event_time", "eventtime", "time_ms", "client_event_time"),
    "insert_id": ("insertid", "dedup_id", "message_id", "messageid"),
    "session_id": ("sessionid",),
    "event_id": ("eventid",),
    "app_version": ("appversion", "version_name"),
    "os_name": ("osname", "os"),
    "os_version": ("osversion",),
    "location_lat": ("lat", "latitude"),
    "location_lng": ("lng", "lon", "longitude"),
    "productId": ("product_id",),
    "revenueType": ("revenue_type",),
    "ip": ("ip_address",),
    "language": ("lang",),
}

# Reference, "Event keys" -> event_type: the reserved names, refused.
RESERVED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)
# Reference, same row: "older docs also reserve" these; today's accept them (GA4 and
# Firebase exports name events session_start): sent, with a warning.
FORMERLY_RESERVED_EVENT_TYPES: frozenset[str] = frozenset({"session_start", "session_end", "revenue_amount"})

# Reference, "General rules": ids the server refuses (compared case-insensitively).
INVALID_IDS: frozenset[str] = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "",
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)

ALL_ZERO_DEVICE_ID = "00000000-0000-0000-0000-000000000000"

# Reference, "Event keys": integer keys are longs (session_id "integer (long)"). A JSON
# integer outside this range is read by Amplitude as a double (digits lost) or refused;
# property values are held to it too.
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1

# Reference, "General rules" and "Event keys".
MAX_STRING_LENGTH = 1024
MAX_NESTING_DEPTH = 40
MAX_GROUP_TYPES = 5
MAX_GROUP_VALUES = 10
DEFAULT_MIN_ID_LENGTH = 5


def normalise_name(name: str) -> str:
    """The form used for automatic matching: lower case, no _ - space or $."""
    return "".join(ch for ch in name.lower() if ch not in "_- $")
